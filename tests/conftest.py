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
