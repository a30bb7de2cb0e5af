"""Recommendation quality on MovieLens 100K: Roost's baselines against implicit's models.

Two protocols, full ranking over all items with each user's training items removed, every
rating an interaction (binary relevance), top 10:

1. Microsoft Recommenders' benchmark: a per-user stratified random split, 75/25, seed 42.
2. The official u1-u5 folds, mean and standard deviation over the five.

Hyperparameters (EASE's l2, ItemKNN's neighbours) are picked on a 75/25 stratified split of
each training set, never on its test set. Peers from implicit (item-item cosine, ALS, BPR)
run with their default hyperparameters, seed 42. BLAS and implicit use ``--threads``.

    .venv/bin/python bench/quality_ml100k.py [PATH] [--threads 1] [--no-append]

PATH is the ML-100K folder (default ../shared/data/ml-100k); nothing is copied from it.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from _report import append  # noqa: E402
from roost.data.datasets.movielens import read_udata  # noqa: E402
from roost.data.frames import Interactions  # noqa: E402
from roost.data.splits import official_fold, stratified_split  # noqa: E402
from roost.evaluate.ranking import evaluate_scorer, select_on_validation  # noqa: E402
from roost.recommend.baselines import EASE, ItemKNN, Popularity, as_binary_csr  # noqa: E402

METRICS = ["ndcg", "precision", "recall", "map", "mrr", "coverage", "diversity", "novelty"]
L2_GRID = [50.0, 100.0, 200.0, 300.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 3000.0]
NEIGHBOURS_GRID = [20, 50, 100, 200, 400]


class ImplicitScorer:
    """An implicit model behind the scorer contract: factors dot products, or the history
    times the item-item similarity for its nearest-neighbour models."""

    def __init__(self, make):
        self.make = make

    def fit(self, train):
        self.history_ = sp.csr_matrix(as_binary_csr(train))
        self.model_ = self.make()
        self.model_.fit(self.history_, show_progress=False)
        return self

    def score(self, users):
        m = self.model_
        if hasattr(m, "similarity"):
            return (self.history_[users] @ m.similarity).toarray()
        return m.user_factors[users] @ m.item_factors.T


def implicit_peers(threads: int) -> dict:
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import CosineRecommender
        from implicit.utils import ParameterWarning
    except ImportError:
        return {}
    # implicit's CosineRecommender.fit normalises into a coo_matrix and then warns about
    # its own coo input (implicit 0.7.x, nearest_neighbours.normalize).
    warnings.filterwarnings("ignore", "Method expects CSR input", ParameterWarning)
    return {
        "implicit CosineRecommender (K=100)": lambda: ImplicitScorer(lambda: CosineRecommender(K=100, num_threads=threads)),
        "implicit ALS (defaults)": lambda: ImplicitScorer(
            lambda: AlternatingLeastSquares(random_state=42, num_threads=threads)),
        "implicit BPR (defaults)": lambda: ImplicitScorer(
            lambda: BayesianPersonalizedRanking(random_state=42, num_threads=threads)),
    }


def load(path: Path) -> Interactions:
    t = read_udata(path / "u.data")
    return Interactions.from_arrays(
        t.column("user_id").to_numpy(zero_copy_only=False), t.column("item_id").to_numpy(zero_copy_only=False),
        t.column("value").to_numpy(), t.column("ts").to_numpy(),
    )


def tuned(train: Interactions) -> tuple[dict, dict]:
    """Roost's three baselines, hyperparameters picked on a split of ``train``."""
    ease = select_on_validation(lambda l2: EASE(l2=l2), L2_GRID, train, metric="ndcg@10")
    knn = select_on_validation(lambda n: ItemKNN(neighbours=n), NEIGHBOURS_GRID, train, metric="ndcg@10")
    models = {
        "Popularity": Popularity,
        f"ItemKNN cosine (neighbours={knn.best})": lambda: ItemKNN(neighbours=knn.best),
        "ItemKNN cosine (neighbours=100)": lambda: ItemKNN(neighbours=100),
        f"EASE (l2={ease.best:g})": lambda: EASE(l2=ease.best),
    }
    return models, {"ease": ease, "knn": knn}


def row(name: str, ev) -> str:
    m = ev.metrics
    cells = [f"{m[f'{k}@10']:.4f}" for k in METRICS]
    return f"| {name} | " + " | ".join(cells) + f" | {ev.fit_seconds:.2f} |"


def stratified_section(inter: Interactions, threads: int) -> tuple[str, str]:
    train, test = stratified_split(inter, 0.75, seed=42)
    models, sel = tuned(train)
    models.update(implicit_peers(threads))
    header = "| model | " + " | ".join(f"{k}@10" for k in METRICS) + " | fit s |\n|" + " --- |" * (len(METRICS) + 2)
    lines = [header]
    for name, make in models.items():
        ev = evaluate_scorer(make(), train, test, k=10, metrics=METRICS)
        lines.append(row(name, ev))
        print(lines[-1], flush=True)
    grid = "\n".join(
        f"- {label} on the validation split (ndcg@10): "
        + ", ".join(f"{v:g}: {s:.4f}" for v, s in sel[key].scores.items())
        + f"; chosen {sel[key].best:g}"
        for key, label in (("ease", "EASE l2"), ("knn", "ItemKNN neighbours"))
    )
    users = len(np.unique(test.users))
    head = (f"{len(train):,} training and {len(test):,} test ratings, {users} test users, "
            f"{inter.shape[1]:,} items.")
    return head + "\n\n" + "\n".join(lines), grid


def folds_section(path: Path, threads: int) -> str:
    keys = ["ndcg", "precision", "recall", "map"]
    results: dict[str, list] = {}
    chosen: list[str] = []
    for fold in ("u1", "u2", "u3", "u4", "u5"):
        train, test = official_fold(path, fold)
        models, sel = tuned(train)
        users = len(np.unique(test.users))
        chosen.append(f"{fold}: {users} test users, l2={sel['ease'].best:g}, neighbours={sel['knn'].best}")
        models = {name.split(" (")[0]: make for name, make in models.items() if "=100)" not in name}
        models.update(implicit_peers(threads))
        for name, make in models.items():
            ev = evaluate_scorer(make(), train, test, k=10, metrics=keys)
            results.setdefault(name, []).append([ev.metrics[f"{k}@10"] for k in keys])
        print(fold, chosen[-1], flush=True)
    lines = ["| model | " + " | ".join(f"{k}@10" for k in keys) + " |", "|" + " --- |" * (len(keys) + 1)]
    for name, vals in results.items():
        a = np.array(vals)
        cells = [f"{mu:.4f} ± {sd:.4f}" for mu, sd in zip(a.mean(0), a.std(0, ddof=1), strict=True)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return (
        "\n".join(lines)
        + "\n\nThe official test sets are blocks of the rating file taken in user order, so each "
        "fold tests a different set of users (u1 only users 1-462): the spread over folds is "
        "mostly that, not noise of the models.\n\nPer fold, hyperparameters chosen on a validation "
        "split of the fold's base file: " + "; ".join(chosen) + "."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default="../shared/data/ml-100k")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    path = Path(args.path)
    with threadpool_limits(args.threads):
        inter = load(path)
        table, grid = stratified_section(inter, args.threads)
        folds = folds_section(path, args.threads)
    body = (
        "MovieLens 100K, full ranking over all items, each user's training items removed, every "
        "rating an interaction (binary relevance), users with a test rating evaluated. "
        f"BLAS and implicit on {args.threads} thread(s); fit s is wall time on a shared machine, "
        "indicative only. Metrics as docs/evaluate.md defines "
        "them (map@10 divides by the number of relevant items; diversity is 1 - mean "
        "co-occurrence cosine within a list; novelty in bits).\n\n"
        "### Per-user stratified 75/25 split, seed 42 (Microsoft Recommenders' protocol)\n\n"
        f"{table}\n\nHyperparameters picked on a 75/25 stratified split (seed 42) of the training "
        f"set only:\n\n{grid}\n\n"
        "### Official u1-u5 folds (mean ± sample std over five folds)\n\n"
        f"{folds}\n"
    )
    print(body)
    if not args.no_append:
        cmd = f".venv/bin/python bench/quality_ml100k.py {args.path} --threads {args.threads}"
        append("quality.md", "Recommendation baselines on MovieLens 100K", cmd, body)


if __name__ == "__main__":
    main()
