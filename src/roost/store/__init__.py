"""Storage: the catalog store (items, users, events, follows) and, later, embedding versions.

``BACKENDS`` maps a URL scheme to a :class:`~roost.store.base.CatalogStore` class;
:func:`open_store` picks one for a home.
"""

from __future__ import annotations

from pathlib import Path

from roost.store.base import CatalogStore, CatalogWriter
from roost.store.home import Home
from roost.store.sqlite import SQLiteStore

BACKENDS: dict[str, type[CatalogStore]] = {"sqlite": SQLiteStore}


def open_store(home: Home | str | Path, *, create: bool = True) -> CatalogStore:
    """The catalog store of ``home`` (the embedded SQLite file), creating it if asked."""
    from roost.types import RoostError

    home = home if isinstance(home, Home) else Home.at(home)
    if not home.exists():
        if not create:
            raise RoostError(f"{home.path}: no Roost home here (run `roost init` first)")
        home.create()
    return SQLiteStore(home.db_path)


__all__ = ["BACKENDS", "CatalogStore", "CatalogWriter", "Home", "SQLiteStore", "open_store"]
