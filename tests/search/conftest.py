"""Fixtures for search tests: a small catalog with known answers in a real home (SQLite
store, a stored transformer version of the packaged MiniLM aliased ``text``)."""

from __future__ import annotations

import pytest
from search_helpers import catalog

from roost.embed.transformer import Transformer
from roost.store import open_store
from roost.store.versions import VersionStore


@pytest.fixture(scope="module")
def encoder():
    return Transformer(onnx_model="packaged").fit(catalog())


@pytest.fixture(scope="module")
def built_home(tmp_path_factory, encoder):
    home = tmp_path_factory.mktemp("search") / "home"
    cat = catalog()
    with open_store(home) as s, s.transaction() as w:
        w.write("items", cat.items)
    with VersionStore(home) as vs:
        vs.put(encoder.embedding_set(cat), alias="text")
    return home
