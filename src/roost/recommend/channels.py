"""Candidate channels that need no embedding: popular, fresh, followed, co-occurrence.

The embedding channels (item-to-item, user-to-item, cluster recall) live in
:mod:`roost.recommend.vector_channels`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from roost.recommend.base import Channel, Shortlist
from roost.recommend.context import RecContext


def _first(ctx: RecContext, user: str, order: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` of ``order`` (rows, best first) that ``user`` has not seen."""
    head = order[: k + len(ctx.seen_rows(user))]
    return head[ctx.not_seen(user, head)][:k]


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

    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist:
        if "_ranked" not in self.__dict__:
            self._ranked = _Ranked()
        pop = ctx.popularity
        order, _ = self._ranked.get(ctx, lambda: np.where(pop > 0, pop, -np.inf))
        rows = _first(ctx, user, order, k)
        p = pop[rows].astype(np.float64)
        top = float(p[0]) if len(rows) else 1.0
        return Shortlist(rows, p / top, {"popularity": p}, {"popularity": 3})


class Fresh(Channel):
    """Newest items (by ``created_at``), no older than ``max_age_days``."""

    name = "fresh"

    def __init__(self, max_age_days: float = 30.0):
        self.max_age_days = max_age_days

    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist:
        if "_ranked" not in self.__dict__:
            self._ranked = _Ranked()

        def score():
            age = ctx.age_days(np.arange(len(ctx)))
            return np.where(age <= self.max_age_days, -age, -np.inf)

        order, s = self._ranked.get(ctx, score)
        rows = _first(ctx, user, order, k)
        age = -s[rows].astype(np.float64)
        return Shortlist(rows, 1.0 / (1.0 + age), {"age_days": age}, {"age_days": 1})


class Followed(Channel):
    """Items by the authors the user follows, and the user's own, newest first (the
    Flutter timeline: your own new flit shows there too)."""

    name = "followed"

    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist:
        rows: list[int] = []
        authors: dict[int, str] = {}
        for a in (*ctx.follows.get(user, ()), user):
            for r in ctx.by_author.get(a, ()):
                rows.append(r)
                authors[r] = a
        if not rows:
            return Shortlist([], [])
        arr = np.array(sorted(set(rows)), np.int64)
        arr = arr[ctx.not_seen(user, arr)]
        age = ctx.age_days(arr)
        pick = np.argsort(age, kind="stable")[:k]
        arr = arr[pick]
        return Shortlist(
            arr, 1.0 / (1.0 + age[pick]), {"author": [authors[r] for r in arr.tolist()]}
        )


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

    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist:
        liked = [r for r in ctx.liked(user, self.recent) if r < self.sim_.shape[0]]
        if not liked:
            return Shortlist([], [])
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
        seen = ctx.seen_rows(user)
        scores[seen[seen < len(scores)]] = 0.0  # items added live are not in sim_
        found = np.flatnonzero(scores > 0)
        if len(found) > k:  # the k best and everything tied with the k-th
            kth = np.partition(scores[found], len(found) - k)[len(found) - k]
            found = found[scores[found] >= kth]
        rows = found[np.lexsort((found, -scores[found]))[:k]]  # equal sums in row order
        if not len(rows):
            return Shortlist([], [])
        at = np.full(sim.shape[1], -1, np.int64)
        at[rows] = np.arange(len(rows))
        mine = at[cols_of]
        hit = mine >= 0
        cols = np.zeros((len(liked), len(rows)), sim.dtype)
        cols[which[hit], mine[hit]] = vals[hit]
        best = cols.argmax(axis=0)
        liked_ids = np.array([ctx.item_ids[r] for r in liked], dtype=object)
        return Shortlist(
            rows,
            scores[rows].astype(np.float64),
            {
                "because": liked_ids[best],
                "similarity": cols[best, np.arange(len(rows))].astype(np.float64),
            },
            {"similarity": 3},
        )


CHANNELS: dict[str, type[Channel]] = {c.name: c for c in (Popular, Fresh, Followed, CoOccurrence)}
