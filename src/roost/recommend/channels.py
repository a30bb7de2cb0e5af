"""Candidate channels that need no embedding: popular, fresh, followed, co-occurrence.

The embedding channels (item-to-item, user-to-item, cluster recall) live in
:mod:`roost.recommend.vector_channels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from roost.recommend.base import Channel
from roost.recommend.context import RecContext


def _top(scores: np.ndarray, k: int, exclude: set[int] | None = None) -> np.ndarray:
    """Rows of the k largest finite scores, best first, skipping ``exclude``."""
    if exclude:
        scores = scores.copy()
        scores[list(exclude)] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return np.empty(0, np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def _first(order: np.ndarray, k: int, exclude: set[int]) -> np.ndarray:
    """The first ``k`` of ``order`` (rows, best first) that are not in ``exclude``."""
    if not exclude:
        return order[:k]
    head = order[: k + len(exclude)]
    return head[[int(r) not in exclude for r in head.tolist()]][:k]


class _Ranked:
    """A ranking of every item by a channel's request-independent score, rebuilt only
    when the catalog changed (an event or an item): requests then take its head."""

    def __init__(self):
        self._key = None

    def get(self, ctx: RecContext, score) -> tuple[np.ndarray, np.ndarray]:
        key = (id(ctx), ctx.changes, len(ctx))
        if self._key != key:
            s = score()
            finite = np.flatnonzero(np.isfinite(s))
            self._value = (finite[np.argsort(-s[finite], kind="stable")], s)
            self._key = key
        return self._value


class Popular(Channel):
    """Most engaged-with items, time-decayed (half-life set on the context)."""

    name = "popular"

    def candidates(
        self, ctx: RecContext, user: str, k: int
    ) -> list[tuple[int, float, dict[str, Any]]]:
        if "_ranked" not in self.__dict__:
            self._ranked = _Ranked()
        pop = ctx.popularity
        order, _ = self._ranked.get(ctx, lambda: np.where(pop > 0, pop, -np.inf))
        rows = _first(order, k, ctx.seen(user))
        top = float(pop[rows[0]]) if len(rows) else 1.0
        return [
            (int(r), float(pop[r]) / top, {"popularity": round(float(pop[r]), 3)}) for r in rows
        ]


class Fresh(Channel):
    """Newest items (by ``created_at``), no older than ``max_age_days``."""

    name = "fresh"

    def __init__(self, max_age_days: float = 30.0):
        self.max_age_days = max_age_days

    def candidates(
        self, ctx: RecContext, user: str, k: int
    ) -> list[tuple[int, float, dict[str, Any]]]:
        if "_ranked" not in self.__dict__:
            self._ranked = _Ranked()

        def score():
            age = ctx.age_days(np.arange(len(ctx)))
            return np.where(age <= self.max_age_days, -age, -np.inf)

        order, s = self._ranked.get(ctx, score)
        rows = _first(order, k, ctx.seen(user))
        age = -s
        return [
            (int(r), float(1.0 / (1.0 + age[r])), {"age_days": round(float(age[r]), 1)})
            for r in rows
        ]


class Followed(Channel):
    """Items by the authors the user follows, newest first (the Flutter timeline)."""

    name = "followed"

    def candidates(
        self, ctx: RecContext, user: str, k: int
    ) -> list[tuple[int, float, dict[str, Any]]]:
        rows: list[int] = []
        authors: dict[int, str] = {}
        for a in ctx.follows.get(user, ()):
            for r in ctx.by_author.get(a, ()):
                rows.append(r)
                authors[r] = a
        if not rows:
            return []
        arr = np.array(sorted(set(rows)))
        age = ctx.age_days(arr)
        seen = ctx.seen(user)
        order = np.argsort(age, kind="stable")
        out = []
        for j in order:
            r = int(arr[j])
            if r in seen:
                continue
            out.append((r, float(1.0 / (1.0 + age[j])), {"author": authors[r]}))
            if len(out) >= k:
                break
        return out


class CoOccurrence(Channel):
    """Item-to-item by co-occurrence in users' histories (cosine of item columns): the
    classic "people who liked this also liked" baseline, no embedding needed."""

    name = "cooccurrence"

    def __init__(self, recent: int = 20, neighbours: int = 50):
        self.recent = recent
        self.neighbours = neighbours

    def fit(self, ctx: RecContext) -> CoOccurrence:
        users = {u: j for j, u in enumerate(ctx.histories)}
        rows, cols = [], []
        for u, h in ctx.histories.items():
            for i, w in zip(h.items, h.weights, strict=True):
                if w > 0:
                    rows.append(users[u])
                    cols.append(i)
        x = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(max(len(users), 1), len(ctx))
        )
        x.data[:] = 1.0
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        xn = x @ sp.diags(1.0 / norms)
        self.sim_ = (xn.T @ xn).tocsr()
        self.sim_.setdiag(0)
        self.sim_.eliminate_zeros()
        return self

    def candidates(
        self, ctx: RecContext, user: str, k: int
    ) -> list[tuple[int, float, dict[str, Any]]]:
        liked = [r for r in ctx.liked(user, self.recent) if r < self.sim_.shape[0]]
        if not liked:
            return []
        # the liked rows read straight from the CSR arrays: scipy's row and column
        # indexing cost more than the arithmetic at this size
        sim = self.sim_
        starts, ends = sim.indptr[liked], sim.indptr[np.asarray(liked) + 1]
        take = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
        which = np.repeat(np.arange(len(liked)), ends - starts)
        cols_of, vals = sim.indices[take], sim.data[take]
        # summed in float32, row after row, the way scipy's sum(axis=0) does
        scores = np.zeros(sim.shape[1], sim.dtype)
        np.add.at(scores, cols_of, vals)
        rows = _top(np.where(scores > 0, scores, -np.inf), k, ctx.seen(user))
        if not len(rows):
            return []
        at = np.full(sim.shape[1], -1, np.int64)
        at[rows] = np.arange(len(rows))
        hit = at[cols_of] >= 0
        cols = np.zeros((len(liked), len(rows)), sim.dtype)
        cols[which[hit], at[cols_of[hit]]] = vals[hit]
        best = cols.argmax(axis=0)
        return [
            (
                int(r),
                float(scores[r]),
                {
                    "because": ctx.item_ids[liked[int(best[j])]],
                    "similarity": round(float(cols[best[j], j]), 3),
                },
            )
            for j, r in enumerate(rows)
        ]


CHANNELS: dict[str, type[Channel]] = {c.name: c for c in (Popular, Fresh, Followed, CoOccurrence)}
