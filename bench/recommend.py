"""Recommendation latency: per-stage p50/p95/p99 of ``Engine.recommend``, against
implicit's own ``recommend()`` on the same ALS model.

The demo catalog (MovieTweetings 100K, bundled) is ingested into a temporary home and
``build_default`` fits the default versions and ranker (or ``--home`` names a built one).
Requests go to users sampled with a fixed seed (one in ten has no history: cold start).
The Engine runs every channel, the filters, the learned ranker, MMR and the explanations;
implicit's ``recommend`` is one user-factor times item-factors product with the seen items
filtered, the floor a single-model recommender pays. ``--synthetic N`` also times a
generated catalog of N items (ALS vectors drawn at random, an HNSW index, no text model).

Usage (appends a dated section to docs/benchmarks.md unless --no-append)::

    .venv/bin/python bench/recommend.py --requests 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append  # noqa: E402
from roost.engine import Engine, build_default  # noqa: E402
from roost.monitor.latency import LatencyHistogram  # noqa: E402
from roost.store import Artifacts, open_store  # noqa: E402
from roost.store.versions import VersionStore  # noqa: E402

STAGES = ("sources", "hydrate", "filter", "score", "select")


def demo_home(path: Path) -> Path:
    from roost.data import datasets

    with open_store(path) as s:
        datasets.load("movietweetings").ingest(s)
    t = time.perf_counter()
    summary = build_default(path)
    print(f"build_default: {time.perf_counter() - t:.1f} s  {summary['seconds']}")
    print(f"ranker: {summary.get('ranker')}")
    return path


def synthetic_home(
    path: Path,
    n_items: int,
    n_users: int,
    n_events: int,
    seed: int = 0,
    hnsw_m: int = 16,
    ef_construction: int = 100,
) -> Path:
    """A catalog of ``n_items`` with Zipf-popular events, an ALS version fitted on them and
    an HNSW index built with modest parameters (``M``, ``ef_construction``)."""
    import pyarrow as pa

    from roost.data.ingest import ingest_table
    from roost.index import index_version

    rng = np.random.default_rng(seed)
    ids = np.array([f"i{j}" for j in range(n_items)], dtype=object)
    cats = np.array(["news", "sport", "music", "film", "food"])[rng.integers(0, 5, n_items)]
    items = pa.table(
        {
            "id": ids.tolist(),
            "title": [f"item {j}" for j in range(n_items)],
            "category": cats.tolist(),
            "created_at": (1_700_000_000 - rng.integers(0, 365 * 86_400, n_items)).tolist(),
        }
    )
    pop = rng.zipf(1.3, n_events) % n_items
    users = rng.integers(0, n_users, n_events)
    events = pa.table(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": ids[pop].tolist(),
            "kind": ["click"] * n_events,
            "ts": (1_700_000_000 + rng.integers(0, 30 * 86_400, n_events)).tolist(),
        }
    )
    with open_store(path) as s:
        ingest_table(s, "items", items, source="synthetic items")
        ingest_table(s, "events", events, source="synthetic events")
        catalog = s.catalog()
    from roost.embed import get

    als = get("als")(factors=64, iterations=5, seed=seed).fit(catalog)
    es = als.embedding_set(catalog)
    with VersionStore(path) as vs:
        info = vs.put(es, users=als.user_embedding_set(catalog), alias="collab")
    t = time.perf_counter()
    m = index_version(
        es,
        info.id,
        Artifacts(path).index(info.id, "hnsw"),
        kind="hnsw",
        M=hnsw_m,
        ef_construction=ef_construction,
    )
    print(f"HNSW index: {time.perf_counter() - t:.1f} s, recall@10 {m.get('recall@10')}")
    (path / "surfaces.toml").write_text(
        "[home]\nfilters = ['seen', 'blocked', 'unsafe', 'in_stock']\n"
        + "".join(
            f"[[home.channels]]\nkind = '{k}'\n" + ("version = 'collab'\n" if v else "")
            for k, v in [
                ("item_to_item", 1),
                ("user_to_item", 1),
                ("cluster", 1),
                ("popular", 0),
                ("fresh", 0),
            ]
        )
    )
    return path


def implicit_model(home: Path):
    """implicit's ALS object holding the collab version's factors, and the user-item matrix."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares

    with VersionStore(home) as vs:
        v = vs.get("collab")
        item_ids = v.ids.tolist()
        user_ids = v.users.ids.tolist()
        with threadpool_limits(1, "blas"):  # implicit asks for single-threaded BLAS
            model = AlternatingLeastSquares(factors=v.dim)
        model.item_factors = np.ascontiguousarray(v.vectors, np.float32)
        model.user_factors = np.ascontiguousarray(v.users.vectors, np.float32)
    with open_store(home, create=False) as s:
        ev = s.read("events")
    items = {k: j for j, k in enumerate(item_ids)}
    users = {k: j for j, k in enumerate(user_ids)}
    rows, cols = [], []
    for u, i in zip(
        ev.column("user_id").to_pylist(), ev.column("item_id").to_pylist(), strict=True
    ):
        if u in users and i in items:
            rows.append(users[u])
            cols.append(items[i])
    ui = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(user_ids), len(item_ids))
    )
    ui.data[:] = 1.0
    return model, ui, users


def run(home: Path, requests: int, seed: int = 0) -> tuple[dict, dict, dict]:
    model, ui, users = implicit_model(home)
    rng = np.random.default_rng(seed)
    known = sorted(users)
    picks = [known[j] for j in rng.integers(0, len(known), requests)]
    cold = rng.random(requests) < 0.1
    picks = [f"cold-{j}" if c else u for j, (u, c) in enumerate(zip(picks, cold, strict=True))]
    eng = Engine.open(home)
    eng.neighbour_tables.join()  # built in the background at load; served from then on
    for u in picks[:50]:  # warm caches and lazy imports
        eng.recommend(u, k=10)
    eng.latency.reset()
    total = LatencyHistogram()
    with threadpool_limits(1):
        t0 = time.perf_counter()
        for u in picks:
            t = time.perf_counter()
            eng.recommend(u, k=10)
            total.record(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        base = LatencyHistogram()
        for u in picks:
            if u in users:
                row = users[u]
                t = time.perf_counter()
                model.recommend(row, ui[row], N=10, filter_already_liked_items=True)
                base.record(time.perf_counter() - t)
    snap = eng.latency.snapshot()
    eng.close()
    stages = {s: snap.get(f"recommend.{s}", {}) for s in STAGES}
    return stages, total.summary() | {"qps": requests / wall}, base.summary()


def table(name: str, stages: dict, total: dict, base: dict, requests: int) -> str:
    lines = [
        f"**{name}**, {requests:,} requests (k=10, explanations on, one thread):",
        "",
        "| stage | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for s, v in stages.items():
        if v:
            lines.append(f"| {s} | {v['p50']:.2f} | {v['p95']:.2f} | {v['p99']:.2f} |")
    lines.append(
        f"| **Engine.recommend** | {total['p50']:.2f} | {total['p95']:.2f} | {total['p99']:.2f} |"
    )
    lines.append(
        f"| implicit `recommend()` (same ALS) | {base['p50']:.3f} | {base['p95']:.3f} "
        f"| {base['p99']:.3f} |"
    )
    lines += [
        "",
        f"Engine / implicit at p50: {total['p50'] / base['p50']:.1f}x; Engine throughput "
        f"{total['qps']:.0f} requests/s.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="a home built already (default: build the demo)")
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--synthetic", type=int, default=0, help="also time a generated N-item catalog")
    ap.add_argument("--synthetic-requests", type=int, help="requests on it (default --requests)")
    ap.add_argument("--synthetic-users", type=int, default=100_000)
    ap.add_argument("--synthetic-events", type=int, default=2_000_000)
    ap.add_argument("--hnsw-m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--skip-demo", action="store_true", help="time the generated catalog only")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_demo:
            home = args.home or demo_home(Path(tmp) / "demo")
            stages, total, base = run(home, args.requests)
            name = "MovieTweetings 100K demo catalog"
            parts.append(table(name, stages, total, base, args.requests))
        if args.synthetic:
            t = time.perf_counter()
            syn = synthetic_home(
                Path(tmp) / "syn",
                args.synthetic,
                args.synthetic_users,
                args.synthetic_events,
                hnsw_m=args.hnsw_m,
                ef_construction=args.ef_construction,
            )
            built = time.perf_counter() - t
            print(f"synthetic home: {built:.1f} s")
            n = args.synthetic_requests or args.requests
            stages, total, base = run(syn, n)
            name = (
                f"Generated catalog, {args.synthetic:,} items, {args.synthetic_users:,} users, "
                f"{args.synthetic_events:,} events, HNSW index (M={args.hnsw_m}, "
                f"ef_construction={args.ef_construction}; home built in {built:.0f} s)"
            )
            parts.append(table(name, stages, total, base, n))
    body = "\n\n".join(parts)
    print(body)
    if not args.no_append:
        cmd = "python bench/recommend.py " + " ".join(sys.argv[1:])
        append("benchmarks.md", "Recommendation latency per stage", cmd, body)


if __name__ == "__main__":
    main()
