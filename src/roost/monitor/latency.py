"""Latency histograms for pipeline stages and endpoints: p50/p95/p99 in process, /metrics out.

Each named stage keeps a :class:`LatencyHistogram` with fixed log-spaced buckets (8 per
doubling, 1 microsecond to about 20 minutes). Fixed buckets rather than a sample reservoir
because: recording is O(1) with bounded memory however long the process runs; the tail is
kept (a 1000-entry reservoir holds about 10 values beyond p99, so p99 jumps from one read to
the next); histograms from several workers or runs merge by adding counts; and they are
exactly what a Prometheus histogram exports. The price is resolution: a quantile is known to
within one bucket, about 9% (it is interpolated inside it, so usually much closer).

Nothing here imports a web framework or prometheus_client; :func:`prometheus_collector`
imports the latter only when the service asks for it.

Figures outlive a process in ``<home>/metrics/latency.json`` (:func:`latency_path`):
:meth:`LatencyRegistry.save` merges what a registry recorded since its last save into that
file (under a file lock, written aside and renamed), so several workers and runs add up and
repeated saves never count a duration twice; ``roost stats --latency`` reads it with
:meth:`LatencyRegistry.load`. Each save that adds something also appends one line to
``<home>/metrics/latency-history.jsonl``: the time and the p50/p95/p99 of what was recorded
since the previous save, per stage (:func:`read_history`; the dashboard draws it over time).
The history keeps its newest lines within ``HISTORY_BYTES``.

Examples
--------
>>> reg = LatencyRegistry()
>>> with reg.timed("recommend.rank"):
...     pass
>>> reg.snapshot()["recommend.rank"]["count"]
1
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from roost.types import RoostError

try:  # serialises read-merge-write of the latency file between processes; POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows: saves from one process at a time
    fcntl = None

LOW = 1e-6  # seconds: the upper bound of the first bucket
PER_DOUBLING = 8
N_BOUNDS = 30 * PER_DOUBLING  # 1e-6 * 2**30 s: about 18 minutes
#: Upper bounds (seconds) of the buckets; one more bucket above the last holds the rest.
BOUNDS = LOW * 2.0 ** (np.arange(N_BOUNDS + 1) / PER_DOUBLING)
QUANTILES = (0.5, 0.95, 0.99)
HISTORY_NAME = "latency-history.jsonl"  # beside it
HISTORY_BYTES = 4_000_000  # past this the oldest half of the lines goes


def latency_path(home: str | Path) -> Path:
    """Where a Roost home keeps its saved latency figures: ``<home>/metrics/latency.json``."""
    from roost.store.artifacts import Artifacts

    return Artifacts(Path(home)).latency


class LatencyHistogram:
    """Counts of durations in fixed log-spaced buckets, plus count, sum, min and max.

    Thread-safe: :meth:`record` may be called from any thread.

    Examples
    --------
    >>> h = LatencyHistogram()
    >>> for ms in range(1, 101):
    ...     h.record(ms / 1000)
    >>> round(h.quantile(0.5) * 1000, -1)  # known to within one bucket (about 9%)
    50.0
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.counts = np.zeros(N_BOUNDS + 2, dtype=np.int64)
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    @staticmethod
    def _bucket(seconds: float) -> int:
        """Index of the bucket ``(BOUNDS[i-1], BOUNDS[i]]`` that holds ``seconds``."""
        if seconds <= LOW:
            return 0
        i = math.ceil(math.log2(seconds / LOW) * PER_DOUBLING - 1e-9)
        return min(i, N_BOUNDS + 1)

    def record(self, seconds: float) -> None:
        """Add one duration (seconds; negative values count as 0)."""
        seconds = max(0.0, float(seconds))
        i = self._bucket(seconds)
        with self._lock:
            self.counts[i] += 1
            self.count += 1
            self.total += seconds
            self.min = min(self.min, seconds)
            self.max = max(self.max, seconds)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile in seconds (NaN when empty), interpolated inside its bucket."""
        with self._lock:
            counts, count, lo_all, hi_all = self.counts.copy(), self.count, self.min, self.max
        if count == 0:
            return math.nan
        rank = q * count
        cum = np.cumsum(counts)
        i = int(np.searchsorted(cum, max(rank, 1e-12)))  # first bucket whose cum >= rank
        lo = BOUNDS[i - 1] if i > 0 else 0.0
        hi = BOUNDS[i] if i <= N_BOUNDS else hi_all
        before = cum[i - 1] if i > 0 else 0
        frac = (rank - before) / counts[i]
        # Geometric interpolation matches the log-spaced buckets; clamp to what was seen.
        value = lo * (hi / lo) ** frac if lo > 0 else hi * frac
        return float(min(max(value, lo_all), hi_all))

    def summary(self) -> dict[str, float | int]:
        """``count`` and, in milliseconds, ``mean``, ``p50``, ``p95``, ``p99`` and ``max``."""
        out: dict[str, float | int] = {"count": self.count}
        if self.count == 0:
            return out
        out["mean"] = self.total / self.count * 1e3
        for q in QUANTILES:
            out[f"p{round(q * 100)}"] = self.quantile(q) * 1e3
        out["max"] = self.max * 1e3
        return out

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts into this one (e.g. from another worker)."""
        with other._lock:
            counts, count, total, lo, hi = (
                other.counts.copy(), other.count, other.total, other.min, other.max,
            )  # fmt: skip
        with self._lock:
            self.counts += counts
            self.count += count
            self.total += total
            self.min, self.max = min(self.min, lo), max(self.max, hi)

    def to_dict(self) -> dict[str, Any]:
        """JSON state: non-zero buckets as ``{index: count}`` plus the totals."""
        with self._lock:
            nz = np.flatnonzero(self.counts)
            return {
                "buckets": {str(int(i)): int(self.counts[i]) for i in nz},
                "count": self.count,
                "sum": self.total,
                "min": None if self.count == 0 else self.min,
                "max": self.max,
            }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LatencyHistogram:
        h = cls()
        for i, c in state.get("buckets", {}).items():
            h.counts[int(i)] = int(c)
        h.count, h.total = int(state["count"]), float(state["sum"])
        h.min = math.inf if state.get("min") is None else float(state["min"])
        h.max = float(state["max"])
        return h


class LatencyRegistry:
    """Named stages, each with a :class:`LatencyHistogram`; created on first use.

    Examples
    --------
    >>> reg = LatencyRegistry()
    >>> @reg.timed("embed.transform")
    ... def work():
    ...     return 42
    >>> work(), reg.snapshot()["embed.transform"]["count"]
    (42, 1)
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._stages: dict[str, LatencyHistogram] = {}
        self._save_lock = threading.Lock()
        self._saved: dict[str, dict[str, Any]] = {}  # per stage, the state at the last save

    def histogram(self, stage: str) -> LatencyHistogram:
        with self._lock:
            h = self._stages.get(stage)
            if h is None:
                h = self._stages[stage] = LatencyHistogram()
            return h

    def record(self, stage: str, seconds: float) -> None:
        self.histogram(stage).record(seconds)

    def timed(self, stage: str) -> Timed:
        """Time a block (``with reg.timed(stage):``) or every call of a function (decorator)."""
        return Timed(self, stage)

    def items(self) -> Iterator[tuple[str, LatencyHistogram]]:
        with self._lock:
            stages = sorted(self._stages.items())
        return iter(stages)

    def snapshot(self) -> dict[str, dict[str, float | int]]:
        """``{stage: {count, mean, p50, p95, p99, max}}``, times in milliseconds."""
        return {stage: h.summary() for stage, h in self.items()}

    def reset(self) -> None:
        with self._lock:
            self._stages.clear()

    def merge(self, other: LatencyRegistry) -> None:
        for stage, h in other.items():
            self.histogram(stage).merge(h)

    def to_dict(self) -> dict[str, Any]:
        """JSON state of every stage (to hand figures from a service to ``roost stats``)."""
        return {"format": 1, "per_doubling": PER_DOUBLING, "low": LOW,
                "stages": {s: h.to_dict() for s, h in self.items()}}  # fmt: skip

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LatencyRegistry:
        if state.get("per_doubling") != PER_DOUBLING or state.get("low") != LOW:
            raise ValueError("latency state was written with other bucket bounds")
        reg = cls()
        for stage, h in state.get("stages", {}).items():
            reg._stages[stage] = LatencyHistogram.from_dict(h)
        return reg

    # --- persistence across processes -------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Merge what was recorded since this registry's last save into the JSON at ``path``.

        The file is created if missing (with its folder), read, merged and written aside
        then renamed, all under an exclusive lock of ``path.lock``; so processes may save
        into one file concurrently, and calling ``save`` again only adds what is new.
        Returns ``path``.

        Examples
        --------
        >>> import tempfile
        >>> reg = LatencyRegistry()
        >>> reg.record("GET /recommend", 0.012)
        >>> path = Path(tempfile.mkdtemp()) / "latency.json"
        >>> _ = reg.save(path); _ = reg.save(path)          # the second adds nothing
        >>> LatencyRegistry.load(path).snapshot()["GET /recommend"]["count"]
        1
        """
        path = Path(path)
        with self._save_lock:
            current = {stage: h.to_dict() for stage, h in self.items()}
            delta = {s: _since(st, self._saved.get(s)) for s, st in current.items()}
            delta = {s: d for s, d in delta.items() if d["count"]}
            if delta or not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                with _locked(path):
                    merged = LatencyRegistry.load(path) if path.exists() else LatencyRegistry()
                    merged.merge(LatencyRegistry.from_dict(
                        {"per_doubling": PER_DOUBLING, "low": LOW, "stages": delta}))  # fmt: skip
                    _write_aside(path, json.dumps(merged.to_dict(), indent=1, sort_keys=True))
                    if delta:
                        _append_history(path.with_name(HISTORY_NAME), delta)
            self._saved = current
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyRegistry:
        """A registry holding the figures saved at ``path`` (see :meth:`save`)."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise RoostError(f"{path}: no latency figures saved there yet") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise RoostError(f"{path}: not a latency file Roost can read ({e})") from None


def read_history(home: str | Path, last: int = 500) -> list[dict[str, Any]]:
    """The newest ``last`` lines of a home's latency history, oldest first: each
    ``{"time": epoch seconds, "stages": {stage: {count, mean, p50, p95, p99, max}}}``
    (milliseconds) for what was recorded between two saves. Unreadable lines are skipped."""
    path = latency_path(home).with_name(HISTORY_NAME)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[-last:]
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("stages"), dict) and "time" in doc:
            out.append(doc)
    return out


def _append_history(path: Path, delta: dict[str, dict[str, Any]]) -> None:
    """One line of per-stage quantiles of ``delta`` (histogram states); called under the
    latency file's lock."""
    stages = {s: {k: round(v, 4) if isinstance(v, float) else v
                  for k, v in LatencyHistogram.from_dict(d).summary().items()}
              for s, d in sorted(delta.items())}  # fmt: skip
    line = json.dumps({"time": round(time.time(), 3), "stages": stages}, sort_keys=True)
    if path.exists() and path.stat().st_size > HISTORY_BYTES:
        kept = path.read_text(encoding="utf-8").splitlines()
        _write_aside(path, "\n".join(kept[len(kept) // 2 :]) + "\n")
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def _since(state: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """A histogram's state minus its state at an earlier save (counts only grow)."""
    if before is None:
        return state
    buckets = {i: c - before["buckets"].get(i, 0) for i, c in state["buckets"].items()}
    return {
        "buckets": {i: c for i, c in buckets.items() if c},
        "count": state["count"] - before["count"],
        "sum": state["sum"] - before["sum"],
        # min and max over all time: merging them again changes nothing
        "min": state["min"],
        "max": state["max"],
    }


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor closes
        yield
    finally:
        os.close(fd)


def _write_aside(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class Timed:
    """Context manager and decorator that records elapsed wall time into a registry stage.

    Time is recorded also when the block raises: a failed request took that long too.
    As a decorator each call gets its own start time (safe across threads and recursion);
    coroutine functions are timed until they finish, not until they first yield.
    """

    def __init__(self, registry: LatencyRegistry, stage: str):
        self.registry = registry
        self.stage = stage
        self._starts = threading.local()

    def __enter__(self) -> Timed:
        stack = getattr(self._starts, "stack", None)
        if stack is None:
            stack = self._starts.stack = []
        stack.append(time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        start = self._starts.stack.pop()
        self.registry.record(self.stage, time.perf_counter() - start)

    def __call__(self, fn: Callable) -> Callable:
        registry, stage = self.registry, self.stage
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    registry.record(stage, time.perf_counter() - start)

            return awrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                registry.record(stage, time.perf_counter() - start)

        return wrapper


#: The process-wide registry that library stages record into unless given another.
REGISTRY = LatencyRegistry()


def timed(stage: str, registry: LatencyRegistry | None = None) -> Timed:
    """``with timed("index.search"):`` or ``@timed("index.search")`` on the default registry."""
    return (registry or REGISTRY).timed(stage)


def snapshot(registry: LatencyRegistry | None = None) -> dict[str, dict[str, float | int]]:
    """p50/p95/p99 (milliseconds) per stage of ``registry`` (default: the process-wide one)."""
    return (registry or REGISTRY).snapshot()


def prometheus_collector(registry: LatencyRegistry | None = None, name: str = "roost_latency"):
    """A prometheus_client collector exposing the registry on a service's ``/metrics``.

    Two families: ``{name}_seconds`` (a histogram with one bucket per doubling from about
    0.1 ms to 67 s, for Prometheus' own ``histogram_quantile``) and
    ``{name}_quantile_seconds`` (gauges with the in-process p50/p95/p99, for people reading
    the page). Register it on a ``CollectorRegistry`` and serve ``generate_latest(...)``.
    """
    from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

    reg = registry or REGISTRY
    # Export every eighth bound (one per doubling) between 1e-4 s and 100 s: Prometheus
    # stores one series per bucket, so 240 fine buckets would be costly there.
    coarse = [j for j in range(0, N_BOUNDS + 1, PER_DOUBLING) if 1e-4 <= BOUNDS[j] <= 100]

    class _Collector:
        def collect(self):
            hist = HistogramMetricFamily(
                f"{name}_seconds", "Latency of Roost stages and endpoints", labels=["stage"]
            )
            quant = GaugeMetricFamily(
                f"{name}_quantile_seconds", "In-process latency quantiles",
                labels=["stage", "quantile"],
            )  # fmt: skip
            for stage, h in reg.items():
                with h._lock:
                    cum, total, count = np.cumsum(h.counts), h.total, h.count
                buckets = [(f"{BOUNDS[j]:.6g}", float(cum[j])) for j in coarse]
                buckets.append(("+Inf", float(count)))
                hist.add_metric([stage], buckets, sum_value=total)
                for q in QUANTILES:
                    if count:
                        quant.add_metric([stage, str(q)], h.quantile(q))
            yield hist
            yield quant

    return _Collector()
