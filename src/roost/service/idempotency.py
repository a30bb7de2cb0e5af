"""Idempotency keys for write batches: a retried request gets the first answer back.

A record is kept only for a request that succeeded, after its events committed; then a
replay of the same key and the same body returns the stored status and body, the same key
with another body is refused (422), and the same key while the first is still running is
refused (409). Events of a keyed batch without an ``event_id`` get one derived from the key
and their position, so even a retry after a crash between the events' commit and this
record stores nothing twice (the catalog ignores a repeated event id).

Records live behind :class:`~roost.store.base.IdempotencyRecords` (``<home>/service.db``
on an embedded home, a table on a server home, shared by every worker) and are dropped after
``ttl_days``. The in-flight check (409) is per process; across workers, the event ids
derived from the key still store a retried batch once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson

from roost.store.base import IdempotencyRecords

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
    """The records of one home; thread-safe (one backend handle behind a lock)."""

    def __init__(self, records: IdempotencyRecords, *, ttl_days: float = 7.0):
        self.records = records
        self.ttl = ttl_days * 86_400
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self.records.purge(time.time() - self.ttl)

    def get(self, key: str) -> Stored | None:
        with self._lock:
            row = self.records.get(key)
        return None if row is None else Stored(*row)

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
            self.records.put(key, fp, status, body, time.time())

    def clear(self) -> None:
        with self._lock:
            self.records.clear()

    def close(self) -> None:
        with self._lock:
            self.records.close()
