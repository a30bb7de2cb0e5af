"""A cache of finished query results, dropped the moment a write could change them.

A timeline is asked for again and again (a refresh, the next page, a second tab) while
nothing it depends on has changed; answering those from memory is what a serving system
does in front of its ranking. What makes it safe is invalidation, not expiry alone:

- every entry remembers the *generation* it was computed under: one global counter (bumped
  by a new, changed or deleted item, a reload) and one per user (bumped by that user's
  events, follows and unfollows). A write bumps before it returns, so the next read misses;
- a query captures the generations *before* it computes, so a result that raced a write
  is stored under the old generation and never served;
- ``ttl`` bounds what no generation tracks: other users' events move popularity and
  co-occurrence a little at a time, so an entry lives at most ``ttl`` seconds.

cachetools' TTLCache does LRU and expiry but knows nothing of generations, and wrapping it
would still need the lock and the generation checks below: a small OrderedDict does both.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ResultCache:
    """LRU cache of query results with per-user and global invalidation.

    Parameters
    ----------
    ttl : seconds an entry may be served; 0 turns the cache off.
    max_entries : entries kept (least recently used dropped first).
    """

    def __init__(self, ttl: float = 30.0, max_entries: int = 10_000):
        if ttl < 0 or max_entries < 0:
            raise ValueError("ttl and max_entries must be >= 0")
        self.ttl = float(ttl)
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[Hashable, tuple[int, int, float, Any]] = OrderedDict()
        self._global = 0
        self._users: dict[str, int] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.max_entries > 0

    def get(self, key: Hashable, user: str | None) -> Any | None:
        """The cached result for ``key`` if one may be served, else None. A hit counts; a
        miss does not (the caller goes on to :meth:`get_or_compute`, which counts it)."""
        if not self.enabled:
            return None
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[2] <= now:
                return None
            ugen = self._users.get(user, 0) if user is not None else 0
            if entry[:2] != (self._global, ugen):
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[3]

    def get_or_compute(self, key: Hashable, user: str | None, compute: Callable[[], Any]) -> Any:
        """The cached result for ``key`` (its ``user``'s, or None for user-free queries),
        or ``compute()`` stored for next time."""
        if not self.enabled:
            return compute()
        now = time.monotonic()
        with self._lock:
            gen, ugen = self._global, self._users.get(user, 0) if user is not None else 0
            entry = self._entries.get(key)
            if entry is not None and entry[:2] == (gen, ugen) and entry[2] > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[3]
            self.misses += 1
        value = compute()
        with self._lock:
            self._entries[key] = (gen, ugen, now + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def invalidate_users(self, users) -> None:
        """Every entry of these users is stale from now on."""
        with self._lock:
            for u in users:
                self._users[str(u)] = self._users.get(str(u), 0) + 1

    def invalidate_all(self) -> None:
        """Every entry is stale from now on."""
        with self._lock:
            self._global += 1
            self._entries.clear()
            # a query in flight holds the old global generation: its result can never be
            # served, whatever the user counters say, so they can start again
            self._users.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "entries": len(self._entries),
                "hits": self.hits,
                "misses": self.misses,
                "ttl": self.ttl,
            }
