"""Compare two versions whose spaces differ (other method, seed, dimension): on shared ids only.

Three views, each blind to rotations of a space (which change nothing a user sees):

- **neighbour overlap**: Jaccard of each item's top-k neighbours in the two versions, with
  its distribution and the value chance alone would give;
- **rank correlation of similarities**: Spearman's rho between the two versions'
  similarities on random pairs, and on pairs that are neighbours in either version;
- **orthogonal Procrustes**: the best rotation (plus one scale) of one space onto the other
  and what is left over, overall and per item.

The items whose neighbourhoods changed most are listed with their lost and gained
neighbours, so that a person can look at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.stats import hypergeom, spearmanr

from roost.monitor.drift import jsonable
from roost.monitor.neighbours import knn, normalize_rows
from roost.types import EmbeddingSet, RoostError, as_id_array


@dataclass(frozen=True)
class VersionComparison:
    """What :func:`compare_versions` found. ``to_dict()`` is the JSON report.

    Per-item arrays (``ids``, ``jaccard``, ``residual``) are aligned: ``jaccard[j]`` and
    ``residual[j]`` belong to ``ids[j]`` (the queried shared ids).
    """

    names: tuple[str, str]
    k: int
    metrics: tuple[str, str]
    counts: dict[str, int]
    overlap: dict[str, Any]
    rank_correlation: dict[str, Any]
    procrustes: dict[str, Any]
    most_changed: list[dict[str, Any]]
    ids: np.ndarray = field(repr=False)
    jaccard: np.ndarray = field(repr=False)
    residual: np.ndarray = field(repr=False)

    def to_dict(self, per_item: bool = False) -> dict[str, Any]:
        """The report; ``per_item`` adds the per-item Jaccard and Procrustes residuals."""
        out = {
            "names": list(self.names),
            "k": self.k,
            "metrics": list(self.metrics),
            "counts": self.counts,
            "overlap": self.overlap,
            "rank_correlation": self.rank_correlation,
            "procrustes": self.procrustes,
            "most_changed": self.most_changed,
        }
        if per_item:
            out["per_item"] = {
                "ids": self.ids,
                "jaccard": self.jaccard.round(6),
                "residual": self.residual.round(6),
            }
        return jsonable(out)


def shared_rows(a: EmbeddingSet, b: EmbeddingSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids present in both sets (in ``a``'s order) and their row numbers in ``a`` and ``b``."""
    ids_a, ids_b = as_id_array(a.ids), as_id_array(b.ids)
    pos_b = {x: j for j, x in enumerate(ids_b)}
    rows_a = np.array([j for j, x in enumerate(ids_a) if x in pos_b], dtype=np.int64)
    shared = ids_a[rows_a]
    rows_b = np.array([pos_b[x] for x in shared], dtype=np.int64)
    return shared, rows_a, rows_b


def compare_versions(
    a: EmbeddingSet,
    b: EmbeddingSet,
    k: int = 10,
    *,
    names: tuple[str, str] | None = None,
    n_pairs: int = 100_000,
    max_queries: int = 20_000,
    n_changed: int = 20,
    metric: str | None = None,
    seed: int = 0,
) -> VersionComparison:
    """Compare two embedding versions on the ids they share.

    Parameters
    ----------
    a, b : the two versions; each is searched with its own ``metric`` unless ``metric``
        is given.
    k : neighbours per item for the overlap.
    names : labels for the report (default: the sets' methods).
    n_pairs : random pairs for the similarity rank correlation.
    max_queries : items whose neighbourhoods are compared (a seeded random sample when more
        ids are shared); neighbours are still searched among all shared ids. Exact search is
        quadratic: a whole comparison of 20k x 384 took 81 s on two busy cores
        (bench/drift.py speed).
    n_changed : how many of the most changed items to list.
    metric : one similarity for both (e.g. ``cosine`` to compare a ``dot`` ALS space with a
        ``cosine`` item2vec space on equal terms); ``None`` keeps each set's own.
    seed : seed of every sampling step.

    Examples
    --------
    >>> import numpy as np
    >>> from roost.types import EmbeddingSet
    >>> rng = np.random.default_rng(0)
    >>> v = rng.normal(size=(200, 16)).astype(np.float32)
    >>> ids = np.array([str(i) for i in range(200)], dtype=object)
    >>> q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    >>> a = EmbeddingSet(ids, v, "x", {}, "f")
    >>> b = EmbeddingSet(ids, (v @ q).astype(np.float32), "x", {}, "f")
    >>> r = compare_versions(a, b, k=5)
    >>> round(r.overlap["mean"], 3), r.procrustes["disparity"] < 1e-6
    (1.0, True)
    """
    rng = np.random.default_rng(seed)
    shared, rows_a, rows_b = shared_rows(a, b)
    n = len(shared)
    if n < k + 2:
        raise RoostError(f"the versions share {n} ids; comparing top-{k} needs at least {k + 2}")
    names = names or ((a.method, b.method) if a.method != b.method else ("a", "b"))
    va = np.asarray(a.vectors[rows_a], dtype=np.float32)
    vb = np.asarray(b.vectors[rows_b], dtype=np.float32)
    q = np.arange(n) if n <= max_queries else np.sort(rng.choice(n, max_queries, replace=False))

    metric_a, metric_b = (metric, metric) if metric else (a.metric, b.metric)
    nb_a, _ = knn(va, k, metric_a, q)
    nb_b, _ = knn(vb, k, metric_b, q)
    inter = _intersections(nb_a, nb_b)
    jac = inter / (2 * k - inter)
    residual, procrustes = _procrustes(va, vb, metric_a, metric_b)
    residual = residual[q]

    counts = {"a": len(a), "b": len(b), "shared": n, "only_a": len(a) - n,
              "only_b": len(b) - n, "queried": len(q)}  # fmt: skip
    overlap = {
        "mean": float(jac.mean()),
        "median": float(np.median(jac)),
        "quantiles": {str(p): float(np.quantile(jac, p)) for p in (0.1, 0.25, 0.75, 0.9)},
        # distribution: how many items keep 0, 1, ..., k of their k neighbours
        "shared_neighbours_counts": np.bincount(inter, minlength=k + 1),
        "chance_mean": _chance_jaccard(n, k),
    }
    rank = _rank_correlation(va, vb, metric_a, metric_b, nb_a, nb_b, q, n_pairs, rng)
    order = np.lexsort((-residual, jac))[:n_changed]  # lowest overlap, then largest residual
    changed = []
    for j in order:
        in_a, in_b = list(shared[nb_a[j]]), list(shared[nb_b[j]])
        changed.append({
            "id": str(shared[q[j]]),
            "jaccard": float(jac[j]),
            "residual": float(residual[j]),
            "neighbours_a": in_a,
            "neighbours_b": in_b,
            "lost": [i for i in in_a if i not in set(in_b)],
            "gained": [i for i in in_b if i not in set(in_a)],
        })  # fmt: skip
    return VersionComparison(
        names=tuple(names), k=k, metrics=(metric_a, metric_b), counts=counts, overlap=jsonable(overlap),
        rank_correlation=rank, procrustes=procrustes, most_changed=changed,
        ids=shared[q], jaccard=jac, residual=residual,
    )  # fmt: skip


def _intersections(nb_a: np.ndarray, nb_b: np.ndarray) -> np.ndarray:
    """Per row, how many entries the two neighbour lists share (rows hold distinct entries)."""
    both = np.sort(np.hstack([nb_a, nb_b]), axis=1)
    return np.count_nonzero(both[:, 1:] == both[:, :-1], axis=1)


def _chance_jaccard(n: int, k: int) -> float:
    """Expected Jaccard when one version's k neighbours are a random k of the other n - 1."""
    j = np.arange(k + 1)
    pmf = hypergeom(n - 1, k, k).pmf(j)
    return float(np.sum(pmf * j / (2 * k - j)))


def _similarity(x: np.ndarray, i: np.ndarray, j: np.ndarray, metric: str) -> np.ndarray:
    if metric == "cosine":
        x = normalize_rows(x)
    if metric == "l2":
        return -np.linalg.norm(x[i] - x[j], axis=1)
    return np.einsum("ij,ij->i", x[i], x[j], dtype=np.float64)


def _rank_correlation(va, vb, metric_a, metric_b, nb_a, nb_b, q, n_pairs, rng) -> dict:
    n = len(va)
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n  # never i itself
    out = {"n_pairs": int(n_pairs)}
    rho, p = _spearman(_similarity(va, i, j, metric_a), _similarity(vb, i, j, metric_b))
    out["random_pairs"] = {"spearman": rho, "p_value": p}
    # Random pairs are mostly unrelated items; neighbour pairs ask whether the two versions
    # agree on the order among close items. Pairs chosen by a's neighbours and by b's are
    # scored apart: pooling them would pair "high in a" with "high in b" and show a
    # spurious negative correlation for unrelated versions.
    qi = np.repeat(q, nb_a.shape[1])
    for side, nb in (("a", nb_a), ("b", nb_b)):
        qj = nb.ravel()
        rho, _ = _spearman(_similarity(va, qi, qj, metric_a), _similarity(vb, qi, qj, metric_b))
        out[f"neighbours_of_{side}"] = {"spearman": rho, "n_pairs": len(qi)}
    return out


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    # A constant side (e.g. a one-hot space, where unrelated pairs all score 0) has no rank
    # correlation: report None rather than let spearmanr warn and return NaN.
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, None
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def _standardize(x: np.ndarray, metric: str) -> np.ndarray:
    x = normalize_rows(x.astype(np.float64)) if metric == "cosine" else x.astype(np.float64)
    x = x - x.mean(axis=0)
    norm = np.linalg.norm(x)
    return x / norm if norm > 0 else x


def _procrustes(va, vb, metric_a, metric_b) -> tuple[np.ndarray, dict]:
    """Rotate ``a`` (plus one global scale) onto ``b``: disparity and per-item residuals.

    Both sides are centred and scaled to unit Frobenius norm (rows first made unit length
    for cosine spaces, whose lengths carry nothing), so the disparity ``1 - scale^2`` lies in
    [0, 1] and is symmetric, as in :func:`scipy.spatial.procrustes`. Spaces of different
    dimension are zero-padded to the larger one: the rotation then maps the smaller space
    isometrically into the larger.
    """
    a, b = _standardize(va, metric_a), _standardize(vb, metric_b)
    dim = max(a.shape[1], b.shape[1])
    a = np.pad(a, ((0, 0), (0, dim - a.shape[1])))
    b = np.pad(b, ((0, 0), (0, dim - b.shape[1])))
    rotation, scale = orthogonal_procrustes(a, b)
    diff = scale * (a @ rotation) - b
    # Per-item displacement in units of the typical row length of b.
    per_item = np.linalg.norm(diff, axis=1) * np.sqrt(len(b))
    disparity = float(max(0.0, 1.0 - scale**2))
    summary = {
        "disparity": disparity,
        "scale": float(scale),
        "dims": [int(va.shape[1]), int(vb.shape[1])],
        "residual_median": float(np.median(per_item)),
        "residual_p90": float(np.quantile(per_item, 0.9)),
    }
    return per_item, summary
