"""The storage contracts: what a backend must provide for one Roost home.

A home's database is opened from a URL (``sqlite:///path/roost.db``, the embedded default,
or ``postgresql://...``); :data:`roost.store.BACKENDS` maps the URL's scheme to a
:class:`Database`, which opens the stores below. Callers (ingest, the version store, the
CLI, the service, the engine) talk to these contracts only, so the server backend replaces
the embedded one without touching them. Vector and index files stay on disk, under the
home's :class:`~roost.store.artifacts.Artifacts`; the database refers to them by id.

- :class:`CatalogStore`: items, users, events, follows (bulk writes in one transaction).
- :class:`VersionCatalog`: the rows of embedding versions, aliases and their history (the
  queries are shared, :mod:`roost.store.versions` and :mod:`roost.store.aliases`; a backend
  runs them and provides the write lock).
- :class:`IdempotencyRecords`: answers kept for retried write requests.
- :class:`KeyRecords`: API key records (salted hashes, never keys).
- :class:`ChangeLog`: every catalog or alias change, in commit order, for other processes
  serving the same home (see :mod:`roost.store.feed`).

Each writes its schema through versioned migrations (``MIGRATIONS`` in each backend).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from roost.data.frames import SCHEMAS, Catalog

#: the stored columns of each kind, in order, and the key that upserts and deletes use
COLUMNS: dict[str, list[str]] = {kind: [f.name for f in schema] for kind, schema in SCHEMAS.items()}
KEYS: dict[str, tuple[str, ...]] = {
    "items": ("id",), "users": ("id",), "follows": ("follower", "followee"), "events": ("event_id",),
}


class Sql(Protocol):
    """A handle that runs shared queries written with ``?`` placeholders (DB-API style:
    ``execute`` returns a cursor with ``fetchone``/``fetchall``, iterable, ``rowcount``)."""

    def execute(self, query: str, args: Sequence[Any] = ...) -> Any: ...

    def executemany(self, query: str, rows: Any) -> Any: ...


@dataclass(frozen=True)
class Change:
    """One entry of the change log: what changed, by whom (``origin``), in commit order."""

    seq: int
    origin: str
    kind: str  # events, items, follows, aliases, all
    body: dict[str, Any]


class CatalogWriter(ABC):
    """Writes inside one open transaction (see :meth:`CatalogStore.transaction`)."""

    @abstractmethod
    def write(self, kind: str, table: pa.Table) -> int:
        """Store canonical rows of ``kind``; returns how many were new.

        Items, users and follows are upserts by key; events are inserted once per key
        (event id, or user/item/kind/time) and repeats are ignored. The change is logged.
        """

    @abstractmethod
    def delete(self, kind: str, keys: list[tuple[str, ...]]) -> int:
        """Delete rows of ``kind`` by key; returns how many were removed (logged too)."""

    @abstractmethod
    def register_users(self, ids: list[str]) -> int:
        """Make sure users ``ids`` exist (bare rows); returns how many were new."""


class CatalogStore(ABC):
    """Catalog data of one home. Thread use: one store object per thread.

    ``origin`` names the writer in the change log: a serving process skips its own changes
    (it applied them already) and applies everyone else's.
    """

    schema_version: int
    origin: str = ""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[CatalogWriter]:
        """All-or-nothing writes under the home's write lock: on an exception inside,
        nothing of it is stored."""

    @abstractmethod
    def read(self, kind: str) -> pa.Table:
        """Every row of ``kind`` as a canonical Arrow table (see roost.data.frames)."""

    @abstractmethod
    def snapshot(self) -> tuple[Catalog, int]:
        """Every kind and the change log's head, read as of one moment."""

    @abstractmethod
    def events_between(self, after: int, upto: int) -> pa.Table:
        """Events stored with ``after < seq <= upto`` (what a change log entry names)."""

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
        return self.snapshot()[0]

    def iter_kinds(self) -> Iterator[str]:
        yield from ("items", "users", "events", "follows")

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VersionCatalog(ABC):
    """Where the rows of embedding versions, aliases and alias history live.

    The queries are the same on every backend (``?`` placeholders); a backend gives a
    :class:`Sql` handle for them, its write lock and its version counter.
    """

    #: appended to a SELECT that must lock the rows it reads until commit ("FOR UPDATE"
    #: on a server; SQLite's write lock already covers the whole file)
    for_update: ClassVar[str] = ""
    origin: str = ""

    @abstractmethod
    def write(self, *, wait: bool = True) -> AbstractContextManager[Sql | None]:
        """A transaction holding the write lock; yields None (and writes nothing) when
        ``wait`` is False and another writer holds the lock now."""

    @abstractmethod
    def read(self) -> Sql:
        """A handle for reads outside a write transaction."""

    @abstractmethod
    def next_seq(self, sql: Sql) -> int:
        """The number of the next version: never reused, even after a delete."""

    @abstractmethod
    def log(self, sql: Sql, kind: str, body: dict[str, Any]) -> None:
        """Record a change in the change log inside the write transaction ``sql``."""

    @abstractmethod
    def close(self) -> None: ...


class IdempotencyRecords(ABC):
    """Stored answers of keyed write requests (see roost.service.idempotency)."""

    @abstractmethod
    def get(self, key: str) -> tuple[str, int, bytes] | None:
        """``(fingerprint, status, body)`` of a stored answer, or None."""

    @abstractmethod
    def put(self, key: str, fingerprint: str, status: int, body: bytes, created: float) -> None:
        """Store an answer; when another process stored one first, its answer stands."""

    @abstractmethod
    def purge(self, before: float) -> int:
        """Drop answers created before ``before`` (epoch seconds)."""

    @abstractmethod
    def clear(self) -> None:
        """Drop every answer."""

    @abstractmethod
    def close(self) -> None: ...


class KeyRecords(ABC):
    """API key records (id, role, name, created, salt, hash) of a deployment."""

    #: where the records live, for messages
    where: str = ""

    @abstractmethod
    def stamp(self) -> Any:
        """A cheap value that changes whenever the records change (None: none stored)."""

    @abstractmethod
    def load(self) -> list[dict[str, str]]:
        """Every record; raises ``ValueError`` (or ``OSError``) when they cannot be read."""

    @abstractmethod
    def save(self, records: list[dict[str, str]]) -> None:
        """Replace every record at once (atomically)."""


class ChangeLog(ABC):
    """The change log, read side: what other processes committed since a point."""

    @abstractmethod
    def head(self) -> int:
        """The sequence number of the newest change (0 when none)."""

    @abstractmethod
    def since(self, seq: int, limit: int = 1000) -> list[Change]:
        """Changes after ``seq``, oldest first, at most ``limit``."""

    @abstractmethod
    def wait(self, timeout: float) -> None:
        """Return when a change may have been committed, or after ``timeout`` seconds."""

    @abstractmethod
    def interrupt(self) -> None:
        """Make a :meth:`wait` in another thread return now (before closing)."""

    @abstractmethod
    def close(self) -> None: ...


class Database(ABC):
    """One home's database, opened from its URL: the factory of every store above."""

    scheme: ClassVar[str]

    def __init__(self, url: str, home: Path):
        self.url = url
        self.home = home

    @abstractmethod
    def exists(self) -> bool:
        """Whether the database holds a Roost schema already."""

    @abstractmethod
    def migrate(self) -> int:
        """Apply missing migrations (creating the database's schema); returns the version."""

    @abstractmethod
    def catalog(self, *, readonly: bool = False) -> CatalogStore: ...

    @abstractmethod
    def versions(self) -> VersionCatalog: ...

    @abstractmethod
    def idempotency(self) -> IdempotencyRecords: ...

    @abstractmethod
    def keys(self) -> KeyRecords | None:
        """The database's key records, or None when keys live in the home's keys file."""

    @abstractmethod
    def changes(self) -> ChangeLog: ...

    def describe(self) -> str:
        """The URL without a password (safe to print)."""
        from roost.store.urls import redact

        return redact(self.url)
