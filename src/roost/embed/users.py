"""User vectors composed from item vectors and the user's events.

Three poolings over any item :class:`~roost.types.EmbeddingSet` (item2vec, text models,
MF item factors ...), for the recommender's user-to-item channel:

- :func:`mean_user_vectors`: the average of the vectors of the items the user touched
  (each event counts, so an item viewed twice weighs twice);
- :func:`recency_user_vectors`: the same with exponential decay, weight
  ``0.5 ** ((now - ts) / half_life_s)``;
- :func:`pinnersage_user_vectors`: several vectors per user (PinnerSage, Pal et al. 2020):
  the user's last ``last_n`` distinct items are clustered (Ward or average agglomerative
  clustering on unit vectors, scipy), each cluster is represented by its medoid item's
  vector, its importance is the recency-weighted count of its events, and the ``top_k``
  most important clusters are kept.

Vectors are pooled as stored, not renormalised first, so that a cold item's fallback
vector (tiny by construction, see :mod:`roost.embed.item2vec`) barely moves a mean.
``now`` defaults to the latest event time in the interactions, never the wall clock, so
results are reproducible. Events on items the set has no vector for are skipped and
counted in ``extra["events_skipped"]``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from roost.data.frames import Interactions
from roost.types import EmbeddingSet, RoostError, UnknownIdError

DAY = 86_400
LINKAGES = ("ward", "average")


def _aligned(items: EmbeddingSet, inter: Interactions) -> tuple[Interactions, np.ndarray, int]:
    """The events whose item has a vector, and each event's row in ``items``."""
    if items.kind != "item":
        raise RoostError(f"user vectors pool item vectors; got a set of kind {items.kind!r}")
    rows_of_item = pd.Index(items.ids).get_indexer(np.asarray(inter.item_ids, dtype=object))
    rows = rows_of_item[inter.items] if len(inter) else np.zeros(0, np.int64)
    keep = rows >= 0
    return inter.subset(keep), rows[keep], int((~keep).sum())


def _fingerprint(items: EmbeddingSet, inter: Interactions, how: dict[str, Any]) -> str:
    h = hashlib.sha256(items.fingerprint.encode())
    for a in (inter.user_ids.astype(str), inter.item_ids.astype(str)):
        h.update("\x00".join(a.tolist()).encode())
    for a in (inter.users, inter.items, inter.values, inter.ts):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(sorted(how.items())).encode())
    return h.hexdigest()[:16]


def _decay(ts: np.ndarray, half_life_s: float, now: float | None) -> np.ndarray:
    if not half_life_s > 0:
        raise RoostError(f"half_life_s must be > 0, got {half_life_s!r}")
    ref = float(ts.max()) if now is None and len(ts) else float(now or 0)
    # clip: an event after ``now`` weighs as one at ``now``, not more
    return np.exp2(-np.maximum(ref - ts, 0) / half_life_s)


def _pooled(
    items: EmbeddingSet, inter: Interactions, weights_of, how: dict[str, Any]
) -> EmbeddingSet:
    kept, rows, skipped = _aligned(items, inter)
    w = weights_of(kept).astype(np.float64)
    m = sp.csr_matrix((w, (kept.users, rows)), shape=(len(kept.user_ids), len(items)))
    totals = np.asarray(m.sum(axis=1)).ravel()
    has = totals > 0
    vectors = (m[has] @ items.vectors.astype(np.float64)) / totals[has, None]
    vectors = vectors.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    return EmbeddingSet(
        ids=np.asarray(kept.user_ids[has], dtype=object),
        vectors=np.ascontiguousarray(vectors),
        method=items.method,
        params={"user_pooling": how, "item_params": items.params},
        fingerprint=_fingerprint(items, inter, how),
        metric=items.metric,
        kind="user",
        normalized=bool(len(norms) and np.allclose(norms, 1.0, atol=1e-4)),
        extra={"user_pooling": how["pooling"], "events_skipped": skipped,
               "item_fingerprint": items.fingerprint},
    )


def mean_user_vectors(items: EmbeddingSet, interactions: Interactions) -> EmbeddingSet:
    """Each user's vector as the mean of their events' item vectors.

    Parameters
    ----------
    items : item vectors (any method); events on items it lacks are skipped.
    interactions : the events to pool (``catalog.interactions(...)``).

    Returns
    -------
    An :class:`EmbeddingSet` of kind ``user`` in the items' space and metric, one row per
    user with at least one event on an item of ``items``.

    Examples
    --------
    >>> import numpy as np
    >>> from roost.data.frames import Interactions
    >>> from roost.types import EmbeddingSet
    >>> items = EmbeddingSet(ids=np.array(["a", "b"], dtype=object),
    ...                      vectors=np.eye(2, dtype=np.float32), method="x", params={},
    ...                      fingerprint="f")
    >>> inter = Interactions.from_arrays(["u", "u"], ["a", "b"])
    >>> mean_user_vectors(items, inter).vectors
    array([[0.5, 0.5]], dtype=float32)
    """
    return _pooled(items, interactions, lambda i: np.ones(len(i)), {"pooling": "mean"})


def recency_user_vectors(
    items: EmbeddingSet,
    interactions: Interactions,
    half_life_s: float = 30 * DAY,
    now: float | None = None,
) -> EmbeddingSet:
    """Each user's vector as the recency-weighted mean of their events' item vectors.

    Parameters
    ----------
    items, interactions : as :func:`mean_user_vectors`.
    half_life_s : an event ``half_life_s`` seconds older than ``now`` weighs half.
    now : reference time (epoch seconds); default: the latest event in ``interactions``.

    Examples
    --------
    >>> import numpy as np
    >>> from roost.data.frames import Interactions
    >>> from roost.types import EmbeddingSet
    >>> items = EmbeddingSet(ids=np.array(["a", "b"], dtype=object),
    ...                      vectors=np.eye(2, dtype=np.float32), method="x", params={},
    ...                      fingerprint="f")
    >>> inter = Interactions.from_arrays(["u", "u"], ["a", "b"], ts=[0, 10])
    >>> recency_user_vectors(items, inter, half_life_s=10).vectors.round(3)
    array([[0.333, 0.667]], dtype=float32)
    """
    how = {"pooling": "recency", "half_life_s": float(half_life_s), "now": now}
    return _pooled(items, interactions, lambda i: _decay(i.ts, half_life_s, now), how)


class UserVector(NamedTuple):
    """One of a user's several vectors: its medoid item and its importance."""

    vector: np.ndarray
    importance: float
    medoid_id: str


@dataclass(frozen=True)
class MultiUserVectors:
    """Several vectors per user, most important first (PinnerSage).

    Rows ``offsets[k]:offsets[k+1]`` of ``vectors``, ``importances`` and ``medoid_ids``
    belong to ``user_ids[k]``. Index by user id for that user's list of
    :class:`UserVector`.
    """

    user_ids: np.ndarray
    offsets: np.ndarray
    vectors: np.ndarray
    importances: np.ndarray
    medoid_ids: np.ndarray
    metric: str
    params: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.user_ids)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._index

    def __getitem__(self, user_id: str) -> list[UserVector]:
        try:
            k = self._index[user_id]
        except KeyError:
            raise UnknownIdError(f"user {user_id!r} has no vectors") from None
        lo, hi = int(self.offsets[k]), int(self.offsets[k + 1])
        return [
            UserVector(self.vectors[r], float(self.importances[r]), str(self.medoid_ids[r]))
            for r in range(lo, hi)
        ]

    @cached_property  # writes the instance __dict__ directly, so frozen is fine
    def _index(self) -> dict[str, int]:
        return {u: k for k, u in enumerate(self.user_ids.tolist())}


def _clusters(unit: np.ndarray, method: str, threshold: float) -> np.ndarray:
    if len(unit) == 1:
        return np.ones(1, np.int64)
    if method == "ward":
        z = linkage(unit, method="ward")
    else:
        z = linkage(pdist(unit, "cosine"), method="average")
    return fcluster(z, t=threshold, criterion="distance")


def pinnersage_user_vectors(
    items: EmbeddingSet,
    interactions: Interactions,
    last_n: int = 50,
    top_k: int = 3,
    linkage_method: str = "ward",
    distance_threshold: float = 1.0,
    half_life_s: float = 30 * DAY,
    now: float | None = None,
) -> MultiUserVectors:
    """Several vectors per user: medoids of clusters of their recent items (PinnerSage).

    Parameters
    ----------
    items, interactions : as :func:`mean_user_vectors`.
    last_n : the user's latest ``last_n`` events are clustered (their distinct items).
    top_k : clusters kept per user, by importance.
    linkage_method : ``"ward"`` (on unit vectors; Euclidean) or ``"average"`` (cosine).
    distance_threshold : merge height where the dendrogram is cut. For ``ward`` on unit
        vectors two single items merge below it when ``||a - b|| < t`` (``t = 1``: cosine
        above 0.5); for ``average`` it is a mean cosine distance.
    half_life_s, now : the recency weight of each event (:func:`recency_user_vectors`);
        a cluster's importance is the sum over its events.

    Examples
    --------
    >>> import numpy as np
    >>> from roost.data.frames import Interactions
    >>> from roost.types import EmbeddingSet
    >>> items = EmbeddingSet(ids=np.array(["a", "a2", "b"], dtype=object),
    ...                      vectors=np.array([[1, 0], [1, .1], [0, 1]], np.float32),
    ...                      method="x", params={}, fingerprint="f")
    >>> inter = Interactions.from_arrays(["u"] * 3, ["a", "a2", "b"], ts=[0, 1, 2])
    >>> [(v.medoid_id, round(v.importance, 2)) for v in pinnersage_user_vectors(items, inter)["u"]]
    [('a', 2.0), ('b', 1.0)]
    """
    if linkage_method not in LINKAGES:
        raise RoostError(f"linkage_method must be one of {', '.join(LINKAGES)}")
    if last_n < 1 or top_k < 1 or not distance_threshold > 0:
        raise RoostError("last_n and top_k must be >= 1 and distance_threshold > 0")
    kept, rows, skipped = _aligned(items, interactions)
    weight = _decay(kept.ts, half_life_s, now) if len(kept) else np.zeros(0)
    order = np.lexsort((kept.ts, kept.users))
    users, rows, weight = kept.users[order], rows[order], weight[order]
    bounds = np.searchsorted(users, np.arange(len(kept.user_ids) + 1))
    out_users, offsets, out_rows, out_imp = [], [0], [], []
    for k in range(len(kept.user_ids)):
        lo = max(bounds[k], bounds[k + 1] - last_n)
        r, w = rows[lo : bounds[k + 1]], weight[lo : bounds[k + 1]]
        if not len(r):
            continue
        distinct, inverse = np.unique(r, return_inverse=True)
        v = items.vectors[distinct].astype(np.float64)
        unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        labels = _clusters(unit, linkage_method, distance_threshold)
        dist = squareform(pdist(unit, "cosine")) if len(unit) > 1 else np.zeros((1, 1))
        found = []
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            medoid = members[np.argmin(dist[np.ix_(members, members)].sum(axis=1))]
            importance = float(w[np.isin(inverse, members)].sum())
            found.append((-importance, int(distinct[medoid])))
        found.sort()  # most important first; ties by item row, deterministic
        for neg_imp, row in found[:top_k]:
            out_rows.append(row)
            out_imp.append(-neg_imp)
        out_users.append(kept.user_ids[k])
        offsets.append(len(out_rows))
    out_rows_a = np.asarray(out_rows, np.int64)
    params = {
        "pooling": "pinnersage", "last_n": last_n, "top_k": top_k,
        "linkage_method": linkage_method, "distance_threshold": distance_threshold,
        "half_life_s": float(half_life_s), "now": now,
    }
    return MultiUserVectors(
        user_ids=np.asarray(out_users, dtype=object),
        offsets=np.asarray(offsets, np.int64),
        vectors=np.ascontiguousarray(items.vectors[out_rows_a], np.float32).reshape(
            len(out_rows_a), items.dim
        ),
        importances=np.asarray(out_imp, np.float32),
        medoid_ids=np.asarray(items.ids, dtype=object)[out_rows_a],
        metric=items.metric,
        params=params,
        extra={"events_skipped": skipped, "item_fingerprint": items.fingerprint},
    )


POOLINGS = {
    "mean": mean_user_vectors,
    "recency": recency_user_vectors,
}


def user_vectors(
    items: EmbeddingSet, interactions: Interactions, pooling: str = "mean", **options: Any
) -> EmbeddingSet:
    """One vector per user by the named pooling (``mean`` or ``recency``)."""
    try:
        fn = POOLINGS[pooling]
    except KeyError:
        raise RoostError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}") from None
    return fn(items, interactions, **options)
