"""Search quality on BEIR SciFact (test: 300 claims, 5,183 abstracts): semantic, BM25,
hybrid, and MiniLM fine-tuned on the train claims.

Everything tuned is tuned on the train qrels only. The 809 train claims are split in two
(seeded): part A fine-tunes MiniLM (sentence-transformers' MultipleNegativesRankingLoss
over (claim, cited abstract) pairs, through roost.embed.finetune's training loop); part B
(held out from fine-tuning) picks the fusion and its weights. BM25's k1 and b are picked
on all train claims (BM25 learns nothing from them). The test qrels are read once, at the
end, for the table. Published references: all-MiniLM-L6-v2 0.645 (MTEB), BM25 0.665 (BEIR).

    .venv/bin/python bench/quality_scifact.py [PATH] [--epochs 1] [--no-append]

PATH is the BEIR SciFact folder (default ../shared/data/beir-scifact); nothing is copied
from it. Encoded corpora and the tuned model are cached under ~/.cache/roost/bench.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import append  # noqa: E402
from roost.data.datasets import load  # noqa: E402
from roost.embed.finetune import FineTuned, _train  # noqa: E402
from roost.embed.transformer import Transformer, resolve_model  # noqa: E402
from roost.evaluate.metrics import evaluate_run  # noqa: E402
from roost.search.fusion import rrf, weighted  # noqa: E402
from roost.search.lexical import BM25Search  # noqa: E402
from roost.types import Hits  # noqa: E402

DEPTH = 100
METRICS = ("ndcg@10", "recall@100", "mrr@10")
CACHE = Path.home() / ".cache" / "roost" / "bench"
K1_GRID, B_GRID = (0.6, 0.9, 1.2, 1.5), (0.5, 0.75, 0.9)
RRF_K0 = (5, 10, 20, 40, 60)
WEIGHTS = (0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)  # semantic weight; lexical weight is 1


def run_of(hits: Hits, qids: list[str]) -> dict[str, dict[str, float]]:
    return {q: dict(hits.row(i)) for i, q in enumerate(qids)}


def score(hits: Hits, qids: list[str], qrels: dict) -> dict[str, float]:
    sub = {q: qrels[q] for q in qids if q in qrels}
    return evaluate_run(run_of(hits, qids), sub, METRICS).metrics


def dense(queries: np.ndarray, corpus: np.ndarray, ids: np.ndarray, k: int) -> Hits:
    s = queries @ corpus.T
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return Hits(ids[top], np.take_along_axis(s, top, 1).astype(np.float32))


def encode_corpus(enc: Transformer, texts: list[str], tag: str, use_cache: bool) -> np.ndarray:
    path = CACHE / f"scifact-{tag}.npy"
    if use_cache and path.is_file():
        return np.load(path)
    x = enc.encode(texts)
    if use_cache:
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, x)
    return x


def finetune(pairs_q: list[str], pairs_d: list[str], args) -> Path:
    """MiniLM tuned on (claim, abstract) pairs; the folder is cached by its recipe."""
    recipe = {"n": len(pairs_q), "epochs": args.epochs, "bs": args.batch, "lr": args.lr,
              "len": args.train_len, "seed": 42,
              "data": hashlib.sha256("\n".join(pairs_q + pairs_d).encode()).hexdigest()[:12]}  # fmt: skip
    folder = CACHE / (
        "scifact-ft-" + hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    )
    if (folder / "config.json").is_file():
        return folder
    texts = pairs_q + pairs_d
    n = len(pairs_q)
    pairs = np.stack([np.arange(n), np.arange(n) + n], axis=1)
    p = FineTuned(epochs=args.epochs, train_batch_size=args.batch, learning_rate=args.lr,
                  max_length=args.train_len, seed=42, show_progress=True)  # fmt: skip
    model = _train(resolve_model("all-MiniLM-L6-v2").folder, texts, pairs, p)
    tmp = folder.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    tmp.rename(folder)
    return folder


def fuse(name: str, runs: list[Hits], w: float, k0: float) -> Hits:
    if name == "rrf":
        return rrf(runs, k=DEPTH, k0=k0, weights=[w, 1.0])
    return weighted(runs, k=DEPTH, weights=[w, 1.0])


def pick_fusion(sem: Hits, lex: Hits, qids, qrels) -> tuple[str, float, float, float]:
    best = ("rrf", 1.0, 60.0, -1.0)
    for name in ("rrf", "weighted"):
        for w in WEIGHTS:
            for k0 in RRF_K0 if name == "rrf" else (0.0,):
                v = score(fuse(name, [sem, lex], w, k0), qids, qrels)["ndcg@10"]
                if v > best[3]:
                    best = (name, w, k0, v)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "path",
        nargs="?",
        default=str(Path(__file__).resolve().parents[2] / "shared/data/beir-scifact"),
    )
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--train-len", type=int, default=192)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    t_all = time.perf_counter()
    ds = load("beir", args.path)
    ids = np.asarray(ds.items.column("id").to_pylist(), object)
    titles = ds.items.column("title").to_pylist()
    bodies = ds.items.column("text").to_pylist()
    texts = [f"{t or ''} {b or ''}".strip() for t, b in zip(titles, bodies, strict=True)]
    queries, qrels = ds.extra["queries"], ds.extra["qrels"]
    train, test = qrels["train"], qrels["test"]
    test_q = [q for q in test if q in queries]
    train_q = sorted(q for q in train if q in queries)
    rng = np.random.default_rng(42)
    order = rng.permutation(len(train_q))
    part_b = sorted(train_q[i] for i in order[: len(train_q) // 5])
    part_a = sorted(set(train_q) - set(part_b))
    rows, notes = {}, []

    # --- BM25: k1, b on the train claims ------------------------------------------------
    t0 = time.perf_counter()
    best_bm = (1.2, 0.75, -1.0)
    for k1 in K1_GRID:
        for b in B_GRID:
            lex = BM25Search(k1=k1, b=b).fit(ids, texts)
            v = score(lex.search([queries[q] for q in train_q], DEPTH), train_q, train)["ndcg@10"]
            if v > best_bm[2]:
                best_bm = (k1, b, v)
    bm_default = BM25Search().fit(ids, texts)
    bm = BM25Search(k1=best_bm[0], b=best_bm[1]).fit(ids, texts)
    lex_test = {"default": bm_default.search([queries[q] for q in test_q], DEPTH),
                "tuned": bm.search([queries[q] for q in test_q], DEPTH)}  # fmt: skip
    lex_b = bm.search([queries[q] for q in part_b], DEPTH)
    notes.append(f"BM25 grid k1 {K1_GRID} x b {B_GRID} on the 809 train claims: "
                 f"k1={best_bm[0]}, b={best_bm[1]} (train nDCG@10 {best_bm[2]:.4f}); "
                 f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    rows["BM25 (bm25s, Lucene, stemmed), k1=1.2 b=0.75"] = score(lex_test["default"], test_q, test)
    rows[f"BM25 tuned on train, k1={best_bm[0]} b={best_bm[1]}"] = score(
        lex_test["tuned"], test_q, test
    )
    print(rows, flush=True)

    # --- MiniLM int8, as shipped ------------------------------------------------------
    t0 = time.perf_counter()
    base = Transformer(onnx_model="packaged", max_length=256)
    from roost.data.frames import Catalog

    one = Catalog.from_pydict(items={"id": ["x"], "title": ["x"]})
    base.fit(one)
    xb = encode_corpus(base, texts, "minilm-int8", not args.no_cache)
    sem_test = dense(base.encode([queries[q] for q in test_q]), xb, ids, DEPTH)
    sem_b = dense(base.encode([queries[q] for q in part_b]), xb, ids, DEPTH)
    notes.append(f"MiniLM int8 corpus encoding: {time.perf_counter() - t0:.0f} s")
    rows["Semantic: all-MiniLM-L6-v2 int8 ONNX"] = score(sem_test, test_q, test)
    rows["Hybrid RRF (k0=60, equal weights), MiniLM + tuned BM25"] = score(
        rrf([sem_test, lex_test["tuned"]], k=DEPTH), test_q, test)  # fmt: skip
    f = pick_fusion(sem_b, lex_b, part_b, train)
    rows[f"Hybrid {f[0]} tuned on train part B (w_sem={f[1]}" + (f", k0={f[2]:g})" if f[0] == "rrf" else ")")] = score(
        fuse(f[0], [sem_test, lex_test["tuned"]], f[1], f[2]), test_q, test)  # fmt: skip
    print(rows, flush=True)

    # --- MiniLM fine-tuned on train part A ----------------------------------------------
    t0 = time.perf_counter()
    row_of = {k: i for i, k in enumerate(ids)}
    pq, pd = [], []
    for q in part_a:
        for d, g in train[q].items():
            if g > 0 and d in row_of:
                pq.append(queries[q])
                pd.append(texts[row_of[d]])
    folder = finetune(pq, pd, args)
    t_ft = time.perf_counter() - t0
    t0 = time.perf_counter()
    tuned = Transformer(model=str(folder), onnx_model="optimized", max_length=256).fit(one)
    tag = "ft-" + folder.name
    xt = encode_corpus(tuned, texts, tag, not args.no_cache)
    ft_test = dense(tuned.encode([queries[q] for q in test_q]), xt, ids, DEPTH)
    ft_b = dense(tuned.encode([queries[q] for q in part_b]), xt, ids, DEPTH)
    notes.append(f"fine-tuning on {len(pq)} (claim, abstract) pairs of {len(part_a)} train claims, "
                 f"{args.epochs} epoch(s), batch {args.batch}, lr {args.lr}, {args.train_len} "
                 f"tokens: {t_ft:.0f} s; int8 export and corpus encoding "
                 f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    rows["Semantic: MiniLM fine-tuned on train part A (int8 ONNX)"] = score(ft_test, test_q, test)
    rows["Hybrid RRF (k0=60, equal weights), fine-tuned + tuned BM25"] = score(
        rrf([ft_test, lex_test["tuned"]], k=DEPTH), test_q, test)  # fmt: skip
    f = pick_fusion(ft_b, lex_b, part_b, train)
    notes.append(f"fusion picked on train part B ({len(part_b)} claims): {f[0]}, semantic weight "
                 f"{f[1]}" + (f", k0 {f[2]:g}" if f[0] == "rrf" else "") + f" (part B nDCG@10 {f[3]:.4f})")  # fmt: skip
    rows[f"Hybrid {f[0]} tuned on train part B (w_sem={f[1]}" + (f", k0={f[2]:g})" if f[0] == "rrf" else ")") + ", fine-tuned + tuned BM25"] = score(
        fuse(f[0], [ft_test, lex_test["tuned"]], f[1], f[2]), test_q, test)  # fmt: skip

    lines = ["| pipeline | nDCG@10 | Recall@100 | MRR@10 |", "|---|---|---|---|",
             "| published: all-MiniLM-L6-v2 (MTEB) | 0.645 | | |",
             "| published: BM25 (BEIR, Anserini) | 0.665 | | |"]  # fmt: skip
    for name, m in rows.items():
        lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} |")
    body = ("SciFact test (300 claims, 5,183 abstracts, title + text). Tuning used the train "
            "qrels only; the test qrels were read once for this table.\n\n" + "\n".join(lines)
            + "\n\n" + "\n".join(f"- {n}" for n in notes)
            + f"\n- whole run {time.perf_counter() - t_all:.0f} s\n")  # fmt: skip
    print(body)
    if not args.no_append:
        append("quality.md", "Search quality on SciFact", "python bench/quality_scifact.py", body)


if __name__ == "__main__":
    main()
