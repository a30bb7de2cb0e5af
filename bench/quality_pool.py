"""How many candidates each channel should hand the ranker: held-out quality of the home
surface's learned ranker for several ``per_channel`` values, on the bundled catalog.

For each value the ranker is trained exactly as ``build_default`` trains it (time split
at the 90th percentile of event times, collaborative model refitted on the past, a fifth
of the sampled users held out), and the held-out users' NDCG@10 and recall@10 are read
over the pool the pipeline would rank. A bigger pool can only find more, but costs the
channels, the features and the tree walk on every request; the pool size column says
how big the ranker's input is.

    .venv/bin/python bench/quality_pool.py --home bench/out/serve-home --users 3000
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", required=True, help="a home built by `roost demo --no-serve`")
    ap.add_argument("--values", default="25,50,100,200", help="per_channel values to try")
    ap.add_argument("--users", type=int, default=3000, help="users sampled (a fifth held out)")
    ap.add_argument("--seeds", default="0,1,2", help="user samples (one training per seed)")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from roost.recommend.serving import open_spaces
    from roost.recommend.surfaces import default
    from roost.recommend.training import train_ranker
    from roost.store import Home, open_store
    from roost.store.versions import VersionStore

    home = Home.at(args.home)
    with open_store(home, create=False) as s:
        catalog = s.catalog()
    with VersionStore(home, create=False) as vs:
        spaces, problems = open_spaces(vs, home, {"text"})
    if problems:
        sys.exit("; ".join(problems))
    surface = default()["home"]
    collab = {"factors": 64, "iterations": 15, "seed": 0}
    rows = []
    for n in [int(v) for v in args.values.split(",")]:
        per = dataclasses.replace(surface, per_channel=n)
        found = {"learned": [], "blend": [], "recall": [], "secs": []}
        for seed in [int(s) for s in args.seeds.split(",")]:
            t = time.perf_counter()
            with threadpool_limits(2):
                _, m = train_ranker(catalog, per, spaces, collab_params=collab,
                                    max_users=args.users, seed=seed)  # fmt: skip
            found["learned"].append(m["ndcg@10_learned"])
            found["blend"].append(m["ndcg@10_blend"])
            found["recall"].append(m["recall@10_learned"])
            found["secs"].append(time.perf_counter() - t)
            pool = m["train_rows"] / max(m["train_users"], 1)
            print(f"per_channel {n} seed {seed}: {m}", flush=True)
        rows.append((n, pool, found, m["heldout_users"]))

    def ms(v):
        return f"{np.mean(v):.4f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.4f}"

    table = ("| per_channel | mean pool (training users) | held-out users | NDCG@10 learned | "
             "NDCG@10 blend | recall@10 learned |\n|---:|---:|---:|---|---|---|\n")  # fmt: skip
    for n, pool, f, held in rows:
        table += (f"| {n} | {pool:.0f} | {held} | {ms(f['learned'])} | {ms(f['blend'])} | "
                  f"{ms(f['recall'])} |\n")  # fmt: skip
    print(table)
    if not args.no_append:
        cmd = "python bench/quality_pool.py " + " ".join(sys.argv[1:])
        body = (
            f"Catalog: {catalog.items.num_rows} items, {catalog.events.num_rows} events "
            f"(the home's). Protocol: `train_ranker` as `build_default` runs it (time split "
            f"at the 90th percentile, ALS refitted on the past), {args.users} users sampled "
            f"per seed (seeds {args.seeds}), a fifth held out; metrics over the pool the "
            f"pipeline ranks, mean ± std over seeds.\n\n{table}"
        )
        append("quality.md", "Candidate pool size of the home surface", cmd, body)


if __name__ == "__main__":
    main()
