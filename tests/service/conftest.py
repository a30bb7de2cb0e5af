"""Fixtures: one Flutter home built per session (versions fitted once), copied per test
module or test so that writes never leak between tests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from flutter_home import build, copy, make_keys, wait_ready

from roost.service import ServiceSettings, create_app


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    return build(tmp_path_factory.mktemp("flutter") / "home")


@pytest.fixture(scope="module")
def shared_home(template, tmp_path_factory):
    home = copy(template, tmp_path_factory.mktemp("shared") / "home")
    return home, make_keys(home)


@pytest.fixture(scope="module")
def api(shared_home):
    """A read-mostly client on a module's own home (tests that write use ``fresh``)."""
    home, keys = shared_home
    with TestClient(create_app(ServiceSettings(home=home))) as c:
        wait_ready(c)
        c.keys = keys
        c.home = home
        yield c


@pytest.fixture
def fresh(template, tmp_path):
    """A client on a home of its own, with a read and an admin key."""
    home = copy(template, tmp_path / "home")
    keys = make_keys(home)
    with TestClient(create_app(ServiceSettings(home=home))) as c:
        wait_ready(c)
        c.keys = keys
        c.home = home
        yield c
