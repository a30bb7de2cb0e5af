"""Idempotency keys for write batches: a retried request gets the first answer back.

A record is kept only for a request that succeeded, after its events committed; then a
replay of the same key and the same body returns the stored status and body, the same key
with another body is refused (422), and the same key while the first is still running is
refused (409). Events of a keyed batch without an ``event_id`` get one derived from the key
and their position, so even a retry after a crash between the events' commit and this
record stores nothing twice (the catalog ignores a repeated event id).

Records live in ``<home>/service.db`` (SQLite, WAL) and are dropped after ``ttl_days``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from roost.store.sqlite import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
    body BLOB NOT NULL, created REAL NOT NULL
)
"""
MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int
    body: bytes


class KeyConflict(Exception):
    """The same key is being processed by another request right now."""


def fingerprint(payload: object) -> str:
    """sha256 of the request body in a canonical JSON form."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def derived_event_id(scope: str, key: str, position: int) -> str:
    """The event id given to row ``position`` of a keyed batch that names none."""
    digest = hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:24]
    return f"idem-{digest}-{position}"


class IdempotencyStore:
    """The records of one home; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | Path, *, ttl_days: float = 7.0):
        self.path = Path(path)
        self.ttl = ttl_days * 86_400
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        self._conn.execute(_SCHEMA)
        self._conn.execute("DELETE FROM idempotency WHERE created < ?", (time.time() - self.ttl,))

    def get(self, key: str) -> Stored | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else Stored(row[0], int(row[1]), bytes(row[2]))

    @contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """Hold ``key`` while its request runs; a second holder gets :class:`KeyConflict`."""
        with self._lock:
            if key in self._inflight:
                raise KeyConflict(key)
            self._inflight.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._inflight.discard(key)

    def put(self, key: str, fp: str, status: int, body: bytes) -> None:
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO idempotency (key, fingerprint, status, body, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, fp, status, body, time.time()),
                )
            except sqlite3.IntegrityError:
                pass  # another process recorded it first: its answer stands

    def close(self) -> None:
        with self._lock:
            self._conn.close()
