"""Ranking metrics over arrays: one implementation for recommendation and search.

Inputs
------
``ranked``: one row per user (or query), best first: a 2-D int array of item indices (``-1``
pads a short list), or ids (a 2-D object array or a ragged list of lists; ``None`` pads).
``relevant``: a sparse ``(n_users, n_items)`` matrix whose values are grades (``> 0`` is
relevant), or one collection per user: a set of relevant ids (grade 1) or a dict
``id -> grade``. Sparse relevance needs integer ``ranked``.

Conventions (those of trec_eval/ir-measures and ranx; the tests check equality with both)
------------------------------------------------------------------------------------------
- A user with no relevant item gets NaN in the per-user arrays and is left out of means.
- precision@k = hits / k, even when fewer than k items were ranked.
- recall@k = hits / |rel| (not min(k, |rel|)).
- ndcg@k: gain = grade (linear), discount 1 / log2(rank + 1); the ideal DCG is over the
  best min(k, |rel|) grades.
- map@k: AP@k = sum of precision@r at each relevant rank r <= k, divided by |rel|
  (trec_eval ``map_cut``, ranx ``map@k``; Microsoft Recommenders' ``map_at_k`` divides by
  min(k, |rel|) instead).
- mrr@k: 1 / rank of the first relevant item within k, else 0. hit_rate@k: 1 if any.
- coverage@k: distinct items in the lists / catalog size (one number, not per user).
- diversity@k: intra-list diversity, 1 - mean cosine similarity over pairs in a list
  (in [0, 1] for non-negative item vectors such as co-occurrence columns).
- novelty@k: mean self-information -log2(p_i) of the listed items, p_i the share of
  training users who had item i (items never seen count once); in bits, not bounded by 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

DEFAULT_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


@dataclass(frozen=True)
class Judged:
    """A ranking looked up in the judgements once; every accuracy metric reads this.

    ``ranked`` is ``(n, k)`` (int with -1 pads, or object with None pads), ``gains`` the
    grade of each ranked item (0 when not relevant), ``ideal`` the best grades of each row
    in descending order (zero padded), ``n_rel`` the number of relevant items per row.
    """

    ranked: np.ndarray
    gains: np.ndarray
    ideal: np.ndarray
    n_rel: np.ndarray


@dataclass(frozen=True)
class ItemStats:
    """What the beyond-accuracy metrics need to know about the catalog.

    ``counts`` (training users per item) and ``n_users`` serve novelty, ``vectors`` (one row
    per item, dense or sparse) diversity.
    """

    n_items: int
    counts: np.ndarray | None = None
    n_users: int = 0
    vectors: np.ndarray | sp.sparray | sp.spmatrix | None = None

    @classmethod
    def from_train(cls, train: sp.spmatrix | sp.sparray) -> ItemStats:
        """From a users x items training matrix: popularity for novelty, and the item
        columns as vectors, so that diversity uses co-occurrence cosine (as Microsoft
        Recommenders does).

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> ItemStats.from_train(sp.csr_array([[1, 0, 1], [1, 0, 0]])).counts.tolist()
        [2, 0, 1]
        """
        x = sp.csr_array(train, dtype=np.float32)
        x.sum_duplicates()
        x.data[:] = 1.0
        counts = np.diff(x.tocsc().indptr).astype(np.int64)
        return cls(n_items=x.shape[1], counts=counts, n_users=x.shape[0], vectors=x.T.tocsr())


def _as_ranked(ranked, k: int) -> np.ndarray:
    """``ranked`` as a 2-D array of width ``k``: int64 (-1 pads) or object (None pads)."""
    if isinstance(ranked, np.ndarray) and ranked.ndim == 2 and ranked.dtype.kind in "iu":
        r = ranked[:, :k].astype(np.int64)
        if r.shape[1] < k:
            r = np.hstack([r, np.full((len(r), k - r.shape[1]), -1, np.int64)])
        return r
    rows = list(ranked)
    out = np.full((len(rows), k), None, dtype=object)
    for u, row in enumerate(rows):
        row = list(row)[:k]
        out[u, : len(row)] = row
    present = [x for x in out.ravel().tolist() if x is not None]
    if all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in present):
        return _ids_to_int(out)  # lists of indices: the int path, where -1 pads
    return out


def _ids_to_int(r: np.ndarray) -> np.ndarray:
    flat = [-1 if x is None else x for x in r.ravel().tolist()]
    try:
        arr = np.asarray(flat, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise ValueError("sparse relevance needs integer item indices in `ranked`") from e
    return arr.reshape(r.shape)


def _check_unique(r: np.ndarray) -> None:
    # A repeated item would be counted twice and push metrics above 1.
    s = np.sort(r, axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        u = int(np.argmax(dup.any(axis=1)))
        raise ValueError(f"row {u} of `ranked` lists an item twice")


def _judge_sparse(r: np.ndarray, relevant, k: int) -> Judged:
    rel = sp.csr_array(relevant, dtype=np.float64)
    rel.sum_duplicates()
    rel.data[rel.data < 0] = 0.0
    rel.eliminate_zeros()
    rel.sort_indices()
    n, n_items = rel.shape
    if r.dtype == object:
        r = _ids_to_int(r)
    if len(r) != n:
        raise ValueError(f"`ranked` has {len(r)} rows but `relevant` has {n}")
    if r.size and r.max() >= n_items:
        raise ValueError(f"`ranked` names item {int(r.max())} of a catalog of {n_items}")
    _check_unique(r)
    n_rel = np.diff(rel.indptr).astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), n_rel)
    # Each (row, item) pair as one sorted int64 key: a single searchsorted judges the lot.
    keys = rows * n_items + rel.indices
    q = np.arange(n, dtype=np.int64)[:, None] * n_items + np.maximum(r, 0)
    gains = np.zeros(r.shape, np.float64)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        found = (r >= 0) & (keys[pos] == q)
        gains[found] = rel.data[pos[found]]
    order = np.lexsort((-rel.data, rows))  # rows stay grouped, grades descending within
    rank_in_row = np.arange(len(order)) - rel.indptr[rows]
    keep = rank_in_row < k
    ideal = np.zeros(r.shape, np.float64)
    ideal[rows[keep], rank_in_row[keep]] = rel.data[order][keep]
    return Judged(r, gains, ideal, n_rel)


def _grades(rel) -> dict:
    if isinstance(rel, Mapping):
        return {i: float(g) for i, g in rel.items() if g > 0}
    return dict.fromkeys(rel, 1.0)


def _judge_collections(r: np.ndarray, relevant: Sequence, k: int) -> Judged:
    if len(relevant) != len(r):
        raise ValueError(f"`ranked` has {len(r)} rows but `relevant` has {len(relevant)}")
    gains = np.zeros(r.shape, np.float64)
    ideal = np.zeros(r.shape, np.float64)
    n_rel = np.zeros(len(r), np.int64)
    pad = -1 if r.dtype != object else None  # None pads object rows too (checked below)
    for u, rel in enumerate(relevant):
        grades = _grades(rel)
        n_rel[u] = len(grades)
        best = sorted(grades.values(), reverse=True)[:k]
        ideal[u, : len(best)] = best
        seen = set()
        for j, item in enumerate(r[u].tolist()):
            if item == pad or item is None:
                continue
            if item in seen:
                raise ValueError(f"row {u} of `ranked` lists {item!r} twice")
            seen.add(item)
            gains[u, j] = grades.get(item, 0.0)
    return Judged(r, gains, ideal, n_rel)


def judge(ranked, relevant, k: int) -> Judged:
    """Look each ranked item up in the judgements, keeping the first ``k`` of each row.

    Examples
    --------
    >>> judge([["a", "b"]], [{"b": 2}], k=2).gains.tolist()
    [[0.0, 2.0]]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    r = _as_ranked(ranked, k)
    if sp.issparse(relevant):
        return _judge_sparse(r, relevant, k)
    return _judge_collections(r, relevant, k)


def _per_rel(j: Judged, num: np.ndarray) -> np.ndarray:
    out = np.full(len(num), np.nan)
    np.divide(num, j.n_rel, out=out, where=j.n_rel > 0)
    return out


def _nan_unjudged(j: Judged, v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    v[j.n_rel == 0] = np.nan
    return v


def _discount(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def _precision(j: Judged, k: int) -> np.ndarray:
    return _nan_unjudged(j, (j.gains[:, :k] > 0).sum(axis=1) / k)


def _recall(j: Judged, k: int) -> np.ndarray:
    return _per_rel(j, (j.gains[:, :k] > 0).sum(axis=1))


def _ndcg(j: Judged, k: int) -> np.ndarray:
    d = _discount(k)
    dcg, idcg = j.gains[:, :k] @ d, j.ideal[:, :k] @ d
    out = np.full(len(dcg), np.nan)
    np.divide(dcg, idcg, out=out, where=idcg > 0)
    return out


def _map(j: Judged, k: int) -> np.ndarray:
    hits = j.gains[:, :k] > 0
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return _per_rel(j, (precision_at * hits).sum(axis=1))


def _mrr(j: Judged, k: int) -> np.ndarray:
    hits = j.gains[:, :k] > 0
    first = np.argmax(hits, axis=1)
    return _nan_unjudged(j, np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0))


def _hit_rate(j: Judged, k: int) -> np.ndarray:
    return _nan_unjudged(j, (j.gains[:, :k] > 0).any(axis=1).astype(np.float64))


# name -> metric over a Judged ranking, per row
ACCURACY: dict[str, Callable[[Judged, int], np.ndarray]] = {
    "precision": _precision,
    "recall": _recall,
    "ndcg": _ndcg,
    "map": _map,
    "mrr": _mrr,
    "hit_rate": _hit_rate,
}


def precision_at_k(ranked, relevant, k: int = 10) -> np.ndarray:
    """Per row, the share of the first ``k`` slots that hold a relevant item.

    Examples
    --------
    >>> precision_at_k([[3, 1, 2]], [{1, 2}], k=2).tolist()
    [0.5]
    """
    return _precision(judge(ranked, relevant, k), k)


def recall_at_k(ranked, relevant, k: int = 10) -> np.ndarray:
    """Per row, the share of relevant items found in the first ``k``.

    Examples
    --------
    >>> recall_at_k([[3, 1, 2]], [{1, 2, 9, 8}], k=2).tolist()
    [0.25]
    """
    return _recall(judge(ranked, relevant, k), k)


def ndcg_at_k(ranked, relevant, k: int = 10) -> np.ndarray:
    """Per row, DCG of the first ``k`` over the ideal DCG (linear gains, log2 discount).

    Examples
    --------
    >>> ndcg_at_k([[3, 1]], [{1}], k=2).round(4).tolist()
    [0.6309]
    """
    return _ndcg(judge(ranked, relevant, k), k)


def map_at_k(ranked, relevant, k: int = 10) -> np.ndarray:
    """Per row, average precision over the first ``k`` (denominator: all relevant items).

    Examples
    --------
    >>> map_at_k([[1, 3, 2]], [{1, 2}], k=3).round(4).tolist()
    [0.8333]
    """
    return _map(judge(ranked, relevant, k), k)


def mrr_at_k(ranked, relevant, k: int = 10) -> np.ndarray:
    """Per row, the reciprocal rank of the first relevant item within ``k`` (0 if none).

    Examples
    --------
    >>> mrr_at_k([[3, 1, 2]], [{2}], k=3).round(4).tolist()
    [0.3333]
    """
    return _mrr(judge(ranked, relevant, k), k)


def hit_rate_at_k(ranked, relevant, k: int = 10) -> np.ndarray:
    """Per row, 1 when a relevant item is in the first ``k``, else 0.

    Examples
    --------
    >>> hit_rate_at_k([[3, 1], [4, 5]], [{1}, {9}], k=2).tolist()
    [1.0, 0.0]
    """
    return _hit_rate(judge(ranked, relevant, k), k)


def catalog_coverage(ranked, n_items: int, k: int = 10) -> float:
    """Distinct items in the first ``k`` of all rows, over the catalog size.

    Examples
    --------
    >>> catalog_coverage([[0, 1], [1, 2]], n_items=10, k=2)
    0.3
    """
    r = _as_ranked(ranked, k)
    items = np.unique(r[r >= 0]) if r.dtype != object else {x for x in r.ravel() if x is not None}
    return len(items) / n_items


def intra_list_diversity(ranked, item_vectors, k: int = 10) -> np.ndarray:
    """Per row, 1 - the mean cosine similarity over pairs of its first ``k`` items (NaN for
    lists of fewer than two). ``item_vectors`` is dense or sparse, one row per item index.

    Examples
    --------
    >>> import numpy as np
    >>> intra_list_diversity(np.array([[0, 1], [0, 2]]), np.eye(3)[[0, 1, 0]], k=2).tolist()
    [1.0, 0.0]
    """
    r = _as_ranked(ranked, k)
    if r.dtype == object:
        r = _ids_to_int(r)
    sparse = sp.issparse(item_vectors)
    v = sp.csr_array(item_vectors, dtype=np.float64) if sparse else np.asarray(item_vectors, np.float64)
    sq = np.asarray(v.multiply(v).sum(axis=1)).ravel() if sparse else np.einsum("ij,ij->i", v, v)
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    v = (sp.diags_array(1.0 / norms) @ v).tocsr() if sparse else v / norms[:, None]
    valid = r >= 0
    # Pairs are visited slot by slot so that the work is vectorised over rows and the
    # temporary stays (rows x dim) even for sparse vectors.
    rows = [v[np.maximum(r[:, a], 0)] for a in range(r.shape[1])]
    total = np.zeros(len(r))
    pairs = np.zeros(len(r))
    for a in range(r.shape[1]):
        for b in range(a + 1, r.shape[1]):
            m = valid[:, a] & valid[:, b]
            if sparse:
                s = np.asarray(rows[a].multiply(rows[b]).sum(axis=1)).ravel()
            else:
                s = np.einsum("ij,ij->i", rows[a], rows[b])
            total += np.where(m, s, 0.0)
            pairs += m
    out = np.full(len(r), np.nan)
    np.divide(total, pairs, out=out, where=pairs > 0)
    return 1.0 - out


def novelty(ranked, item_counts: np.ndarray, n_users: int, k: int = 10) -> np.ndarray:
    """Per row, the mean self-information ``-log2(count_i / n_users)`` of its first ``k``
    items, in bits; an item no training user had counts as had once.

    Examples
    --------
    >>> import numpy as np
    >>> novelty(np.array([[0, 1]]), np.array([8, 2]), n_users=8, k=2).tolist()
    [1.0]
    """
    r = _as_ranked(ranked, k)
    if r.dtype == object:
        r = _ids_to_int(r)
    info = -np.log2(np.maximum(np.asarray(item_counts, np.float64), 1.0) / n_users)
    valid = r >= 0
    total = np.where(valid, info[np.maximum(r, 0)], 0.0).sum(axis=1)
    out = np.full(len(r), np.nan)
    np.divide(total, valid.sum(axis=1), out=out, where=valid.any(axis=1))
    return out


def _beyond(name: str, j: Judged, k: int, items: ItemStats | None):
    need = {"diversity": "vectors", "novelty": "counts"}.get(name)
    if items is None or (need and getattr(items, need) is None):
        raise ValueError(f"{name} needs ItemStats with {need or 'n_items'} (items=...)")
    judged = j.n_rel > 0
    r = j.ranked[judged]
    if name == "coverage":
        return catalog_coverage(r, items.n_items, k)
    out = np.full(len(j.ranked), np.nan)
    if name == "diversity":
        out[judged] = intra_list_diversity(r, items.vectors, k)
    else:
        out[judged] = novelty(r, items.counts, items.n_users, k)
    return out


BEYOND_ACCURACY = ("coverage", "diversity", "novelty")


def parse_metric(spec: str, k: int) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; a bare name takes the cutoff ``k``."""
    name, _, cut = spec.partition("@")
    if name not in ACCURACY and name not in BEYOND_ACCURACY:
        known = ", ".join([*ACCURACY, *BEYOND_ACCURACY])
        raise ValueError(f"unknown metric {name!r}; use one of {known}")
    cutoff = int(cut) if cut else k
    if cutoff < 1:
        raise ValueError(f"cutoff must be >= 1 in {spec!r}")
    return name, cutoff


@dataclass(frozen=True)
class Evaluation:
    """Means over judged users (``metrics``), per-user values aligned with the rows of
    ``ranked`` (NaN for users with no relevant item), and how many users were judged."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    n_users: int


def evaluate_rankings(
    ranked,
    relevant,
    k: int = 10,
    metrics: Sequence[str] = DEFAULT_METRICS,
    items: ItemStats | None = None,
) -> Evaluation:
    """Several metrics from one lookup of the rankings in the judgements.

    ``metrics`` are names, each optionally with its own cutoff (``"recall@100"``); a bare
    name uses ``k``. Coverage, diversity and novelty need ``items``; they are computed over
    the same users as the accuracy metrics (those with a relevant item).

    Examples
    --------
    >>> ev = evaluate_rankings([["a", "b", "c"]], [{"c": 1}], k=3, metrics=["ndcg", "mrr@2"])
    >>> ev.metrics
    {'ndcg@3': 0.5, 'mrr@2': 0.0}
    """
    specs = [parse_metric(m, k) for m in metrics]
    if items is None and sp.issparse(relevant):
        items = ItemStats(n_items=relevant.shape[1])
    j = judge(ranked, relevant, max([c for _, c in specs], default=k))
    judged = int((j.n_rel > 0).sum())
    out: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    for name, cut in specs:
        key = f"{name}@{cut}"
        v = ACCURACY[name](j, cut) if name in ACCURACY else _beyond(name, j, cut, items)
        if np.ndim(v) == 0:
            out[key] = float(v)
            continue
        per_user[key] = v
        out[key] = float(np.nanmean(v)) if judged and not np.isnan(v).all() else float("nan")
    return Evaluation(out, per_user, judged)


def evaluate_run(
    run: Mapping[str, Mapping[str, float] | Sequence[str]],
    qrels: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = ("ndcg@10", "recall@100", "mrr@10"),
) -> Evaluation:
    """Search evaluation from TREC-style dicts: ``run[query]`` is ``{doc: score}`` or a
    ranked list of docs, ``qrels[query]`` is ``{doc: grade}``.

    Queries are those of ``qrels`` with a relevant document, in its order; one absent from
    ``run`` scores 0 (as ``trec_eval -c``). Equal scores are broken by doc id, descending,
    as trec_eval does. A bare metric name takes the longest list as its cutoff.

    Examples
    --------
    >>> ev = evaluate_run({"q": {"d1": 0.9, "d2": 0.5}}, {"q": {"d2": 1}}, ["mrr@10"])
    >>> ev.metrics
    {'mrr@10': 0.5}
    """
    queries = [q for q, g in qrels.items() if any(v > 0 for v in g.values())]
    ranked = []
    for q in queries:
        docs = run.get(q, ())
        if isinstance(docs, Mapping):
            docs = [d for d, _ in sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)]
        ranked.append(list(docs))
    width = max((len(r) for r in ranked), default=1) or 1
    return evaluate_rankings(ranked, [qrels[q] for q in queries], k=width, metrics=metrics)
