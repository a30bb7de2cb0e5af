"""drift, compare and map through the CLI on real stored versions."""

from __future__ import annotations

import json

import numpy as np

from roost.cli import main
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet


def test_drift_compare_map(tmp_path, capsys):
    home = str(tmp_path / "h")
    (tmp_path / "items.csv").write_text("id,title,category\n" + "".join(f"i{j},t{j},{'ab'[j % 2]}\n" for j in range(200)))
    assert main(["--home", home, "ingest", "items", str(tmp_path / "items.csv")]) == 0
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 8)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    ids = np.array([f"i{j}" for j in range(200)], object)
    with VersionStore(home) as vs:
        a = vs.put(EmbeddingSet(ids, base, "t", {}, "f")).id
        b = vs.put(EmbeddingSet(ids, (base @ q).astype(np.float32), "t", {}, "f")).id
        c = vs.put(EmbeddingSet(ids, base + 3.0, "t", {}, "f")).id
    capsys.readouterr()
    assert main(["--home", home, "compare", a, b]) == 0
    assert json.loads(capsys.readouterr().out)["overlap"]["mean"] > 0.99
    assert main(["--home", home, "drift", "--reference", a, "--current", c, "--method", "mean", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["drifted"] is True
    out = tmp_path / "map.html"
    assert main(["--home", home, "map", a, "--out", str(out)]) == 0
    assert "t1" in out.read_text()


def _windowed_home(tmp_path) -> tuple[str, str]:
    """Items in two regions of a space; early events (2013 H1) consume region a, late ones
    (2013 H2) region b; items of region b are created in the second half."""
    home = str(tmp_path / "h")
    rng = np.random.default_rng(1)
    h1, h2 = 1357000000, 1373000000  # 2013-01-01 and 2013-07-05, roughly
    rows = ["id,title,category,created_at"]
    rows += [f"i{j},t{j},{'ab'[j // 100]},{h1 + j if j < 100 else h2 + j}" for j in range(200)]
    (tmp_path / "items.csv").write_text("\n".join(rows) + "\n")
    ev = ["user_id,item_id,kind,ts"]
    for e in range(600):
        late = e >= 300
        item = int(rng.integers(100, 200) if late else rng.integers(0, 100))
        ev.append(f"u{rng.integers(0, 60)},i{item},view,{(h2 if late else h1) + 3600 * e}")
    (tmp_path / "events.csv").write_text("\n".join(ev) + "\n")
    assert main(["--home", home, "ingest", "items", str(tmp_path / "items.csv")]) == 0
    assert main(["--home", home, "ingest", "events", str(tmp_path / "events.csv")]) == 0
    x = rng.normal(size=(200, 8)).astype(np.float32)
    x[100:, 0] += 4.0
    ids = np.array([f"i{j}" for j in range(200)], object)
    with VersionStore(home) as vs:
        vs.put(EmbeddingSet(ids, x, "t", {}, "f"), alias="production")
    return home, "production"


def test_drift_between_time_windows(tmp_path, capsys):
    home, version = _windowed_home(tmp_path)
    capsys.readouterr()

    def run(*args: str) -> list[dict]:
        assert main(["--home", home, "drift", *args, "--version", version, "--method", "mean",
                     "--json"]) == 0  # fmt: skip
        return json.loads(capsys.readouterr().out)

    for per in ("event", "user", "item"):
        (shift,) = run("--reference", "..2013-07-01", "--current", "2013-07-01..", "--per", per)
        assert shift["drifted"] is True, per
    # Two windows of the same half see the same region: no drift.
    (same,) = run("--reference", "2013-01-01..2013-01-07", "--current", "2013-01-07..2013-01-14")
    assert same["drifted"] is False
    # A table without --json, and the mistakes a user can make, each one clear line.
    assert main(["--home", home, "drift", "--reference", "..2013-07-01", "--current",
                 "2013-07-01..", "--version", version, "--method", "mean"]) == 0  # fmt: skip
    assert "in production (event)" in capsys.readouterr().out
    for args, says in (
        (["--reference", "..2013-07-01", "--current", "2013-07-01.."], "--version"),
        (["--reference", "..2013-07-01", "--current", version], "both be time windows"),
        (["--reference", version, "--current", version, "--version", version], "for time windows"),
        (["--reference", "2013-02-30..", "--current", "..2013-01-01", "--version", version],
         "not a date"),
        (["--reference", "2014-01-01..", "--current", "..2013-01-01", "--version", version],
         "no events"),
        (["--reference", "..2013-07-01", "--current", "2013-07-01..", "--version", version,
          "--per", "month"], "per must be one of"),
    ):  # fmt: skip
        assert main(["--home", home, "drift", *args]) == 1
        assert says in capsys.readouterr().err


def test_stats_latency_reads_what_was_saved_in_the_home(tmp_path, capsys):
    from roost.monitor.latency import LatencyRegistry, latency_path

    home = str(tmp_path / "h")
    assert main(["--home", home, "init"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "stats", "--latency"]) == 0
    assert "no latency figures saved" in capsys.readouterr().out
    service, engine = LatencyRegistry(), LatencyRegistry()
    for ms in range(1, 101):
        service.record("GET /recommend", ms / 1000)
        engine.record("recommend.rank", ms / 10000)
    service.save(latency_path(home))
    engine.save(latency_path(home))
    assert main(["--home", home, "stats", "--latency", "--json"]) == 0
    snap = json.loads(capsys.readouterr().out)
    assert set(snap) == {"GET /recommend", "recommend.rank"}
    assert snap["GET /recommend"]["count"] == 100
    assert 45 < snap["GET /recommend"]["p50"] < 55 and 90 < snap["GET /recommend"]["p95"] < 100
    assert 4.5 < snap["recommend.rank"]["p50"] < 5.5
    assert main(["--home", home, "stats", "--latency"]) == 0
    out = capsys.readouterr().out
    assert "endpoint" in out and "GET /recommend" in out and "recommend.rank" in out
    latency_path(home).write_text("{oops")
    assert main(["--home", home, "stats", "--latency"]) == 1
    assert "latency.json" in capsys.readouterr().err
