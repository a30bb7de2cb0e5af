"""Candidate channels over embeddings: item-to-item, user-to-item and cluster recall.

Each reads one :class:`~roost.recommend.spaces.VectorSpace` (an embedding version opened
for serving) and names it in ``version`` (the alias) and ``version_id``, so a result can
say which embeddings found it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from threadpoolctl import threadpool_limits

from roost.data.frames import Interactions
from roost.embed.users import pinnersage_user_vectors
from roost.index.topk import normalize_rows
from roost.recommend.base import Channel, Shortlist
from roost.recommend.context import DAY, RecContext
from roost.recommend.spaces import VectorSpace
from roost.types import EmbeddingSet, RoostError


class _VectorChannel(Channel):
    space: VectorSpace

    @property
    def version(self) -> str:
        """The alias (or id) of the embedding version this channel reads."""
        return self.space.alias

    @property
    def version_id(self) -> str:
        return self.space.id


def popularity_freshness(
    ctx: RecContext, rows: np.ndarray, half_life_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """Popularity on a log scale in [0, 1] and freshness ``0.5 ** (age / half-life)``."""
    pop = ctx.popularity
    top = float(np.log1p(pop.max())) if len(pop) else 0.0
    p = np.log1p(pop[rows]) / top if top > 0 else np.zeros(len(rows))
    age = ctx.age_days(rows)
    f = np.where(np.isfinite(age), 0.5 ** (np.maximum(age, 0) / half_life_days), 0.0)
    return p, f


class ItemToItem(_VectorChannel):
    """Neighbours of the user's recent items in an item embedding space.

    A neighbour counts when its cosine to one of the user's items reaches ``cutoff``
    (0.6 in the news recommender this follows); its score sums its similarities over the
    user's items, then is re-weighted by popularity and freshness. ``why`` names the
    user's item that led to it.

    Parameters
    ----------
    space : the embedding version to search.
    recent : how many of the user's latest liked items are looked up.
    neighbours : neighbours fetched per item.
    cutoff : the least cosine similarity kept.
    popularity_weight, freshness_weight : score multiplier ``(1 + w * x)`` for each.
    half_life_days : freshness halves at this age.
    """

    name = "item_to_item"

    def __init__(
        self,
        space: VectorSpace,
        recent: int = 10,
        neighbours: int = 50,
        cutoff: float = 0.6,
        popularity_weight: float = 0.2,
        freshness_weight: float = 0.1,
        half_life_days: float = 30.0,
    ):
        self.space = space
        self.recent = recent
        self.neighbours = neighbours
        self.cutoff = cutoff
        self.popularity_weight = popularity_weight
        self.freshness_weight = freshness_weight
        self.half_life_days = half_life_days

    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist:
        liked = [ctx.item_ids[r] for r in ctx.liked(user, self.recent)]
        liked = [i for i in liked if self.space.has(i)]
        if not liked:
            return Shortlist([], [])
        top, sims = self.space.neighbour_rows(liked, self.neighbours)
        rows = np.where(top >= 0, self.space.ctx_rows(ctx)[np.maximum(top, 0)], -1)
        # lists are best first: what stops at the cut-off is every similarity below it
        ok = (rows >= 0) & (sims >= self.cutoff)
        ok &= ctx.not_seen(user, rows)
        src, rank = np.nonzero(ok)  # in the order the user's items and their lists come
        if not len(src):
            return Shortlist([], [])
        hit_rows = rows[src, rank]
        hit_sims = sims[src, rank].astype(np.float64)
        # candidates in the order first met (ties in the final sort keep it)
        uniq, first, inv = np.unique(hit_rows, return_index=True, return_inverse=True)
        by_first = np.argsort(first, kind="stable")
        rank_of = np.empty(len(uniq), np.int64)
        rank_of[by_first] = np.arange(len(uniq))
        group = rank_of[inv]
        total = np.bincount(group, weights=hit_sims, minlength=len(uniq))
        # each candidate's best similarity, the earliest of equals: the item behind it
        order = np.lexsort((np.arange(len(group)), -hit_sims, group))
        g = group[order]
        head = order[np.concatenate(([True], g[1:] != g[:-1]))]
        cand = uniq[by_first]
        pop, fresh = popularity_freshness(ctx, cand, self.half_life_days)
        score = total * (1 + self.popularity_weight * pop) * (1 + self.freshness_weight * fresh)
        pick = np.argsort(-score, kind="stable")[:k]
        h = head[pick]
        return Shortlist(
            cand[pick],
            score[pick],
            {
                "because": np.array(liked, dtype=object)[src[h]],
                "similarity": hit_sims[h],
                "version": self.version,
            },
            {"similarity": 3},
        )


class UserToItem(_VectorChannel):
    """The user's vector against the item index.

    The vector is the one folded in after live events, else the version's fitted user
    vector, else folded in from the user's recent items (a user the version never saw).
    With ``multi=True`` the user is several vectors (PinnerSage): the medoids of clusters
    of their recent items, each searched, results shared out by cluster importance.

    Parameters
    ----------
    space : the embedding version (its users set, or item vectors to fold in from).
    recent : recent items used to fold in (and to cluster, for ``multi``).
    multi : PinnerSage multi-vector recall instead of one vector.
    max_vectors : clusters kept per user with ``multi``.
    distance_threshold : where PinnerSage cuts the dendrogram (Ward on unit vectors).
    """

    name = "user_to_item"

    def __init__(
        self,
        space: VectorSpace,
        recent: int = 50,
        multi: bool = False,
        max_vectors: int = 3,
        distance_threshold: float = 1.0,
    ):
        self.space = space
        self.recent = recent
        self.multi = multi
        self.max_vectors = max_vectors
        self.distance_threshold = distance_threshold

    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist:
        seen = ctx.seen(user)
        recent = [ctx.item_ids[r] for r in ctx.liked(user, self.recent)]
        if self.multi:
            return self._multi(ctx, user, recent, seen, k)
        v = self.space.user_vector(user, recent)
        if v is None or not np.any(v):
            return Shortlist([], [])
        pos, scores = self.space.search_positions(v[None, :], k + len(seen))
        rows = np.where(pos[0] >= 0, self.space.ctx_rows(ctx)[np.maximum(pos[0], 0)], -1)
        ok = (rows >= 0) & np.isfinite(scores[0])
        if seen:
            ok &= ctx.not_seen(user, rows)
        pick = np.flatnonzero(ok)[:k]
        return Shortlist(rows[pick], scores[0][pick].astype(np.float64), {"version": self.version})

    def _multi(self, ctx: RecContext, user: str, recent: list[str], seen: set[int], k: int):
        known = [i for i in recent if self.space.has(i)]
        if not known:
            return []
        h = ctx.histories[user]
        last = {ctx.item_ids[i]: t for i, t in zip(h.items, h.ts, strict=True)}
        vecs, _ = self.space.item_vectors(known)
        es = EmbeddingSet(
            ids=np.asarray(known, dtype=object),
            vectors=vecs,
            method=self.space.method,
            params={},
            fingerprint="",
            metric=self.space.metric,
        )
        inter = Interactions.from_arrays([user] * len(known), known, ts=[last[i] for i in known])
        mv = pinnersage_user_vectors(
            es,
            inter,
            last_n=len(known),
            top_k=self.max_vectors,
            distance_threshold=self.distance_threshold,
        )[user]
        total = sum(u.importance for u in mv) or 1.0
        out: dict[int, tuple[float, dict]] = {}
        for u in mv:
            quota = max(1, round(k * u.importance / total))
            hits = self.space.search(u.vector[None, :], quota + len(seen))[0]
            why = {"because": u.medoid_id, "version": self.version}
            for r, s, w in self._rows(ctx, hits, seen, quota, why):
                if r not in out or s > out[r][0]:
                    out[r] = (s, w)
        ranked = sorted(out.items(), key=lambda kv: -kv[1][0])[:k]
        return [(r, s, w) for r, (s, w) in ranked]

    @staticmethod
    def _rows(ctx: RecContext, hits, seen: set[int], k: int, why: dict) -> list:
        out = []
        for iid, s in hits:
            r = ctx.index.get(iid) if iid is not None else None
            if r is None or r in seen or not np.isfinite(s):
                continue
            out.append((r, float(s), dict(why)))
            if len(out) >= k:
                break
        return out


class ClusterRecall(_VectorChannel):
    """What the user's cluster engaged with recently.

    Users are clustered by mini-batch k-means over their unit vectors (the version's user
    set, else vectors folded in from their items); the number of clusters is given or
    chosen at the elbow of the inertia curve. A user met after ``fit`` is assigned to the
    nearest fixed centre, once; live events add to their cluster's tally at once;
    :meth:`refresh` refits everything.

    Parameters
    ----------
    space : the embedding version whose user vectors are clustered.
    n_clusters : fixed number of clusters, or None for the elbow.
    max_clusters : the largest k the elbow tries.
    window_days : events older than this (before the newest one) do not count.
    per_cluster : items kept per cluster.
    seed : k-means seed.
    """

    name = "cluster"

    def __init__(
        self,
        space: VectorSpace,
        n_clusters: int | None = None,
        max_clusters: int = 32,
        window_days: float = 30.0,
        per_cluster: int = 200,
        seed: int = 0,
    ):
        self.space = space
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.window_days = window_days
        self.per_cluster = per_cluster
        self.seed = seed

    def fit(self, ctx: RecContext) -> ClusterRecall:
        from sklearn.cluster import MiniBatchKMeans

        users, vecs = [], []
        for u, h in ctx.histories.items():
            v = self.space.stored_user(u)
            if v is None:
                v = self.space.fold_in([ctx.item_ids[r] for r in h.recent(50)])
            if v is not None and np.any(v):
                users.append(u)
                vecs.append(v)
        self.assign_: dict[str, int] = {}
        self.tally_: list[dict[int, float]] = []
        if len(users) < 2:
            self.centres_ = np.zeros((0, self.space.dim), np.float32)
            return self
        x = normalize_rows(np.asarray(vecs, np.float32))
        # scikit-learn's k-means runs OpenMP threads per mini-batch; on small batches, on
        # a busy machine, their start-up and spinning cost more than the arithmetic
        # (30 users took seconds), so it runs on one thread.
        with threadpool_limits(1):
            k = self.n_clusters or elbow(x, min(self.max_clusters, len(users) // 2), self.seed)
            k = max(1, min(k, len(users)))
            km = MiniBatchKMeans(
                n_clusters=k, random_state=self.seed, n_init=3, batch_size=1024
            ).fit(x)
        self.centres_ = km.cluster_centers_.astype(np.float32)
        self.assign_ = dict(zip(users, km.labels_.tolist(), strict=True))
        self.tally_ = [defaultdict(float) for _ in range(k)]
        since = ctx.now - self.window_days * DAY
        for u, c in self.assign_.items():
            h = ctx.histories[u]
            for i, t, w in zip(h.items, h.ts, h.weights, strict=True):
                if t >= since and w > 0:
                    self.tally_[c][i] += w
        return self

    def refresh(self, ctx: RecContext) -> ClusterRecall:
        """Refit the clusters and tallies from the current context."""
        return self.fit(ctx)

    _n = 0  # tally updates seen, part of the ranking cache's key

    def cluster_of(self, ctx: RecContext, user: str) -> int | None:
        """The user's cluster; a new user is assigned to the nearest fixed centre."""
        if not hasattr(self, "centres_"):
            raise RoostError("ClusterRecall is not fitted: call fit(ctx) first")
        c = self.assign_.get(user)
        if c is not None or not len(self.centres_):
            return c
        recent = [ctx.item_ids[r] for r in ctx.liked(user, 50)]
        v = self.space.user_vector(user, recent)
        if v is None or not np.any(v):
            return None
        c = int(np.argmax(self.centres_ @ normalize_rows(v[None, :].astype(np.float32))[0]))
        self.assign_[user] = c
        return c

    def observe(self, ctx: RecContext, user: str, row: int, weight: float) -> None:
        c = self.assign_.get(user) if hasattr(self, "assign_") else None
        if c is None and hasattr(self, "centres_"):
            c = self.cluster_of(ctx, user)
        if c is not None and weight > 0:
            self.tally_[c][row] += weight
            self._n = self.__dict__.get("_n", 0) + 1  # cached rankings are stale

    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist:
        c = self.cluster_of(ctx, user)
        if c is None or not self.tally_[c]:
            return Shortlist([], [])
        rows, scores = self._ranked(c)
        head = rows[: k + len(ctx.seen_rows(user))]
        pick = np.flatnonzero(ctx.not_seen(user, head))[:k]
        best = float(scores[pick[0]]) if len(pick) else 1.0
        return Shortlist(head[pick], scores[pick] / best, {"cluster": c, "version": self.version})

    def _ranked(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """The cluster's items and tallies, best first; rebuilt after its tally changed."""
        cache = self.__dict__.setdefault("_ranking", {})
        tally = self.tally_[c]
        hit = cache.get(c)
        if hit is not None and hit[0] is tally and hit[1] == len(tally) and hit[2] == self._n:
            return hit[3], hit[4]
        rows = np.fromiter(tally, np.int64, len(tally))
        scores = np.fromiter(tally.values(), np.float64, len(tally))
        order = np.lexsort((rows, -scores))
        cache[c] = (tally, len(tally), self._n, rows[order], scores[order])
        return rows[order], scores[order]


def elbow(x: np.ndarray, max_k: int, seed: int = 0) -> int:
    """The k at the elbow of k-means inertia over k = 1, 2, 4, ... ``max_k``: the point
    farthest below the straight line from the first to the last (Kneedle)."""
    from sklearn.cluster import MiniBatchKMeans

    ks = [1]
    while ks[-1] * 2 <= max(max_k, 1):
        ks.append(ks[-1] * 2)
    if len(ks) < 3:
        return ks[-1]
    inertia = np.array(
        [
            MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=1024)
            .fit(x)
            .inertia_
            for k in ks
        ]
    )
    kx = np.log2(ks) / np.log2(ks[-1])
    span = inertia[0] - inertia[-1]
    ky = (inertia[0] - inertia) / span if span > 0 else np.zeros(len(ks))
    return int(ks[int(np.argmax(ky - kx))])


VECTOR_CHANNELS: dict[str, type[_VectorChannel]] = {
    c.name: c for c in (ItemToItem, UserToItem, ClusterRecall)
}
