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


# --- the server backend: a throwaway PostgreSQL (scripts/pgserver.py) -------------------------
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the session (Debian's binaries, a temporary folder, a free
    port), stopped and removed at the end. Skipped only when the binaries are absent."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import pgserver

    if pgserver.binaries() is None:
        pytest.skip("PostgreSQL server binaries not found (initdb, pg_ctl): "
                    "apt-get install postgresql to run the server backend's tests")  # fmt: skip
    server = pgserver.PgServer().start()
    yield server
    from roost.store.postgres import close_pools

    close_pools()
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def new_home(request, tmp_path):
    """``new_home(backend, name="home")``: the path of a new home on that backend (a server
    home gets a fresh database of its own, recorded in the home)."""
    from roost.store import Home

    urls = []

    def make(backend: str = "sqlite", name: str = "home"):
        path = tmp_path / name
        if backend == "postgresql":
            urls.append(request.getfixturevalue("pg_server").new_database())
            Home.at(path).create(urls[-1])
        return path

    yield make
    if urls:
        from roost.store.postgres import close_pools

        for url in urls:
            close_pools(url)


@pytest.fixture
def db_home(backend, new_home):
    """A new home on each backend in turn (parametrized)."""
    return new_home(backend)
