"""Latency histograms: quantile accuracy, threads, decorators, persistence, Prometheus."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.monitor.latency import (
    PER_DOUBLING,
    LatencyHistogram,
    LatencyRegistry,
    prometheus_collector,
    snapshot,
    timed,
)

durations = st.lists(st.floats(1e-6, 100.0), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(values=durations, q=st.sampled_from([0.5, 0.95, 0.99]))
def test_quantile_within_one_bucket_of_the_exact_one(values, q):
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    exact = float(np.quantile(values, q, method="inverted_cdf"))
    ratio = h.quantile(q) / exact
    width = 2 ** (1 / PER_DOUBLING)
    assert 1 / width - 1e-9 <= ratio <= width + 1e-9


@settings(max_examples=30, deadline=None)
@given(a=durations, b=durations)
def test_merge_and_json_round_trip_equal_recording_everything(a, b):
    ha, hb, hall = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for v in a:
        ha.record(v)
        hall.record(v)
    for v in b:
        hb.record(v)
        hall.record(v)
    ha.merge(LatencyHistogram.from_dict(json.loads(json.dumps(hb.to_dict()))))
    assert ha.count == hall.count and (ha.counts == hall.counts).all()
    assert ha.summary() == pytest.approx(hall.summary())


def test_summary_in_milliseconds_and_empty():
    h = LatencyHistogram()
    assert h.summary() == {"count": 0}
    for ms in range(1, 1001):
        h.record(ms / 1000)
    s = h.summary()
    assert s["count"] == 1000 and s["max"] == pytest.approx(1000.0)
    assert s["mean"] == pytest.approx(500.5)
    for key, expect in (("p50", 500), ("p95", 950), ("p99", 990)):
        assert abs(s[key] - expect) / expect < 0.05, (key, s[key])


def test_many_threads_lose_no_records():
    reg = LatencyRegistry()

    def work():
        for _ in range(2000):
            with reg.timed("stage"):
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reg.snapshot()["stage"]["count"] == 16_000


def test_decorators_sync_async_and_errors():
    reg = LatencyRegistry()

    @reg.timed("sync")
    def fails():
        raise ValueError("boom")

    @reg.timed("async")
    async def sleeps():
        await asyncio.sleep(0.02)
        return 7

    with pytest.raises(ValueError):
        fails()
    assert asyncio.run(sleeps()) == 7
    snap = reg.snapshot()
    assert snap["sync"]["count"] == 1  # a failure took time too
    assert snap["async"]["p50"] >= 15  # timed to completion, not to the first await
    t = reg.timed("nested")
    with t, t:  # one Timed object re-entered keeps separate start times
        pass
    assert reg.snapshot()["nested"]["count"] == 2


def test_default_registry_and_registry_round_trip():
    with timed("test.monitor.default"):
        pass
    assert snapshot()["test.monitor.default"]["count"] >= 1
    reg = LatencyRegistry()
    reg.record("a", 0.01)
    reg.record("b", 0.2)
    back = LatencyRegistry.from_dict(json.loads(json.dumps(reg.to_dict())))
    assert back.snapshot() == reg.snapshot()
    with pytest.raises(ValueError, match="bucket bounds"):
        LatencyRegistry.from_dict({**reg.to_dict(), "per_doubling": 4})


def test_prometheus_exposition():
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    reg = LatencyRegistry()
    for ms in (1, 2, 3, 50, 900):
        reg.record("http.GET /recommend", ms / 1000)
    prom = CollectorRegistry()
    prom.register(prometheus_collector(reg))
    text = generate_latest(prom).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    hist = families["roost_latency_seconds"]
    count = [s for s in hist.samples if s.name.endswith("_count")][0]
    assert count.value == 5 and count.labels == {"stage": "http.GET /recommend"}
    buckets = [s for s in hist.samples if s.name.endswith("_bucket")]
    values = [s.value for s in buckets]
    assert values == sorted(values) and values[-1] == 5  # cumulative, +Inf holds all
    quant = {
        s.labels["quantile"]: s.value for s in families["roost_latency_quantile_seconds"].samples
    }
    assert set(quant) == {"0.5", "0.95", "0.99"}
    assert 0.0028 < quant["0.5"] < 0.0033


def test_latency_import_stays_light():
    """Library hot paths import the timer: it must not pull in sklearn, fastapi or prometheus."""
    code = (
        "import sys; from roost.monitor import timed; from roost.monitor.latency import snapshot;"
        "bad = [m for m in ('sklearn', 'fastapi', 'prometheus_client', 'matplotlib')"
        " if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- saved in the home: merging across registries, processes and repeated saves -----------
def _counts(reg: LatencyRegistry) -> dict[str, int]:
    return {stage: h.count for stage, h in reg.items()}


def test_save_merges_and_never_counts_twice(tmp_path):
    from roost.monitor.latency import latency_path

    path = latency_path(tmp_path / "home")
    assert path == tmp_path / "home" / "metrics" / "latency.json"
    a, b = LatencyRegistry(), LatencyRegistry()
    for ms in (1, 2, 3):
        a.record("GET /recommend", ms / 1000)
    b.record("GET /recommend", 0.004)
    b.record("recommend.rank", 0.0005)
    a.save(path)
    a.save(path)  # nothing new: adds nothing
    b.save(path)
    a.record("GET /recommend", 0.005)
    a.save(path)  # only the new duration
    saved = LatencyRegistry.load(path)
    assert _counts(saved) == {"GET /recommend": 5, "recommend.rank": 1}
    everything = LatencyRegistry()
    for ms in (1, 2, 3, 4, 5):
        everything.record("GET /recommend", ms / 1000)
    np.testing.assert_array_equal(saved.histogram("GET /recommend").counts,
                                  everything.histogram("GET /recommend").counts)  # fmt: skip
    h = saved.histogram("GET /recommend")
    assert h.min == 0.001 and h.max == 0.005 and h.total == pytest.approx(0.015)
    assert _counts(a) == {"GET /recommend": 4}  # the registry itself stays cumulative


def test_concurrent_saves_from_processes_add_up(tmp_path):
    path = tmp_path / "metrics" / "latency.json"
    code = (
        "import sys; from roost.monitor.latency import LatencyRegistry\n"
        "reg = LatencyRegistry()\n"
        "for k in range(50):\n"
        "    reg.record('stage', 0.001); reg.save(sys.argv[1])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(3)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert _counts(LatencyRegistry.load(path)) == {"stage": 150}


def test_load_errors_name_the_file(tmp_path):
    from roost.types import RoostError

    with pytest.raises(RoostError, match="no latency figures"):
        LatencyRegistry.load(tmp_path / "missing.json")
    bad = tmp_path / "latency.json"
    bad.write_text("{not json")
    with pytest.raises(RoostError, match="latency.json"):
        LatencyRegistry.load(bad)
    bad.write_text(json.dumps({**LatencyRegistry().to_dict(), "per_doubling": 4}))
    with pytest.raises(RoostError, match="other bucket bounds"):
        LatencyRegistry.load(bad)
