"""Monitoring benchmarks: drift speed at 100k x 384, and real-data figures on MovieTweetings.

``speed``: every drift method on 100k x 384 reference and current vectors ("real-ish": unit
vectors around 50 cluster centres, the way embeddings of a catalog sit), once with no drift
and once with a mild drift (20% of the current sample from a new cluster). Each Roost call
(validation, sampling, statistic, permutation test) is timed against the bare library call
it wraps on the same sample, without the permutation test, so the ratio is the price of the
p-value. Also times compare_versions. Threads limited with threadpoolctl.

``scale``: the scores of every method under graded known drifts (what a threshold means).

``real``: the bundled MovieTweetings 100K catalog: two embedding versions compared, drift
between two time windows (and a shuffled-time control), one map picture and an overlap
figure into docs/img/, figures appended to docs/quality.md.

    .venv/bin/python bench/drift.py speed [--n 100000] [--dim 384] [--threads 2] [--no-append]
    .venv/bin/python bench/drift.py scale [--no-append]
    .venv/bin/python bench/drift.py real [--no-append]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from _report import DOCS, append  # noqa: E402
from roost.monitor import DRIFT_METHODS, compare_versions, drift  # noqa: E402
from roost.monitor.drift import get  # noqa: E402
from roost.types import EmbeddingSet  # noqa: E402


def clustered_unit(
    n: int, dim: int, seed: int, new_share: float = 0.0, tilt: float = 0.0, shift: float = 0.0
) -> np.ndarray:
    """Unit vectors around 50 centres. ``new_share``: that share from a new cluster; ``tilt``:
    half the clusters (1 + tilt) times as likely as the rest; ``shift``: added to one
    coordinate, in units of the noise's standard deviation."""
    centres = np.random.default_rng(1).standard_normal((50, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    w = np.r_[np.full(25, 1 - tilt), np.full(25, 1 + tilt)]
    x = centres[rng.choice(50, n, p=w / w.sum())] + 1.5 * rng.standard_normal((n, dim), np.float32)
    x[:, 0] += 1.5 * shift
    k = int(new_share * n)
    if k:
        new = np.random.default_rng(9).standard_normal(dim).astype(np.float32)
        x[:k] = new + 1.5 * rng.standard_normal((k, dim), np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- the bare library calls each detector wraps, on the same sample, no permutations -------


def bare_kl(ref, cur, det):
    from sklearn.decomposition import PCA

    x = np.vstack([ref, cur])
    fit = x[np.random.default_rng(0).choice(len(x), det.fit_samples, replace=False)]
    z = PCA(det.n_components, svd_solver="randomized", random_state=0).fit(fit).transform(x)
    total = 0.0
    for j in range(z.shape[1]):
        edges = np.quantile(z[:, j], np.linspace(0, 1, det.n_bins + 1))
        p = np.histogram(z[len(ref) :, j], edges)[0] + 0.5
        q = np.histogram(z[: len(ref), j], edges)[0] + 0.5
        p, q = p / p.sum(), q / q.sum()
        total += float(np.sum(p * np.log(p / q)))
    return total


def bare_classifier(ref, cur, det):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.vstack([ref, cur])
    x = np.hstack([x, x * x])
    y = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    a, b, ya, yb = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(a, ya)
    return roc_auc_score(yb, model.predict_proba(b)[:, 1])


def bare_mmd(ref, cur, det):
    from sklearn.metrics.pairwise import euclidean_distances, rbf_kernel

    x = np.vstack([ref, cur]).astype(np.float64)
    d2 = euclidean_distances(x, squared=True)
    gamma = 1.0 / (2 * np.median(d2[np.triu_indices(len(x), 1)]))
    k = rbf_kernel(x, gamma=gamma)
    n = len(ref)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def bare_wasserstein(ref, cur, det):
    from scipy.stats import wasserstein_distance

    x = np.vstack([ref, cur])
    std = x.std(axis=0)
    d = [wasserstein_distance(ref[:, j], cur[:, j]) / std[j] for j in range(x.shape[1])]
    return float(np.mean(np.array(d) > det.component_threshold))


def bare_mean(ref, cur, det):
    x = np.vstack([ref, cur])
    spread = np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())
    return np.linalg.norm(ref.mean(0) - cur.mean(0)) / spread


BARE = {"kl": bare_kl, "classifier": bare_classifier, "mmd": bare_mmd,
        "wasserstein": bare_wasserstein, "mean": bare_mean}  # fmt: skip


def sample_for(det, ref, cur):
    rng = np.random.default_rng(0)
    m = getattr(det, "max_samples", None)
    if det.name == "wasserstein":
        m = min(len(ref), len(cur), m)
    pick = lambda x: x if m is None or len(x) <= m else x[rng.choice(len(x), m, replace=False)]  # noqa: E731
    return pick(ref), pick(cur)


def speed(args) -> None:
    load = os.getloadavg()
    ref = clustered_unit(args.n, args.dim, seed=0)
    same = clustered_unit(args.n, args.dim, seed=1)
    drifted = clustered_unit(args.n, args.dim, seed=2, new_share=0.2)
    rows = [
        "| method | sample per side | Roost, no drift (s) | verdict | Roost, drift (s) | verdict "
        "| bare library call (s) | Roost / bare |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in DRIFT_METHODS:
        det = get(name)()
        t0 = time.perf_counter()
        (r0,) = drift(ref, same, [name])
        t1 = time.perf_counter()
        (r1,) = drift(ref, drifted, [name])
        t2 = time.perf_counter()
        sr, sc = sample_for(det, ref, drifted)
        t3 = time.perf_counter()
        BARE[name](sr, sc, det)
        bare = time.perf_counter() - t3
        line = (
            f"| {name} | {r1.details['n_reference']:,} | {t1 - t0:.2f} | "
            f"{'drift' if r0.drifted else 'no drift'} (score {r0.score:.3g}) | {t2 - t1:.2f} | "
            f"{'drift' if r1.drifted else 'no drift'} (score {r1.score:.3g}, p {r1.p_value:.3g}) "
            f"| {bare:.2f} | {(t2 - t1) / bare:.1f}x |"
        )
        print(line, flush=True)
        rows.append(line)
    # compare_versions: a version against a noisy copy of itself, 20k items.
    n_items = min(args.n, 20_000)
    ids = np.array([str(i) for i in range(n_items)], dtype=object)
    a = EmbeddingSet(ids, ref[:n_items], "a", {}, "f")
    noisy = ref[:n_items] + 0.3 / np.sqrt(args.dim) * np.random.default_rng(3).standard_normal(
        (n_items, args.dim), np.float32
    )
    b = EmbeddingSet(ids, noisy, "b", {}, "f")
    t0 = time.perf_counter()
    c = compare_versions(a, b, k=10)
    tc = time.perf_counter() - t0
    from sklearn.neighbors import NearestNeighbors

    t0 = time.perf_counter()
    NearestNeighbors(n_neighbors=11, algorithm="brute").fit(ref[:n_items]).kneighbors(ref[:n_items])
    tk = time.perf_counter() - t0
    line = (
        f"\ncompare_versions, {n_items:,} x {args.dim}, k=10: {tc:.1f} s (mean overlap "
        f"{c.overlap['mean']:.3f}); one bare sklearn exact kNN pass on the same: {tk:.1f} s "
        f"(compare runs two, plus Procrustes and rank correlation: {tc / tk:.1f}x)."
    )
    print(line)
    body = (
        f"Drift between two samples of {args.n:,} x {args.dim} float32 unit vectors per side "
        f"(50 clusters; 'drift' = 20% of current from a new cluster); BLAS and OpenMP threads "
        f"limited to {args.threads}. Roost times include input checks, sampling and the "
        f"permutation test (200 permutations; 100 for wasserstein; the classifier's p-value is "
        f"a rank test); 'bare' is the underlying scikit-learn/scipy/numpy computation of the "
        f"score alone on the same sample. No peer library (Evidently, alibi-detect) is "
        f"installed here, so none is compared. The machine is shared: load average "
        f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores), so these "
        f"are upper bounds.\n\n" + "\n".join(rows) + "\n" + line
    )
    if not args.no_append:
        append("benchmarks.md", "Drift detection: 100k x 384 per side", args.command, body)


# --- real data: MovieTweetings ---------------------------------------------------------------


def svd_items(csr, dim: int, seed: int, name: str, ids) -> EmbeddingSet:
    """Item vectors U S of the item x user matrix by randomised truncated SVD."""
    from sklearn.decomposition import TruncatedSVD

    svd = TruncatedSVD(dim, algorithm="randomized", random_state=seed)
    v = svd.fit_transform(csr.T.tocsr()).astype(np.float32)
    return EmbeddingSet(ids, v, name, {"dim": dim, "seed": seed}, "movietweetings")


def versions(catalog, inter) -> tuple[dict[str, EmbeddingSet], str]:
    """Two or more versions: Roost's ALS / item2vec where present, else truncated SVD."""
    from roost import embed

    out, how = {}, []
    for method, seeds in (("als", (0, 1)), ("item2vec", (0, 1))):
        try:
            klass = embed.get(method)
        except (ImportError, AttributeError):
            continue
        for seed in seeds:
            model = klass(seed=seed) if "seed" in klass._param_names() else klass()
            out[f"{method}-seed{seed}"] = model.fit(catalog).embedding_set(catalog)
        how.append(f"roost.embed {method}")
    csr = inter.to_csr()
    ids = inter.item_ids
    out["svd64-seed0"] = svd_items(csr, 64, 0, "svd64-seed0", ids)
    out["svd64-seed1"] = svd_items(csr, 64, 1, "svd64-seed1", ids)
    out["svd32-seed0"] = svd_items(csr, 32, 0, "svd32-seed0", ids)
    how.append("scikit-learn TruncatedSVD (randomised) of the binary user-item matrix")
    return out, "; ".join(how)


def keep_ids(s: EmbeddingSet, ids) -> EmbeddingSet:
    pos = {x: j for j, x in enumerate(s.ids)}
    rows = [pos[i] for i in ids if i in pos]
    return EmbeddingSet(s.ids[rows], s.vectors[rows], s.method, s.params, s.fingerprint,
                        s.metric, s.kind, s.normalized, s.extra)  # fmt: skip


def overlap_figure(results: dict, out: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(results)
    for j, (label, r) in enumerate(results.items()):
        counts = np.asarray(r.overlap["shared_neighbours_counts"], float)
        x = np.arange(len(counts)) + (j - (len(results) - 1) / 2) * width
        ax.bar(x, counts / counts.sum(), width, label=f"{label} (mean J {r.overlap['mean']:.2f})")
    ax.set_xlabel(f"neighbours shared of top-{r.k}")
    ax.set_ylabel("share of items")
    ax.set_xticks(range(r.k + 1))
    ax.legend(fontsize=7)
    ax.set_title("MovieTweetings items (>= 5 ratings): top-10 neighbour overlap", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)


def real(args) -> None:
    from roost.data.datasets import load
    from roost.monitor import neighbour_table, time_split, window_vectors, write_map

    catalog = load("movietweetings").catalog()
    inter = catalog.interactions()
    t0 = time.perf_counter()
    sets, how = versions(catalog, inter)
    fit_s = time.perf_counter() - t0
    counts = np.bincount(inter.items, minlength=len(inter.item_ids))
    rated = inter.item_ids[counts >= 5]
    sets = {k: keep_ids(v, rated) for k, v in sets.items()}
    names = list(sets)
    pairs = [(f"{m}-seed0", f"{m}-seed1") for m in ("als", "item2vec", "svd64")
             if f"{m}-seed1" in sets]  # fmt: skip
    if "als-seed0" in sets and "item2vec-seed0" in sets:
        pairs.append(("als-seed0", "item2vec-seed0"))
    pairs.append(("svd64-seed0", "svd32-seed0"))
    rotated = sets[names[0]]
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((rotated.dim, rotated.dim)))
    sets["rotated copy"] = EmbeddingSet(rotated.ids, (rotated.vectors @ q).astype(np.float32),
                                        "rotated", {}, "f", rotated.metric)  # fmt: skip
    shuffled = np.random.default_rng(0).permutation(rotated.ids)
    sets["shuffled ids"] = EmbeddingSet(shuffled, rotated.vectors, "shuffled", {}, "f",
                                        rotated.metric)  # fmt: skip
    pairs += [(names[0], "rotated copy"), (names[0], "shuffled ids")]

    lines = ["| A | B | shared items | mean Jaccard@10 (chance) | median | Spearman, random pairs "
             "| Spearman, A's neighbour pairs | Procrustes disparity | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    results = {}
    for a, b in pairs:
        t0 = time.perf_counter()
        r = compare_versions(sets[a], sets[b], k=10, names=(a, b), metric="cosine")
        dt = time.perf_counter() - t0
        results[f"{a} vs {b}"] = r
        rc = r.rank_correlation
        lines.append(
            f"| {a} | {b} | {r.counts['shared']:,} | {r.overlap['mean']:.3f} "
            f"({r.overlap['chance_mean']:.4f}) | {r.overlap['median']:.3f} | "
            f"{rc['random_pairs']['spearman']:.3f} | {rc['neighbours_of_a']['spearman']:.3f} | "
            f"{r.procrustes['disparity']:.3g} | {dt:.1f} |"
        )
        print(lines[-1], flush=True)
    img = DOCS / "img"
    img.mkdir(exist_ok=True)
    overlap_figure(
        {k: v for k, v in results.items() if "copy" not in k}, img / "monitor-overlap.png"
    )

    # Drift between two time windows, in the space of the first version.
    space = sets[names[0]]
    (cut,) = time_split(inter.ts)
    rng = np.random.default_rng(0)
    control = type(inter)(inter.user_ids, inter.item_ids, inter.users, inter.items,
                          inter.values, rng.permutation(inter.ts))  # fmt: skip
    created = dict(zip(catalog.item_ids, catalog.items.column("created_at").to_pylist(),
                       strict=True))  # fmt: skip
    old = [i for i in space.ids if created[i] is not None and created[i] < cut]
    new = [i for i in space.ids if created[i] is not None and created[i] >= cut]
    samples = {
        "events, early vs late half": (
            window_vectors(space, inter, end=cut), window_vectors(space, inter, start=cut)),
        "active users, early vs late half": (
            window_vectors(space, inter, end=cut, per="user"),
            window_vectors(space, inter, start=cut, per="user")),
        "events, control: times shuffled": (
            window_vectors(space, control, end=cut), window_vectors(space, control, start=cut)),
        "items first rated before vs after the cut": (
            keep_ids(space, old).vectors, keep_ids(space, new).vectors),
    }  # fmt: skip
    dl = ["| samples | sizes | " + " | ".join(DRIFT_METHODS) + " |",
          "|---|---|" + "---|" * len(DRIFT_METHODS)]  # fmt: skip
    for label, (ref, cur) in samples.items():
        cells = []
        for r in drift(ref, cur):
            p = "" if r.p_value is None else f", p {r.p_value:.3g}"
            cells.append(f"{'**drift**' if r.drifted else 'no drift'} ({r.score:.3g}{p})")
        dl.append(f"| {label} | {len(ref):,} / {len(cur):,} | " + " | ".join(cells) + " |")
        print(dl[-1], flush=True)

    # One map picture for the docs (UMAP where installed), an interactive page aside.
    cats = dict(zip(catalog.item_ids, catalog.items.column("category").to_pylist(), strict=True))
    titles = dict(zip(catalog.item_ids, catalog.items.column("title").to_pylist(), strict=True))
    from roost.monitor import available_projections

    method = "umap" if "umap" in available_projections() else "pca"
    t0 = time.perf_counter()
    write_map(
        space,
        img / f"monitor-map-{method}.png",
        method,
        labels=cats,
        title=f"MovieTweetings movies (>= 5 ratings), {space.method}, {method.upper()}",
    )
    map_s = time.perf_counter() - t0
    out_dir = Path(__file__).parent / "out"
    write_map(space, out_dir / "monitor-map.html", method, labels=cats, titles=titles,
              href="https://www.imdb.com/title/tt{id}/")  # fmt: skip
    top = inter.item_ids[np.argsort(-counts)[:2]]
    shown = (
        ("als-seed0", "item2vec-seed0") if ("als-seed0", "item2vec-seed0") in pairs else pairs[0]
    )
    table = neighbour_table({n: sets[n] for n in shown}, list(top), k=5, titles=titles)
    body = f"""Data: the bundled MovieTweetings 100K (100,000 ratings, Feb-Sep 2013). Versions:
{how} (fitting all: {fit_s:.1f} s). Comparisons on the {len(rated):,} movies with at least 5
ratings; neighbours by cosine among them; 100,000 random pairs for the rank correlation.
A rotated copy and a copy with shuffled ids are the known-answer controls.

{chr(10).join(lines)}

![overlap](img/monitor-overlap.png)

Drift in the space of {space.method}, all five methods with their defaults; the cut is the
median event time ({time.strftime("%Y-%m-%d", time.gmtime(cut))}); score and permutation
p-value in brackets.

{chr(10).join(dl)}

Map ({method.upper()}, {map_s:.1f} s), coloured by each movie's first genre:

![map](img/monitor-map-{method}.png)

Nearest neighbours of the two most-rated movies, {shown[0]} vs {shown[1]} (shared
neighbours in bold):

{table.to_markdown()}
"""
    print(body)
    if not args.no_append:
        append(
            "quality.md",
            "Monitoring on MovieTweetings: version comparison and drift",
            args.command,
            body,
        )


def scale(args) -> None:
    """What the scores look like under graded, known drifts (for choosing thresholds)."""
    n = 20_000
    ref = clustered_unit(n, args.dim, seed=0)
    cases = {
        "none (another sample)": {},
        "cluster mix tilted 30%": {"tilt": 0.3},
        "cluster mix tilted 60%": {"tilt": 0.6},
        "5% from a new cluster": {"new_share": 0.05},
        "20% from a new cluster": {"new_share": 0.2},
        "one coordinate shifted 0.5 sd": {"shift": 0.5},
        "one coordinate shifted 2 sd": {"shift": 2.0},
    }
    rows = ["| current sample | " + " | ".join(DRIFT_METHODS) + " |",
            "|---|" + "---|" * len(DRIFT_METHODS)]  # fmt: skip
    thresholds = [get(m)().threshold for m in DRIFT_METHODS]
    rows.append("| *default threshold* | " + " | ".join(f"*{t:g}*" for t in thresholds) + " |")
    for label, kw in cases.items():
        cur = clustered_unit(n, args.dim, seed=7, **kw)
        res = drift(ref, cur, params={m: {"n_permutations": 99} for m in DRIFT_METHODS
                                      if m != "classifier"})  # fmt: skip
        cells = [f"**{r.score:.3g}**" if r.drifted else f"{r.score:.3g}" for r in res]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    body = (
        f"Scores of each drift method with its defaults, {n:,} x {args.dim} unit vectors per "
        "side around 50 cluster centres, against graded known drifts; bold: verdict 'drift' "
        "(score over threshold and permutation p < 0.05, 99 permutations).\n\n" + "\n".join(rows)
    )
    print(body)
    if not args.no_append:
        append("quality.md", "Drift scores under known drifts", args.command, body)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["speed", "scale", "real"])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-append", action="store_true")
    args = p.parse_args()
    args.command = "python " + " ".join(sys.argv)
    with threadpool_limits(args.threads):
        {"speed": speed, "scale": scale, "real": real}[args.mode](args)


if __name__ == "__main__":
    main()
