"""Search quality on BEIR SciFact (test: 300 claims, 5,183 abstracts): semantic, BM25,
hybrid, and MiniLM fine-tuned on the train claims.

Everything tuned is tuned on the train qrels only. The 809 train claims are split in two
(seeded): part A fine-tunes MiniLM (sentence-transformers' MultipleNegativesRankingLoss
over (claim, cited abstract, BM25 hard negative) rows, through roost.embed.finetune's
training loop); part B (held out from fine-tuning) picked the recipe (epochs, hard
negatives) and picks the fusion and its weight. BM25's k1 and b are picked on all train
claims (BM25 learns nothing from them). With --all-train the same recipe is also trained
on all 809 train claims, and fused as picked with the part-A model. The test qrels are
read once, at the end, for the table. Published references: all-MiniLM-L6-v2 0.645
(MTEB), BM25 0.665 (BEIR).

    .venv/bin/python bench/quality_scifact.py [PATH] [--epochs 3] [--hard-negatives 20]
        [--all-train] [--no-append]

PATH is the BEIR SciFact folder (default ../shared/data/beir-scifact); nothing is copied
from it. Encoded corpora and tuned models are cached under ~/.cache/roost/bench (by
recipe), so a second run only re-encodes the queries.
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
from roost.embed.finetune import FineTuned, _train, hard_negatives  # noqa: E402
from roost.embed.transformer import Transformer, resolve_model  # noqa: E402
from roost.evaluate.metrics import evaluate_run  # noqa: E402
from roost.search.fusion import complete, rrf, weighted  # noqa: E402
from roost.search.lexical import BM25Search  # noqa: E402
from roost.types import Hits  # noqa: E402

DEPTH = 100
METRICS = ("ndcg@10", "recall@100", "mrr@10")
CACHE = Path.home() / ".cache" / "roost" / "bench"
K1_GRID, B_GRID = (0.6, 0.9, 1.2, 1.5), (0.5, 0.75, 0.9)
RRF_K0 = (5, 10, 20, 40, 60)
WEIGHTS = (0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # semantic weight; lexical weight is 1


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


def training_rows(claims, train, queries, texts, row_of, lex: BM25Search | None, hard: int):
    """(claim, cited abstract[, hard negative]) text triples for fine-tuning.

    With ``hard`` > 0 each pair gets one negative drawn (seeded) from the claim's top
    ``hard`` BM25 hits that it does not cite: abstracts that share its words but do not
    support or refute it, harder than the in-batch negatives alone.
    """
    pairs = [(q, d) for q in claims for d in sorted(train[q]) if train[q][d] > 0 and d in row_of]
    if not hard:
        return [[queries[q], texts[row_of[d]]] for q, d in pairs]
    cited = {q: {d for d, g in train[q].items() if g > 0} for q in claims}
    neg = hard_negatives(lex, [queries[q] for q, _ in pairs], [cited[q] for q, _ in pairs],
                         hard, seed=42)  # fmt: skip
    return [[queries[q], texts[row_of[d]], texts[row_of[n]]]
            for (q, d), n in zip(pairs, neg, strict=True) if n is not None]  # fmt: skip


def finetune(rows: list[list[str]], args) -> Path:
    """MiniLM tuned on (claim, abstract[, negative]) rows; the folder is cached by its recipe."""
    if len(rows[0]) == 2:  # claims then abstracts, as the first version of this bench
        texts = [r[0] for r in rows] + [r[1] for r in rows]
        pairs = np.stack([np.arange(len(rows)), np.arange(len(rows)) + len(rows)], axis=1)
    else:
        texts = [t for r in rows for t in r]
        pairs = np.arange(len(texts)).reshape(len(rows), -1)
    recipe = {"n": len(rows), "epochs": args.epochs, "bs": args.batch, "lr": args.lr,
              "len": args.train_len, "seed": 42,
              "data": hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]}  # fmt: skip
    if len(rows[0]) > 2:
        recipe["columns"] = len(rows[0])
    folder = CACHE / (
        "scifact-ft-" + hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    )
    if (folder / "config.json").is_file():
        return folder
    p = FineTuned(epochs=args.epochs, train_batch_size=args.batch, learning_rate=args.lr,
                  max_length=args.train_len, seed=42, show_progress=True, threads=2)  # fmt: skip
    model = _train(resolve_model("all-MiniLM-L6-v2").folder, texts, pairs, p)
    tmp = folder.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    tmp.rename(folder)
    return folder


FUSION_KINDS = ("rrf", "weighted", "rescored-minmax", "rescored-zscore")


def fuse(name: str, runs: list[Hits], full: list[Hits], w: float, k0: float) -> Hits:
    """``runs``: semantic and BM25 top-DEPTH; ``full``: the same completed over their union."""
    if name == "rrf":
        return rrf(runs, k=DEPTH, k0=k0, weights=[w, 1.0])
    if name == "weighted":
        return weighted(runs, k=DEPTH, weights=[w, 1.0])
    return weighted(full, k=DEPTH, weights=[w, 1.0], normalize=name.split("-")[1])


def label(f) -> str:
    what = {"rrf": "RRF", "weighted": "weighted fusion",
            "rescored-minmax": "weighted fusion, rescored union, min-max",
            "rescored-zscore": "weighted fusion, rescored union, z-score"}[f[0]]  # fmt: skip
    return f"{what}, w_sem={f[1]:g}" + (f", k0={f[2]:g}" if f[0] == "rrf" else "")


def pick_fusion(runs: list[Hits], full: list[Hits], qids, qrels) -> tuple[str, float, float, float]:
    best = ("rrf", 1.0, 60.0, -1.0)
    for name in FUSION_KINDS:
        for w in WEIGHTS:
            for k0 in RRF_K0 if name == "rrf" else (0.0,):
                v = score(fuse(name, runs, full, w, k0), qids, qrels)["ndcg@10"]
                if v > best[3]:
                    best = (name, w, k0, v)
    return best


class Part:
    """One set of claims: texts, BM25 hits and their scorer, for one or more encoders."""

    def __init__(self, qids: list[str], queries: dict, lex: BM25Search, row_of: dict):
        self.qids = qids
        self.texts = [queries[q] for q in qids]
        self.lex_hits = lex.search(self.texts, DEPTH)
        self.lex, self.row_of = lex, row_of

    def runs(self, enc: Transformer, corpus: np.ndarray, ids: np.ndarray):
        """(semantic, BM25) top-DEPTH hits, and both rescored over their union."""
        q = enc.encode(self.texts)
        sem = dense(q, corpus, ids, DEPTH)
        rows = self.row_of
        full = complete([sem, self.lex_hits], [
            lambda i, found: q[i] @ corpus[[rows[d] for d in found]].T,
            lambda i, found: self.lex.score([self.texts[i]], found)[0]])  # fmt: skip
        return [sem, self.lex_hits], full


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "path",
        nargs="?",
        default=str(Path(__file__).resolve().parents[2] / "shared/data/beir-scifact"),
    )
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--train-len", type=int, default=192)
    ap.add_argument(
        "--hard-negatives",
        type=int,
        default=20,
        help="each pair's negative from the claim's top N BM25 hits; 0: none",
    )
    ap.add_argument("--all-train", action="store_true",
                    help="also fine-tune on all train claims (fusion still picked on part B "
                         "with the part-A model)")  # fmt: skip
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
    row_of = {k: i for i, k in enumerate(ids)}
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
    tst, pb = Part(test_q, queries, bm, row_of), Part(part_b, queries, bm, row_of)
    notes.append(f"BM25 grid k1 {K1_GRID} x b {B_GRID} on the 809 train claims: "
                 f"k1={best_bm[0]}, b={best_bm[1]} (train nDCG@10 {best_bm[2]:.4f}); "
                 f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    rows["BM25 (bm25s, Lucene, stemmed), k1=1.2 b=0.75"] = score(
        bm_default.search(tst.texts, DEPTH), test_q, test)  # fmt: skip
    rows[f"BM25 tuned on train, k1={best_bm[0]} b={best_bm[1]}"] = score(tst.lex_hits, test_q, test)
    print(rows, flush=True)

    # --- MiniLM int8, as shipped ------------------------------------------------------
    t0 = time.perf_counter()
    base = Transformer(onnx_model="packaged", max_length=256)
    from roost.data.frames import Catalog

    one = Catalog.from_pydict(items={"id": ["x"], "title": ["x"]})
    base.fit(one)
    xb = encode_corpus(base, texts, "minilm-int8", not args.no_cache)
    runs_t, full_t = tst.runs(base, xb, ids)
    runs_b, full_b = pb.runs(base, xb, ids)
    notes.append(f"MiniLM int8 corpus encoding: {time.perf_counter() - t0:.0f} s")
    rows["Semantic: all-MiniLM-L6-v2 int8 ONNX"] = score(runs_t[0], test_q, test)
    rows["Hybrid RRF (k0=60, equal weights), MiniLM + tuned BM25"] = score(
        rrf(runs_t, k=DEPTH), test_q, test)  # fmt: skip
    f = pick_fusion(runs_b, full_b, part_b, train)
    rows[f"Hybrid {label(f)} (picked on part B), MiniLM + tuned BM25"] = score(
        fuse(f[0], runs_t, full_t, f[1], f[2]), test_q, test)  # fmt: skip
    print(rows, flush=True)

    # --- MiniLM fine-tuned on train part A ----------------------------------------------
    what = (f"{args.epochs} epoch(s), BM25 hard negatives (top {args.hard_negatives})"
            if args.hard_negatives else f"{args.epochs} epoch(s), in-batch negatives")  # fmt: skip
    t0 = time.perf_counter()
    train_rows = training_rows(part_a, train, queries, texts, row_of, bm, args.hard_negatives)
    folder = finetune(train_rows, args)
    t_ft = time.perf_counter() - t0
    t0 = time.perf_counter()
    tuned = Transformer(model=str(folder), onnx_model="optimized", max_length=256).fit(one)
    xt = encode_corpus(tuned, texts, "ft-" + folder.name, not args.no_cache)
    runs_t, full_t = tst.runs(tuned, xt, ids)
    runs_b, full_b = pb.runs(tuned, xt, ids)
    notes.append(f"fine-tuning ({what}) on {len(train_rows)} rows of {len(part_a)} train "
                 f"claims, batch {args.batch}, lr {args.lr}, {args.train_len} tokens: {t_ft:.0f} s "
                 f"(0 when cached); int8 export and corpus encoding "
                 f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    rows[f"Semantic: MiniLM fine-tuned on part A, {what} (int8 ONNX)"] = score(
        runs_t[0], test_q, test)  # fmt: skip
    rows[f"Hybrid RRF (k0=60, equal weights), fine-tuned ({what}) + tuned BM25"] = score(
        rrf(runs_t, k=DEPTH), test_q, test)  # fmt: skip
    f = pick_fusion(runs_b, full_b, part_b, train)
    notes.append(f"fusion for the model fine-tuned with {what}, picked on part B "
                 f"({len(part_b)} claims): {label(f)} (part B nDCG@10 {f[3]:.4f})")  # fmt: skip
    rows[f"Hybrid {label(f)} (picked on part B), fine-tuned ({what}) + tuned BM25"] = score(
        fuse(f[0], runs_t, full_t, f[1], f[2]), test_q, test)  # fmt: skip
    print(rows, flush=True)

    if args.all_train:  # the last recipe again on all 809 train claims; fusion as picked above
        t0 = time.perf_counter()
        train_rows = training_rows(train_q, train, queries, texts, row_of, bm, args.hard_negatives)
        folder = finetune(train_rows, args)
        tuned = Transformer(model=str(folder), onnx_model="optimized", max_length=256).fit(one)
        xt = encode_corpus(tuned, texts, "ft-" + folder.name, not args.no_cache)
        runs_t, full_t = tst.runs(tuned, xt, ids)
        notes.append(f"fine-tuning ({what}) on {len(train_rows)} rows of all "
                     f"{len(train_q)} train claims, fusion as picked with the part-A model: "
                     f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        rows[f"Semantic: MiniLM fine-tuned on all train claims, {what}"] = score(
            runs_t[0], test_q, test)  # fmt: skip
        rows[f"Hybrid {label(f)} (picked on part B with the part-A model), fine-tuned on all "
             "train claims + tuned BM25"] = score(fuse(f[0], runs_t, full_t, f[1], f[2]),
                                                  test_q, test)  # fmt: skip

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
        cmd = "python bench/quality_scifact.py " + " ".join(sys.argv[1:])
        append("quality.md", "Search quality on SciFact", cmd.strip(), body)


if __name__ == "__main__":
    main()
