"""The catalog store contract: where items, users, events and follows live.

Callers (ingest, the CLI, the service) talk to :class:`CatalogStore` only, so another
backend (a PostgreSQL server) can replace the embedded SQLite one without touching them.
Backends are found through :data:`BACKENDS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pyarrow as pa

from roost.data.frames import Catalog


class CatalogWriter(ABC):
    """Writes inside one open transaction (see :meth:`CatalogStore.transaction`)."""

    @abstractmethod
    def write(self, kind: str, table: pa.Table) -> int:
        """Store canonical rows of ``kind``; returns how many were new.

        Items, users and follows are upserts by key; events are inserted once per key
        (event id, or user/item/kind/time) and repeats are ignored.
        """

    @abstractmethod
    def delete(self, kind: str, keys: list[tuple[str, ...]]) -> int:
        """Delete rows of ``kind`` by key; returns how many were removed."""


class CatalogStore(ABC):
    """Catalog data of one home. Thread use: one store object per thread."""

    schema_version: int

    @abstractmethod
    def transaction(self) -> AbstractContextManager[CatalogWriter]:
        """All-or-nothing writes: on an exception inside, nothing of it is stored."""

    @abstractmethod
    def read(self, kind: str) -> pa.Table:
        """Every row of ``kind`` as a canonical Arrow table (see roost.data.frames)."""

    @abstractmethod
    def get(self, kind: str, key: tuple[str, ...]) -> dict[str, Any] | None:
        """One row by key, or None."""

    @abstractmethod
    def ids(self, kind: str) -> pa.Array:
        """The key column of ``items`` or ``users`` (string array)."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Row counts per kind: items, users, events, follows."""

    @abstractmethod
    def sample_user(self) -> str | None:
        """A user id with the most events (a good one to try recommendations on)."""

    @abstractmethod
    def check(self) -> list[str]:
        """Integrity problems found (empty list when healthy)."""

    @abstractmethod
    def close(self) -> None: ...

    def catalog(self) -> Catalog:
        """Everything as a :class:`Catalog` (what embedders and evaluation read)."""
        return Catalog(
            items=self.read("items"),
            users=self.read("users"),
            events=self.read("events"),
            follows=self.read("follows"),
        )

    def iter_kinds(self) -> Iterator[str]:
        yield from ("items", "users", "events", "follows")

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
