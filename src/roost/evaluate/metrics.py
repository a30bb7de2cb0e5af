"""Ranking metrics over arrays: one implementation for recommendation and search.

Inputs (see :mod:`roost.evaluate.judging`)
------------------------------------------
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

from roost.evaluate.beyond import (
    BEYOND_ACCURACY,
    ItemStats,
    beyond,
    catalog_coverage,
    intra_list_diversity,
    novelty,
)
from roost.evaluate.judging import Judged, judge

DEFAULT_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")

__all__ = [
    "ACCURACY",
    "BEYOND_ACCURACY",
    "DEFAULT_METRICS",
    "Evaluation",
    "ItemStats",
    "Judged",
    "catalog_coverage",
    "evaluate_rankings",
    "evaluate_run",
    "hit_rate_at_k",
    "intra_list_diversity",
    "judge",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "parse_metric",
    "precision_at_k",
    "recall_at_k",
]


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
        v = ACCURACY[name](j, cut) if name in ACCURACY else beyond(name, j, cut, items)
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
