"""Storage: a home's database (catalog, version catalog, keys, idempotency, change log)
and its files (embedding versions, indexes).

``BACKENDS`` maps a database URL's scheme to the :class:`~roost.store.base.Database` that
serves it (imported only when used: the server backend needs ``roost[postgres]``);
:func:`open_database` opens one, :func:`open_store` the catalog of a home.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from roost.store.artifacts import Artifacts
from roost.store.base import CatalogStore, CatalogWriter, Database
from roost.store.home import Home
from roost.store.sqlite import SQLiteStore
from roost.store.urls import redact, scheme
from roost.types import RoostError

BACKENDS: dict[str, str] = {
    "sqlite": "roost.store.sqlite:SQLiteDatabase",
    "postgresql": "roost.store.postgres:PostgresDatabase",
}
EXTRAS = {"postgresql": "postgres"}


def backend_class(name: str) -> type[Database]:
    """The Database class registered under ``name`` (imports its driver only now)."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise RoostError(f"unknown database backend {name!r}; known: {', '.join(BACKENDS)}") from None
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise RoostError(
            f"the {name} backend needs {e.name!r}: pip install 'roost[{EXTRAS.get(name, name)}]'"
        ) from e
    return getattr(mod, attr)


def open_database(url: str, home: str | Path) -> Database:
    """The :class:`~roost.store.base.Database` of ``url`` for the home at ``home``."""
    return backend_class(scheme(url))(url, Path(home))


def _home(home: Home | str | Path, create: bool) -> Home:
    home = home if isinstance(home, Home) else Home.at(home)
    if not home.exists():
        if not create:
            raise RoostError(f"{home.path}: no Roost home here (run `roost init` first)")
        home = home.create()
    return home


def open_store(home: Home | str | Path, *, create: bool = True) -> CatalogStore:
    """The catalog store of ``home`` (on its database), creating the home if asked."""
    return _home(home, create).db().catalog()


__all__ = [
    "BACKENDS", "Artifacts", "CatalogStore", "CatalogWriter", "Database", "Home", "SQLiteStore",
    "backend_class", "open_database", "open_store", "redact",
]  # fmt: skip
