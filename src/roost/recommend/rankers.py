"""Rankers: a weighted channel blend (no training needed) and MMR re-ranking for diversity.

The learned ranker (LightGBM lambdarank, logistic regression fallback) lives in
:mod:`roost.recommend.learned`.
"""

from __future__ import annotations

import numpy as np

from roost.recommend.base import Candidate, Ranker
from roost.recommend.context import RecContext


class Blend(Ranker):
    """Weighted sum of per-channel scores, each normalised by the channel's best score in
    this request, so channels on different scales mix fairly. Items found by several
    channels add up."""

    name = "blend"

    def __init__(self, weights: dict[str, float] | None = None):
        self.weights = dict(weights or {})

    def score(self, ctx: RecContext, user: str, cands: list[Candidate]) -> None:
        best: dict[str, float] = {}
        for c in cands:
            for ch, s in c.scores.items():
                best[ch] = max(best.get(ch, 0.0), abs(s))
        for c in cands:
            c.final = sum(
                self.weights.get(ch, 1.0) * (s / best[ch] if best[ch] else 0.0)
                for ch, s in c.scores.items()
            )


def mmr(
    cands: list[Candidate], vectors: np.ndarray | None, k: int, lambda_: float
) -> list[Candidate]:
    """Maximal marginal relevance: trade relevance for dissimilarity to what is already
    picked. ``vectors[j]`` is candidate j's unit vector (rows without one: zeros).
    ``lambda_`` = 1 keeps the ranking as is."""
    if vectors is None or lambda_ >= 1.0 or len(cands) <= 1:
        return sorted(cands, key=lambda c: -c.final)[:k]
    rel = np.array([c.final for c in cands], np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    sims = vectors @ vectors.T
    picked: list[int] = []
    max_sim = np.full(len(cands), -np.inf)
    remaining = np.ones(len(cands), bool)
    for _ in range(min(k, len(cands))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        score = np.where(remaining, lambda_ * rel - (1 - lambda_) * penalty, -np.inf)
        j = int(np.argmax(score))
        picked.append(j)
        remaining[j] = False
        max_sim = np.maximum(max_sim, sims[j])
    return [cands[j] for j in picked]


RANKERS: dict[str, type[Ranker]] = {Blend.name: Blend}
