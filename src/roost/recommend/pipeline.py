"""The staged recommender: sources (channels) -> hydrate -> filter -> score -> select.

A composition, not a framework: a :class:`Pipeline` holds lists of channels and filters,
one ranker and a selection rule, and runs them in order for one user, timing each stage
and counting what each filter removed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roost.recommend.base import Candidate, Channel, Filter, Pool, Ranker
from roost.recommend.context import RecContext
from roost.recommend.rankers import Blend, mmr_order

STAGES = ("sources", "hydrate", "filter", "score", "select")
MMR_POOL_PER_K = 5  # candidates per requested item that MMR chooses among


@dataclass
class Recommendation:
    id: str
    title: str
    score: float
    why: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every reason, which cost 1.5 ms of a
        # 10-item /recommend answer; the reasons are plain JSON values nobody changes.
        return {"id": self.id, "title": self.title, "score": self.score, "why": self.why}


@dataclass
class Result:
    user: str
    items: list[Recommendation]
    removed: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "items": [r.to_dict() for r in self.items],
            "removed": self.removed,
            "timings_ms": {k: round(v * 1000, 3) for k, v in self.timings.items()},
        }


class Pipeline:
    """One surface's recommender.

    Parameters
    ----------
    channels : the candidate sources; each contributes up to ``per_channel`` items.
    filters : business rules, applied in order.
    ranker : orders the survivors (default: :class:`~roost.recommend.rankers.Blend`).
    diversity : MMR trade-off in [0, 1]; 1 keeps the ranker's order (needs ``mmr_vectors``).
    mmr_vectors : a callable ``rows -> unit vectors`` for MMR, or None.
    on_stage : a callable ``(stage, seconds)`` told after every stage (latency histograms).
    reserve : :class:`~roost.recommend.reserve.Reserve` s applied after ranking.
    """

    def __init__(
        self,
        channels: list[Channel],
        filters: list[Filter] = (),
        ranker: Ranker | None = None,
        per_channel: int = 100,
        diversity: float = 1.0,
        mmr_vectors=None,
        on_stage=None,
        reserve=(),
    ):
        self.channels = list(channels)
        self.filters = list(filters)
        self.ranker = ranker or Blend()
        self.per_channel = per_channel
        self.diversity = diversity
        self.mmr_vectors = mmr_vectors
        self.on_stage = on_stage
        self.reserve = tuple(reserve)

    def fit(self, ctx: RecContext) -> Pipeline:
        for c in self.channels:
            c.fit(ctx)
        return self

    def candidates(
        self, ctx: RecContext, user: str, filters: list[Filter] = (), lap=None
    ) -> tuple[Pool, dict[str, int]]:
        """The pool that reaches ranking: every channel's candidates merged, then
        filtered; returns it with how many each filter removed (training reads this)."""
        lap = lap or (lambda stage: None)
        found: list[tuple[str, list]] = [
            (ch.name, ch.candidates(ctx, user, self.per_channel)) for ch in self.channels
        ]
        lap("sources")
        # withdrawn since the channel's state was built: dropped
        pool = Pool.merge(found, drop=ctx.deleted)
        lap("hydrate")
        removed: dict[str, int] = {}
        alive = np.arange(len(pool))  # each rule sees what the ones before it kept
        for f in (*self.filters, *filters):
            if not len(alive):
                break
            keep = np.asarray(f.keep(ctx, user, pool.rows[alive].tolist()), bool)
            removed[f.name] = removed.get(f.name, 0) + int(len(alive) - keep.sum())
            alive = alive[keep]
        if len(alive) < len(pool):
            pool = pool.take(alive)
        lap("filter")
        return pool, removed

    def recommend(
        self,
        ctx: RecContext,
        user: str,
        k: int = 10,
        filters: list[Filter] = (),
        explain: bool = True,
    ) -> Result:
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = now - clock
            if self.on_stage is not None:
                self.on_stage(stage, timings[stage])
            clock = now

        pool, removed = self.candidates(ctx, user, filters, lap)
        if len(pool):
            self.ranker.score(ctx, user, pool)
        lap("score")
        order = np.argsort(-pool.final, kind="stable")
        if self.mmr_vectors and self.diversity < 1 and len(pool) > 1:
            # MMR re-orders the head of the ranking; the tail would only cost a pool-sized
            # similarity matrix (500 x 500 x 384 on the demo) and never be picked.
            head = order[: max(MMR_POOL_PER_K * k, 50)]
            vectors = self.mmr_vectors(pool.rows[head].tolist())
            order = head[mmr_order(pool.final[head], vectors, k, self.diversity)]
        for r in self.reserve:
            order = r.apply(ctx, pool, order, k)
        chosen = [pool[int(j)] for j in order[:k]]
        if explain:
            self.ranker.explain(ctx, user, chosen)
        mine = _liked_tags(ctx, user) if explain else set()
        items = [
            Recommendation(
                ctx.item_ids[c.row],
                ctx.titles[c.row],
                round(float(c.final), 6),
                _explain(ctx, user, c, mine) if explain else [],
            )
            for c in chosen
        ]
        lap("select")
        return Result(user, items, removed, timings)


def _liked_tags(ctx: RecContext, user: str) -> set[str]:
    return {t for r in ctx.liked(user, 20) for t in ctx.tags[r]}


def _explain(
    ctx: RecContext, user: str, c: Candidate, mine: set[str] | None = None
) -> list[dict[str, Any]]:
    """The reasons, in words a person can read: channel, the user's item behind it,
    shared tags, and the ranker's top features when it learned any."""
    out = []
    for w in c.why:
        w = dict(w)
        if "because" in w and w["because"] in ctx.index:
            w["because_title"] = ctx.titles[ctx.index[w["because"]]]
        out.append(w)
    mine = _liked_tags(ctx, user) if mine is None else mine
    if mine:
        shared = sorted(mine.intersection(ctx.tags[c.row]))
        if shared:
            out.append({"shared_tags": shared[:5]})
    if c.features:
        top = sorted(c.features.items(), key=lambda kv: -abs(kv[1]))[:3]
        out.append({"ranker_top_features": {k: round(float(v), 4) for k, v in top}})
    return out


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(vectors, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return vectors / n
