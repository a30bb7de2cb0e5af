"""Lexical library choice: bm25s against tantivy on BEIR SciFact (5,183 abstracts, 300
test claims): index time, queries per second and nDCG@10, with the same tokenisation
where possible.

Rows:
- bm25s, our tokenisation (regex words, English stop words, Snowball stemmer): what
  roost.search.lexical serves; batch retrieval, one thread.
- tantivy, the same tokens: bm25s's tokenizer output joined by spaces and indexed with
  tantivy's whitespace-and-lowercase tokenizer, so only the BM25 engines differ.
- tantivy, its own ``en_stem`` analyzer (no stop words): tantivy as a user would run it.
- Roost's BM25Search (the wrapper): the overhead over bm25s itself.

Queries are answered one at a time for tantivy (its Python API has no batch search) and
both one at a time and as one batch for bm25s. Top 10, BM25 k1=1.2, b=0.75 everywhere.

    .venv/bin/python bench/search_lexical.py [PATH] [--repeat 3] [--no-append]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import append  # noqa: E402
from roost.data.datasets import load  # noqa: E402
from roost.evaluate.metrics import evaluate_run  # noqa: E402
from roost.search.lexical import BM25Search  # noqa: E402


def best(f, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def ndcg(run: dict, qrels: dict) -> float:
    return evaluate_run(run, qrels, ["ndcg@10"]).metrics["ndcg@10"]


def bm25s_rows(ids, texts, qtexts, qids, qrels, repeat):
    import bm25s
    import Stemmer

    stem = Stemmer.Stemmer("english")

    def build():
        m = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        m.index(bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False),
                show_progress=False)  # fmt: skip
        return m

    t_index, model = best(build, repeat)

    def batch():
        toks = bm25s.tokenize(qtexts, stopwords="en", stemmer=stem, show_progress=False)
        return model.retrieve(toks, k=10, show_progress=False, n_threads=1)

    def one_by_one():
        for q in qtexts:
            toks = bm25s.tokenize([q], stopwords="en", stemmer=stem, show_progress=False)
            model.retrieve(toks, k=10, show_progress=False, n_threads=1)

    t_batch, (docs, scores) = best(batch, repeat)
    t_one, _ = best(one_by_one, repeat)
    run = {q: {ids[d]: float(s) for d, s in zip(docs[i], scores[i], strict=True)}
           for i, q in enumerate(qids)}  # fmt: skip
    return t_index, t_one, t_batch, ndcg(run, qrels)


def roost_rows(ids, texts, qtexts, qids, qrels, repeat):
    t_index, lex = best(lambda: BM25Search().fit(ids, texts), repeat)

    def one_by_one():
        return [lex.search([q], 10).row(0) for q in qtexts]

    t_one, rows = best(one_by_one, repeat)
    t_batch, _ = best(lambda: lex.search(qtexts, 10), repeat)
    run = {q: dict(rows[i]) for i, q in enumerate(qids)}
    return t_index, t_one, t_batch, ndcg(run, qrels)


def tantivy_rows(ids, texts, qtexts, qids, qrels, repeat, pretokenized: bool):
    import tantivy

    tokenizer = "whitespace" if pretokenized else "en_stem"
    if pretokenized:
        import bm25s
        import Stemmer

        stem = Stemmer.Stemmer("english")

        def words(xs):
            toks = bm25s.tokenize(xs, stopwords="en", stemmer=stem, show_progress=False,
                                  return_ids=False)  # fmt: skip
            return [" ".join(t) for t in toks]

        docs_in, queries_in = words(texts), words(qtexts)
    else:
        docs_in, queries_in = texts, qtexts

    def build():
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("body", stored=False, tokenizer_name=tokenizer)
        ix = tantivy.Index(sb.build())
        w = ix.writer(heap_size=200_000_000, num_threads=1)
        for i, t in zip(ids, docs_in, strict=True):
            w.add_document(tantivy.Document(id=i, body=t))
        w.commit()
        w.wait_merging_threads()
        ix.reload()
        return ix

    t_index, ix = best(build, repeat)
    searcher = ix.searcher()

    def one_by_one():
        out = []
        for q in queries_in:
            query, _errors = ix.parse_query_lenient(q, ["body"])
            hits = searcher.search(query, 10).hits
            out.append({searcher.doc(a)["id"][0]: float(s) for s, a in hits})
        return out

    t_one, runs = best(one_by_one, repeat)
    run = {q: runs[i] for i, q in enumerate(qids)}
    return t_index, t_one, None, ndcg(run, qrels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "path",
        nargs="?",
        default=str(Path(__file__).resolve().parents[2] / "shared/data/beir-scifact"),
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    ds = load("beir", args.path)
    ids = [str(x) for x in ds.items.column("id").to_pylist()]
    texts = [f"{t or ''} {b or ''}".strip() for t, b in zip(ds.items.column("title").to_pylist(),
                                                          ds.items.column("text").to_pylist(), strict=True)]  # fmt: skip
    queries, qrels = ds.extra["queries"], ds.extra["qrels"]["test"]
    qids = [q for q in qrels if q in queries]
    qtexts = [queries[q] for q in qids]
    results = {
        "bm25s, stop words + Snowball stemmer": bm25s_rows(ids, texts, qtexts, qids, qrels, args.repeat),
        "Roost BM25Search (on bm25s), same tokenisation": roost_rows(ids, texts, qtexts, qids, qrels, args.repeat),
        "tantivy, the same tokens as bm25s": tantivy_rows(ids, texts, qtexts, qids, qrels, args.repeat, True),
        "tantivy, its en_stem analyzer": tantivy_rows(ids, texts, qtexts, qids, qrels, args.repeat, False),
    }  # fmt: skip
    base_one = results["bm25s, stop words + Snowball stemmer"][1]
    lines = ["| library | index s | QPS one by one | QPS batch | one-by-one time vs bm25s | nDCG@10 |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    n = len(qtexts)
    for name, (ti, t1, tb, nd) in results.items():
        qb = f"{n / tb:,.0f}" if tb else "n/a"
        lines.append(
            f"| {name} | {ti:.2f} | {n / t1:,.0f} | {qb} | {t1 / base_one:.2f}x | {nd:.4f} |"
        )
    body = (f"SciFact, {len(ids):,} abstracts (title + text), {n} test claims, top 10, one thread, "
            f"best of {args.repeat}. bm25s {md.version('bm25s')}, tantivy {md.version('tantivy')}.\n\n"
            + "\n".join(lines) + "\n")  # fmt: skip
    print(body)
    if not args.no_append:
        append(
            "benchmarks.md",
            "Lexical search: bm25s vs tantivy",
            "python bench/search_lexical.py",
            body,
        )


if __name__ == "__main__":
    main()
