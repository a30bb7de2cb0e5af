"""Shared fixtures: homes in temporary folders, small catalogs with known answers."""

from __future__ import annotations

import pytest

from roost.store import open_store


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def store(home):
    s = open_store(home)
    yield s
    s.close()


@pytest.fixture(scope="module")
def engine_home(tmp_path_factory):
    """A home with the checkerboard catalog, ALS ``collab`` and transformer ``text``
    versions (built once per module; tests get copies through ``engine``)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "recommend"))
    from boards import make_home

    return make_home(tmp_path_factory.mktemp("eng") / "home", text=True)


@pytest.fixture
def engine(engine_home, tmp_path):
    """An Engine on a copy of ``engine_home`` (writes never leak between tests)."""
    import shutil

    from roost.engine import Engine

    home = tmp_path / "home"
    shutil.copytree(engine_home, home)
    eng = Engine.open(home)
    yield eng
    eng.close()
