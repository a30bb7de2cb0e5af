"""What a running service holds: settings, keys, stores, the engine, metrics.

One :class:`Runtime` per app, made by the lifespan and reached through dependencies
(:mod:`roost.service.deps`): no module globals, so two apps in one process (tests, the
benchmark) never share state.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from roost.monitor.latency import LatencyRegistry, latency_path
from roost.service.config import ServiceSettings
from roost.service.idempotency import IdempotencyStore
from roost.service.keys import KeyStore
from roost.store.base import CatalogStore
from roost.store.versions import VersionStore

if TYPE_CHECKING:
    from roost.engine import Engine

log = logging.getLogger("roost.service")
# How often the latency figures are merged into <home>/metrics/latency.json, where
# `roost stats --latency` reads them (also at shutdown).
SAVE_LATENCY_EVERY = 30.0


class QueryThreads:
    """Threads that run queries handed over from the event loop, one queue for all.

    What ``loop.run_in_executor`` does with less on the way: no concurrent Future chained
    to an asyncio one, one wake-up of the loop per answer. A cached answer takes the engine
    tens of microseconds, so the hop is a good part of such a request (46 against 27 us of
    CPU per call, measured with a function that returns at once).
    """

    def __init__(self, n: int):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"roost-query-{i}", daemon=True)
            for i in range(n)
        ]
        for t in self._threads:
            t.start()

    async def run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, fn, args, kwargs))
        return await future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args, kwargs = job
            if future.cancelled():  # the client left while it queued: skip the work
                continue
            try:
                outcome = (fn(*args, **kwargs), None)
            except BaseException as e:  # handed to the awaiting endpoint, raised there
                outcome = (None, e)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop closed meanwhile: nobody waits for it
                pass

    def shutdown(self) -> None:
        """Finish what is queued, then stop the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join()


def _settle(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class Runtime:
    """The state of one service: opened at start, closed at shutdown."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.home = settings.home_()
        if not self.home.exists():
            self.home = self.home.create()
        self.db = self.home.db()
        self.db.migrate()  # the schema before anything reads it
        # One name for this process's writes in the change log: its engine, stores and
        # version store skip their own entries and apply every other worker's.
        self.origin = uuid.uuid4().hex
        self.keys = KeyStore(settings.key_records())
        # Decided once, at start: a closed service never opens (see roost.service.deps).
        self.open = settings.open_access
        self._logged: dict[str, str] = {}
        self._logged_lock = threading.Lock()
        self.http = LatencyRegistry()  # per endpoint; the engine keeps its own per stage
        self.counts: dict[tuple[str, str, int], int] = {}
        self.counts_lock = threading.Lock()
        self.engine: Engine | None = None
        self.engine_error: str | None = None
        self.loading = False
        self.started = time.time()
        self.maps: dict[tuple, Any] = {}  # explorer maps, by (version id, method, points)
        self.maps_lock = threading.Lock()
        self._local = threading.local()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        self.idempotency = IdempotencyStore(self.db.idempotency())
        self._stopping = threading.Event()
        # Queries wait their turn here instead of all running at once on the thread pool:
        # a query is mostly Python holding the GIL, and eight interleaved ones took up to
        # 1.6x as long per call as one at a time (docs/benchmarks.md).
        self._queries = QueryThreads(max(1, settings.query_threads))

    def log_once(self, topic: str, message: str) -> None:
        """Log ``message`` as a warning unless it is what ``topic`` last said: a state
        that every request runs into (no keys, a damaged file) is one line, not one a
        request."""
        with self._logged_lock:
            if self._logged.get(topic) == message:
                return
            self._logged[topic] = message
        log.warning("%s", message)

    async def query(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on the query threads, awaited from an endpoint."""
        return await self._queries.run(fn, args, kwargs)

    # --- per-thread handles (a store object serves one thread) ----------------------------
    def store(self) -> CatalogStore:
        s = getattr(self._local, "store", None)
        if s is None:
            s = self._local.store = self.db.catalog()
            s.origin = self.origin
            with self._opened_lock:
                self._opened.append(s)
        return s

    def versions(self) -> VersionStore:
        v = getattr(self._local, "versions", None)
        if v is None:
            v = self._local.versions = VersionStore(self.home, create=True)
            v.origin = self.origin
            with self._opened_lock:
                self._opened.append(v)
        return v

    # --- the engine -----------------------------------------------------------------------
    def load_engine(self) -> None:
        """Open the engine (in a background thread: /health/live answers meanwhile)."""
        self.loading = True
        started = time.perf_counter()
        try:
            from roost.engine import Engine

            engine = Engine.open(
                self.home, surfaces=self.settings.surfaces, cache_ttl=self.settings.cache_ttl,
                origin=self.origin,
            )
            engine.follow_changes(poll=self.settings.feed_poll)
            # Ready once warm: the neighbour tables (seconds on the demo catalog) are built
            # before the first request. Built behind live traffic instead, they took a
            # quarter of the process's CPU for the first tens of seconds and every request
            # meanwhile took the slower per-item path.
            engine.neighbour_tables.join()
            self.engine = engine
            self.engine_error = None
            log.info("engine ready in %.1f s", time.perf_counter() - started)
        except Exception as e:  # any failure is reported by /health/ready, not raised
            self.engine_error = f"{type(e).__name__}: {e}"
            log.warning("engine not loaded: %s", self.engine_error)
        finally:
            self.loading = False

    def start(self) -> None:
        self.store()  # create the home and apply migrations before serving
        if self.settings.load_engine:
            self.loading = True
            threading.Thread(target=self.load_engine, name="roost-engine-load", daemon=True).start()
        threading.Thread(target=self._save_latency_loop, name="roost-latency", daemon=True).start()

    def save_latency(self) -> None:
        """Merge what was timed since the last save (endpoints and engine stages) into the
        home's latency file; a failure is logged, never raised (figures are not data)."""
        path = latency_path(self.home.path)
        try:
            self.http.save(path)
            if self.engine is not None:
                self.engine.latency.save(path)
        except Exception as e:
            log.warning("latency figures not saved to %s: %s", path, e)

    def _save_latency_loop(self) -> None:
        while not self._stopping.wait(SAVE_LATENCY_EVERY):
            self.save_latency()

    def count(self, route: str, method: str, status: int) -> None:
        with self.counts_lock:
            key = (route, method, status)
            self.counts[key] = self.counts.get(key, 0) + 1

    def close(self) -> None:
        # Wait for a load in flight: closing an engine half-opened in another thread races.
        deadline = time.monotonic() + 60
        while self.loading and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        self._queries.shutdown()
        self.save_latency()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for h in opened:
            try:
                h.close()
            except Exception:  # a handle of a finished thread: nothing left to release
                pass
        self.idempotency.close()
