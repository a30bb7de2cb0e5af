"""Fusing ranked lists: reciprocal rank fusion and weighted score fusion."""

from __future__ import annotations

import numpy as np

from roost.types import Hits


def rrf(
    runs: list[Hits], k: int = 10, k0: float = 60.0, weights: list[float] | None = None
) -> Hits:
    """Reciprocal rank fusion (Cormack et al., 2009): score = sum_w w / (k0 + rank).

    Examples
    --------
    >>> a = Hits(np.array([["x", "y"]], object), np.array([[2.0, 1.0]], np.float32))
    >>> b = Hits(np.array([["y", "z"]], object), np.array([[5.0, 4.0]], np.float32))
    >>> rrf([a, b], k=1).ids[0, 0]
    'y'
    """
    weights = weights or [1.0] * len(runs)
    return _fuse(runs, k, lambda rank, score, w: w / (k0 + rank + 1), weights)


def weighted(runs: list[Hits], k: int = 10, weights: list[float] | None = None) -> Hits:
    """Weighted sum of per-query min-max normalised scores (a missing hit counts 0)."""
    weights = weights or [1.0] * len(runs)
    normed = []
    for run in runs:
        s = np.where(np.isfinite(run.scores), run.scores, np.nan)
        lo = np.nanmin(s, axis=1, keepdims=True) if s.size else s
        hi = np.nanmax(s, axis=1, keepdims=True) if s.size else s
        span = np.where((hi - lo) > 0, hi - lo, 1.0)
        normed.append(Hits(run.ids, np.nan_to_num((s - lo) / span, nan=-np.inf).astype(np.float32)))
    return _fuse(normed, k, lambda rank, score, w: w * max(score, 0.0), weights)


def _fuse(runs: list[Hits], k: int, contrib, weights: list[float]) -> Hits:
    nq = runs[0].ids.shape[0]
    ids = np.full((nq, k), None, dtype=object)
    scores = np.full((nq, k), -np.inf, np.float32)
    for q in range(nq):
        acc: dict[str, float] = {}
        for run, w in zip(runs, weights, strict=True):
            for rank, (i, s) in enumerate(zip(run.ids[q], run.scores[q], strict=True)):
                if i is not None:
                    acc[i] = acc.get(i, 0.0) + contrib(rank, float(s), w)
        top = sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        for r, (i, s) in enumerate(top):
            ids[q, r] = i
            scores[q, r] = s
    return Hits(ids, scores)


FUSIONS = {"rrf": rrf, "weighted": weighted}
