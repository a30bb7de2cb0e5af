"""Rankers: a weighted channel blend (no training needed) and MMR re-ranking for diversity.

The learned ranker (LightGBM lambdarank, logistic regression fallback) lives in
:mod:`roost.recommend.learned`.
"""

from __future__ import annotations

import numpy as np

from roost.recommend.base import Candidate, Pool, Ranker
from roost.recommend.context import RecContext


class Blend(Ranker):
    """Weighted sum of per-channel scores, each normalised by the channel's best score in
    this request, so channels on different scales mix fairly. Items found by several
    channels add up."""

    name = "blend"

    def __init__(self, weights: dict[str, float] | None = None):
        self.weights = dict(weights or {})

    def score(self, ctx: RecContext, user: str, cands: list[Candidate]) -> None:
        pool = Pool.of(cands)
        s = pool.scores
        if not s.size:
            pool.set_final(np.zeros(len(pool)))
            return
        found = ~np.isnan(s)
        best = np.max(np.abs(s), axis=0, where=found, initial=0.0)
        w = np.array([self.weights.get(ch, 1.0) for ch in pool.channels])
        part = np.divide(s, best, out=np.zeros_like(s), where=found & (best > 0))
        pool.set_final((part * w).sum(1))


def mmr_order(rel: np.ndarray, vectors: np.ndarray, k: int, lambda_: float) -> np.ndarray:
    """Maximal marginal relevance over relevance scores ``rel`` and unit ``vectors``
    (rows without one: zeros): the positions of up to ``k`` picks, in pick order.
    ``lambda_`` = 1 keeps the order of ``rel``."""
    rel = np.asarray(rel, np.float64)
    if vectors is None or lambda_ >= 1.0 or len(rel) <= 1:
        return np.argsort(-rel, kind="stable")[:k]
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    sims = vectors @ vectors.T
    gain = lambda_ * rel
    # nothing is picked yet: no penalty, the most relevant comes first
    picked = [int(np.argmax(gain))]
    max_sim = sims[picked[0]].astype(np.float64)
    for _ in range(min(k, len(rel)) - 1):
        score = gain - (1 - lambda_) * max_sim
        score[picked] = -np.inf
        j = int(np.argmax(score))
        picked.append(j)
        np.maximum(max_sim, sims[j], out=max_sim)
    return np.asarray(picked, np.int64)


def mmr(
    cands: list[Candidate], vectors: np.ndarray | None, k: int, lambda_: float
) -> list[Candidate]:
    """Maximal marginal relevance: trade relevance for dissimilarity to what is already
    picked. ``vectors[j]`` is candidate j's unit vector (rows without one: zeros).
    ``lambda_`` = 1 keeps the ranking as is."""
    order = mmr_order([c.final for c in cands], vectors, k, lambda_)
    return [cands[j] for j in order]


RANKERS: dict[str, type[Ranker]] = {Blend.name: Blend}
