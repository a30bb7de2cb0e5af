"""Recommendation leaderboards of the method ladder (``roost.evaluate.leaderboard``) written
to docs/quality.md: ML-100K under Microsoft Recommenders' protocol next to their published
table, ML-100K u1-u5, MovieTweetings with a global time split.

    .venv/bin/python bench/quality_leaderboard.py ml100k-stratified [--path DIR] [--threads 1]
    .venv/bin/python bench/quality_leaderboard.py ml100k-official [--path DIR]
    .venv/bin/python bench/quality_leaderboard.py movietweetings-time
    .venv/bin/python bench/quality_leaderboard.py ml100k-stratified --board leaderboard.json

``--board`` formats a leaderboard.json that ``roost eval`` already wrote instead of running
again. PATH is the ML-100K folder (default ../shared/data/ml-100k); nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import append  # noqa: E402
from roost.data import datasets  # noqa: E402
from roost.evaluate.leaderboard import Leaderboard, run  # noqa: E402
from roost.evaluate.report import write  # noqa: E402

# Microsoft Recommenders, examples/06_benchmarks (ML-100K, stratified 75/25, seed 42, top 10)
PUBLISHED = {"BiVAE": 0.4751, "BPR (Cornac)": 0.4420, "SAR": 0.3825}
OFFICIAL = ["itemknn", "ease", "rp3beta", "als", "als-bm25", "hybrid-bm25", "ranker"]
# EASE inverts a dense 10,506 x 10,506 matrix per fit on MovieTweetings (minutes on one
# core, once per grid value and again inside every hybrid), so EASE and the rows built on
# it (the hybrids, the ranker) are left out there; RP3beta and item kNN stand for the
# item-item family. The two-tower model (~45 s of CPU per epoch on ML-100K) is left out
# too, and the grids other than item2vec's are cut to two to four points, so the board
# takes a few minutes with 2 threads.
MT_METHODS = ["itemknn", "rp3beta", "tfidf", "item2vec", "deepwalk", "node2vec", "als",
              "als-bm25", "bpr", "transformer"]  # fmt: skip
MT_GRIDS = {
    "itemknn": {"neighbours": [100, 400]},
    "rp3beta": {"beta": [0.3, 0.5]},
    "als": {"factors": [32, 128], "regularization": [10.0, 30.0]},
    "als-bm25": {"regularization": [10.0, 30.0]},
    "bpr": {"learning_rate": [0.01, 0.05]},
}
CONFIGS = {
    "ml100k-stratified": ("ml-100k", "stratified", None, {}),
    "ml100k-official": ("ml-100k", "official", OFFICIAL, {}),
    "movietweetings-time": (
        "movietweetings",
        "time",
        MT_METHODS,
        MT_GRIDS,
    ),
}
TITLES = {
    "ml100k-stratified": "MovieLens 100K, per-user stratified 75/25 split, seed 42 (Microsoft Recommenders' protocol)",
    "ml100k-official": "MovieLens 100K, official u1-u5 folds (mean ± sample std)",
    "movietweetings-time": "MovieTweetings 100K (bundled), global time split at the 80th percentile",
}


def body(config: str, board: Leaderboard) -> str:
    r = board.run
    best = max((x for x in board.rows if x["method"] != "popularity"), key=lambda x: x["ndcg@10"])
    lines = [
        f"{r['n_users']:,} users, {r['n_items']:,} items, {sum(r['n_train']):,} training and "
        f"{sum(r['n_test']):,} test events over {len(r['folds'])} fold(s); full ranking over all "
        "items, each user's training items excluded, every test event relevant (binary), "
        f"k=10, seed {r['seed']}. Hyperparameters chosen on a validation split carved from the "
        f"training data (grids in the run record); {r['n_threads']} thread(s); whole run "
        f"{r['seconds'] / 60:.1f} min on a shared machine. Roost {r['versions'].get('roost')}, "
        + ", ".join(f"{k} {v}" for k, v in r["versions"].items() if k not in ("roost",))
        + ".",
        "",
        board.markdown(),
        "",
        f"Best: {best['method']} at nDCG@10 {best['ndcg@10']:.4f}.",
    ]
    if config == "ml100k-stratified":
        lines += ["", "Published under the same protocol (Microsoft Recommenders' benchmark "
                  "notebook, nDCG@10): " + ", ".join(f"{k} {v:.4f}" for k, v in PUBLISHED.items())
                  + "."]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", choices=list(CONFIGS))
    ap.add_argument("--path", default="../shared/data/ml-100k")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--board", help="format this leaderboard.json instead of running")
    ap.add_argument("--out", default=None, help="also write the three files here")
    ap.add_argument("--methods", help="comma-separated methods instead of the config's")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    name, protocol, methods, grids = CONFIGS[args.config]
    methods = args.methods.split(",") if args.methods else methods
    if args.board:
        doc = json.loads(Path(args.board).read_text())
        board = Leaderboard(doc["leaderboard"], doc["run"])
        cmd = (f".venv/bin/roost eval --dataset {name}"
               + (f" --path {args.path}" if name == "ml-100k" else "")
               + f" --protocol {protocol} --threads {doc['run']['n_threads']}"
               + (f" --methods {','.join(methods)}" if methods else ""))  # fmt: skip
    else:
        path = args.path if name == "ml-100k" else None
        board = run(datasets.load(name, path), protocol, methods, n_threads=args.threads,
                    progress=True, dataset=name, grids=grids)  # fmt: skip
        cmd = (
            f".venv/bin/python bench/quality_leaderboard.py {args.config} --threads {args.threads}"
        )
        if args.out:
            write(board, args.out)
    text = body(args.config, board)
    print(text)
    if not args.no_append:
        append("quality.md", f"Leaderboard: {TITLES[args.config]}", cmd, text)


if __name__ == "__main__":
    main()
