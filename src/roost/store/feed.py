"""The change feed: how processes serving one home learn what the others wrote.

Every catalog write (events, items, follows) and every alias change appends one entry to
the database's change log in the same transaction (:class:`~roost.store.base.ChangeLog`):
events by the range of their sequence numbers, items and follows by key, an alias change
as such. Entries are numbered in commit order (writers hold the home's write lock).

A serving process follows the log with :class:`Follower`: it skips its own entries (it
applied them already) and applies the others' (a like counts, an unfollow stops showing,
a new item is embedded, an alias move reloads). Two signals tell it to look:

- ``<home>/feed.head``, 8 bytes memory-mapped by every process on this machine: a writer
  stores the new head there before it commits, so a reader that compares it on every
  request (a few hundred nanoseconds) sees a change acknowledged before its request began:
  on one machine the delay is zero.
- a background wait on the log itself (PostgreSQL ``LISTEN``/``NOTIFY``; on SQLite a poll),
  for writers on other machines: there the delay is at most ``poll`` seconds (``LISTEN``
  wakes the reader at once; the poll is its fallback).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from roost.store.base import Change, ChangeLog

# Past this many keys an entry says "everything changed" (a bulk ingest): followers reload
# rather than apply row by row.
MAX_KEYS = 1000
MAX_EVENTS = 50_000
_HEAD = struct.Struct("<q")


def write_body(kind: str, table: pa.Table) -> tuple[str, dict[str, Any]] | None:
    """The change entry for rows of ``kind`` written (events are logged by range instead)."""
    if kind == "items":
        ids = table.column("id").to_pylist()
        return ("items", {"ids": ids}) if len(ids) <= MAX_KEYS else ("all", {})
    if kind == "follows":
        pairs = list(zip(table.column("follower").to_pylist(),
                         table.column("followee").to_pylist(), strict=True))  # fmt: skip
        return ("follows", {"put": pairs}) if len(pairs) <= MAX_KEYS else ("all", {})
    return None  # users: nothing that a serving process keeps changes


def delete_body(kind: str, keys: list[tuple[str, ...]]) -> tuple[str, dict[str, Any]] | None:
    if kind == "users":
        return None  # no serving process keeps users apart from their events
    if len(keys) > MAX_KEYS or kind not in ("items", "follows"):
        return ("all", {})
    if kind == "items":
        return ("items", {"deleted": [k[0] for k in keys]})
    return ("follows", {"deleted": [list(k) for k in keys]})


def events_body(after: int, upto: int) -> tuple[str, dict[str, Any]] | None:
    if upto <= after:
        return None
    return ("events", {"after": after, "upto": upto}) if upto - after <= MAX_EVENTS else ("all", {})


class FeedHead:
    """The change log's head, shared through a memory-mapped file by the processes of
    one machine. Writers store it under the write lock, so it only grows."""

    def __init__(self, path: Path):
        self.path = path
        self._mm: mmap.mmap | None = None
        self._lock = threading.Lock()

    def _map(self) -> mmap.mmap | None:
        if self._mm is None:
            with self._lock:
                if self._mm is None:
                    try:
                        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                    except OSError:  # a read-only home: the background wait still works
                        return None
                    try:
                        if os.fstat(fd).st_size < _HEAD.size:
                            os.ftruncate(fd, _HEAD.size)
                        self._mm = mmap.mmap(fd, _HEAD.size)
                    finally:
                        os.close(fd)
        return self._mm

    def get(self) -> int:
        mm = self._map()
        return _HEAD.unpack_from(mm, 0)[0] if mm is not None else 0

    def bump(self, seq: int) -> None:
        mm = self._map()
        if mm is not None and seq > _HEAD.unpack_from(mm, 0)[0]:
            _HEAD.pack_into(mm, 0, seq)

    def close(self) -> None:
        with self._lock:
            if self._mm is not None:
                self._mm.close()
                self._mm = None


class Follower:
    """Follows a home's change log for one serving process.

    ``apply(changes)`` receives the entries of other origins, in order, under this
    follower's lock. :meth:`check` is the cheap per-request test; :meth:`start` runs the
    background wait.
    """

    def __init__(self, log: ChangeLog, head: FeedHead, origin: str,
                 apply: Callable[[list[Change]], None], *, start_at: int, poll: float = 0.5):  # fmt: skip
        self.log = log
        self.head = head
        self.origin = origin
        self.apply = apply
        self.poll = poll
        self.seen = start_at  # every entry up to here is applied (or was in the snapshot)
        self._hinted = -1  # the first look always reads the log
        self.lock = threading.RLock()  # held while applying; a reload takes it too
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error: str | None = None

    def pending(self) -> bool:
        """Whether another process on this machine wrote since the last look (no query)."""
        return self.head.get() != self._hinted

    def check(self) -> None:
        """Catch up when another process on this machine wrote since the last look."""
        hint = self.head.get()
        if hint != self._hinted:
            self._hinted = hint
            self.catch_up()

    def catch_up(self) -> int:
        """Apply every entry committed so far; returns how many were applied."""
        applied = 0
        with self.lock:
            while True:
                batch = self.log.since(self.seen)
                if not batch:
                    return applied
                theirs = [c for c in batch if c.origin != self.origin]
                if theirs:
                    self.apply(theirs)  # may reload, moving ``seen`` past the batch
                    applied += len(theirs)
                self.seen = max(self.seen, batch[-1].seq)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="roost-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.log.wait(self.poll)
                if not self._stop.is_set():
                    self.catch_up()
            except Exception as e:  # a database hiccup: said, then retried on the next poll
                self.errors += 1
                self.last_error = f"{type(e).__name__}: {e}"
                self._stop.wait(self.poll)

    def close(self) -> None:
        self._stop.set()
        self.log.interrupt()
        if self._thread is not None:
            self._thread.join(timeout=self.poll + 5)
        self.log.close()
