"""Overhead of Roost's embedders over the library they wrap, called directly on the same data.

Each case times Roost's ``fit`` on a catalog against the underlying library called by hand
on the same input, with the same parameters and threads, interleaved (Roost, library,
Roost, ...) so that load on the shared machine hits both alike; medians of wall and of
process CPU time are reported (CPU time is the steadier figure on a busy machine).

Cases live in ``CASES`` (name -> function returning ``Case`` objects); a new one (ALS
against implicit, say) is a function and one line in ``CASES``.

als: Roost ``ALS.fit(catalog)`` against implicit's CPU ALS on a CSR built from the same
events with pandas and scipy (see ``als_cases``), on ML-100K from ../shared/data and the
bundled MovieTweetings-100K (MovieTweetings only with ``--data bundled``).

word2vec: Roost ``Word2Vec.fit(catalog)`` (joins the item text, tokenises, trains gensim,
copies the vectors out, counts document frequencies) against
``gensim.models.Word2Vec(tokens, ...)`` on the same texts tokenised by the same tokenizer
(a user of gensim has to tokenise too). Corpus: BEIR SciFact titles and abstracts (5,183
documents, about 1.1M tokens) from ../shared/data, or with ``--data bundled`` the
MovieTweetings titles that ship with Roost (tiny: timings are then mostly noise).

    .venv/bin/python bench/embed_overhead.py [--case word2vec] [--repeat 3] [--workers 1]
        [--epochs 5] [--data PATH|bundled] [--no-append]
    .venv/bin/python bench/embed_overhead.py --case als --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import append  # noqa: E402
from roost.data.frames import Catalog  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class Case:
    name: str  # row label, e.g. "word2vec CBOW"
    library: str  # what "direct" calls, with its version
    roost: Callable[[], object]
    direct: Callable[[], object]


# --- word2vec -----------------------------------------------------------------------------
def scifact_texts(root: Path) -> tuple[list[str], list[str], list[str], str]:
    ids, titles, texts = [], [], []
    with open(root / "beir-scifact" / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            ids.append(doc["_id"])
            titles.append(doc.get("title") or "")
            texts.append(doc.get("text") or "")
    return ids, titles, texts, "BEIR SciFact corpus (titles + abstracts)"


def bundled_texts() -> tuple[list[str], list[str], list[str], str]:
    from roost.data.datasets.movietweetings import bundled_path

    ids, titles = [], []
    for line in (bundled_path() / "movies.dat").read_text(encoding="utf-8").splitlines():
        parts = line.split("::")
        ids.append(parts[0])
        titles.append(parts[1])
    return ids, titles, [""] * len(ids), "MovieTweetings titles (bundled)"


def word2vec_cases(args: argparse.Namespace) -> tuple[list[Case], str]:
    import gensim
    from gensim.models import Word2Vec as GensimWord2Vec

    from roost.embed.compose import document_frequencies, item_units, tokenize
    from roost.embed.words import Word2Vec

    ids, titles, texts, what = bundled_texts() if args.data == "bundled" else scifact_texts(
        Path(args.data))  # fmt: skip
    catalog = Catalog.from_pydict(items={"id": ids, "title": titles, "text": texts})
    joined = [f"{a} {b}".strip() for a, b in zip(titles, texts, strict=True)]
    n_tokens = sum(len(tokenize(t)) for t in joined)
    cases = []
    for sg, label in ((0, "CBOW"), (1, "skip-gram")):
        params = dict(vector_size=100, sg=sg, window=5, negative=5, sample=1e-3, min_count=5,
                      epochs=args.epochs, seed=0, workers=args.workers)  # fmt: skip

        def roost(params=params):
            return Word2Vec(fields=("title", "text"), **params).fit(catalog)

        def direct(params=params):
            tokens = [tokenize(t) for t in joined]
            return GensimWord2Vec(tokens, hs=0, **params)

        cases.append(Case(f"word2vec {label}", f"gensim {gensim.__version__} Word2Vec", roost,
                          direct))  # fmt: skip
    # The steps Roost adds around gensim, timed alone (tokenising is on both sides):
    # joining the item columns, and the document frequencies the IDF weighting needs.
    own = []
    for _ in range(5):
        c = time.process_time()
        units = item_units(catalog, "text", ("title", "text"))
        t_join_tok = time.process_time() - c
        c = time.process_time()
        document_frequencies(units)
        own.append((t_join_tok, time.process_time() - c))
    c = time.process_time()
    for _ in range(5):
        [tokenize(t) for t in joined]
    t_tok = (time.process_time() - c) / 5
    join = max(statistics.median(o[0] for o in own) - t_tok, 0.0)
    df = statistics.median(o[1] for o in own)
    setup = (f"{what}: {len(ids):,} documents, {n_tokens:,} tokens; vector_size 100, window 5, "
             f"negative 5, sample 1e-3, min_count 5, {args.epochs} epochs, "
             f"{args.workers} worker thread(s). Steps Roost adds around gensim, timed alone "
             f"(CPU, median of 5): joining item columns {1000 * join:.0f} ms, document "
             f"frequencies {1000 * df:.0f} ms (tokenising, {1000 * t_tok:.0f} ms, is on both "
             "sides)")  # fmt: skip
    return cases, setup


# --- ALS ----------------------------------------------------------------------------------
def als_cases(args: argparse.Namespace) -> tuple[list[Case], str]:
    """ALS through Roost against implicit on the same events.

    Direct: what a user of implicit writes: user and item ids to codes with
    ``pandas.factorize`` (from the same Arrow event columns), a binary CSR with scipy, then
    ``AlternatingLeastSquares.fit`` under ``threadpool_limits(1, "blas")`` as implicit asks.
    Roost: ``ALS.fit(catalog)``, which maps ids through ``Catalog.interactions``, fits the
    same model and keeps ids, the cold-item fallback and the fingerprint.
    """
    import implicit  # before any BLAS limit: threadpoolctl only limits libraries loaded
    import implicit.cpu.als
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from roost.data import datasets
    from roost.embed.mf import ALS

    params = dict(factors=64, iterations=15, regularization=0.01, alpha=1.0)

    def fit_implicit(m):
        with threadpool_limits(1, "blas"):
            model = implicit.cpu.als.AlternatingLeastSquares(
                **params, random_state=0, num_threads=args.workers
            )
            model.fit(m, show_progress=False)
        return model.item_factors

    def direct_on(events):
        users, user_ids = pd.factorize(events.column("user_id").to_numpy(zero_copy_only=False))
        items, item_ids = pd.factorize(events.column("item_id").to_numpy(zero_copy_only=False))
        m = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)),
                          shape=(len(user_ids), len(item_ids)))  # fmt: skip
        m.sum_duplicates()
        m.data[:] = 1.0
        return fit_implicit(m)

    sets = {"MovieTweetings-100K": lambda: datasets.load("movietweetings").catalog()}
    if args.data != "bundled":
        sets = {"ML-100K": lambda: datasets.load("ml-100k", Path(args.data) / "ml-100k").catalog(),
                **sets}  # fmt: skip
    cases, notes = [], []
    for label, load in sets.items():
        catalog = load()
        catalog.fingerprint  # noqa: B018  (cached; hashing the tables is not ALS's cost)
        inter = catalog.interactions()
        roost_model = ALS(**params, n_threads=args.workers)
        same = np.array_equal(roost_model.fit(catalog).item_vectors_, fit_implicit(inter.to_csr()))
        mapping = min(timed(catalog.interactions)[1] for _ in range(5))
        notes.append(f"{label} {inter.shape[0]:,} users x {inter.shape[1]:,} items, "
                     f"{len(inter):,} events: Catalog.interactions alone {mapping * 1e3:.0f} ms "
                     f"CPU; Roost's factors bit-identical to implicit's on the same CSR: "
                     f"{'yes' if same else 'NO'}")  # fmt: skip
        cases.append(Case(f"ALS {label}", f"implicit {implicit.__version__} cpu ALS",
                          lambda c=catalog, m=roost_model: m.fit(c),
                          lambda ev=catalog.events: direct_on(ev)))  # fmt: skip
    setup = (f"factors 64, 15 iterations, regularization 0.01, alpha 1, seed 0, "
             f"{args.workers} implicit thread(s) and 1 BLAS thread on both sides; "
             + "; ".join(notes))  # fmt: skip
    return cases, setup


CASES: dict[str, Callable[[argparse.Namespace], tuple[list[Case], str]]] = {
    "word2vec": word2vec_cases,
    "als": als_cases,
}


# --- the runner ---------------------------------------------------------------------------
def timed(fn: Callable[[], object]) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def run(case: Case, repeat: int) -> dict:
    timed(case.roost)  # warm-up: imports, page cache
    timed(case.direct)
    mine, theirs = [], []
    for _ in range(repeat):
        mine.append(timed(case.roost))
        theirs.append(timed(case.direct))
    out = {"case": case.name, "library": case.library}
    for k, i in (("wall", 0), ("cpu", 1)):
        out[f"roost_{k}"] = statistics.median(t[i] for t in mine)
        out[f"direct_{k}"] = statistics.median(t[i] for t in theirs)
        out[f"ratio_{k}"] = out[f"roost_{k}"] / out[f"direct_{k}"]
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| case | library called directly | Roost wall (s) | direct wall (s) | wall ratio "
        "| Roost CPU (s) | direct CPU (s) | CPU ratio | overhead (CPU) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['library']} | {r['roost_wall']:.2f} | {r['direct_wall']:.2f} "
            f"| {r['ratio_wall']:.3f} | {r['roost_cpu']:.2f} | {r['direct_cpu']:.2f} "
            f"| {r['ratio_cpu']:.3f} | {100 * (r['ratio_cpu'] - 1):+.1f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", default=str(SHARED), help="shared data folder, or 'bundled'")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    sections = []
    for name in args.case or sorted(CASES):
        cases, setup = CASES[name](args)
        rows = [run(c, args.repeat) for c in cases]
        body = f"{setup}; median of {args.repeat} interleaved runs after a warm-up.\n\n{table(rows)}"
        print(body, "\n")
        sections.append((name, body))
    note = (f"\n\nLoad average (1 min) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
            "end: the machine is shared, so wall times carry other processes' load; the CPU "
            "ratio is the overhead figure.")  # fmt: skip
    if not args.no_append:
        command = "python bench/embed_overhead.py " + " ".join(sys.argv[1:])
        body = "\n\n".join(f"**{name}**: {b}" for name, b in sections) + note
        append("benchmarks.md", "Embedder overhead over the wrapped library", command.strip(), body)


if __name__ == "__main__":
    main()
