"""Embedding methods as recommendation scorers, so the whole ladder runs in one harness.

A scorer (:class:`roost.evaluate.ranking.Scorer`) has ``fit(train: Interactions)`` and
``score(user_rows) -> (n, n_items)``. Embedders fit on a :class:`~roost.data.frames.Catalog`;
:func:`train_catalog` builds one from the catalog's items and the training events only, so
nothing of the test split reaches a model. Two ways to turn vectors into scores:

- ``user-item``: the method learns user vectors (ALS, BPR, DeepWalk/node2vec, two-tower);
  score = user . item (cosine for the methods whose space is cosine).
- ``item-item``: the method gives item vectors only (TF-IDF, LSA, word2vec, item2vec,
  transformer); score(u, j) = the sum of cos(i, j) over the items i of u's history, each
  target item keeping its ``neighbours`` most similar items (an item kNN on the vectors).

:class:`ColdStart` gives a user with no training event the popularity list (time splits
have such users), :class:`Blend` mixes several scorers' per-user standardised scores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from roost.data.frames import Catalog, Interactions
from roost.recommend.baselines import as_binary_csr
from roost.types import NotFittedError, RoostError


def train_catalog(items: pa.Table, train: Interactions) -> Catalog:
    """The catalog an embedder may learn from: every item, and the training events only.

    ``items`` must list the items of ``train.item_ids`` in the same order (the catalog the
    interactions were built from), so item rows line up with the scorer's columns.
    """
    ids = np.asarray(items.column("id").to_pylist(), dtype=object)
    if len(ids) != len(train.item_ids) or not np.array_equal(ids, train.item_ids):
        raise ValueError("items and interactions list different items: build both from one catalog")
    events = pa.table(
        {
            "user_id": pa.array(train.user_ids[train.users].astype(str).tolist(), pa.string()),
            "item_id": pa.array(train.item_ids[train.items].astype(str).tolist(), pa.string()),
            "kind": pa.array(["rating"] * len(train), pa.string()),
            "value": pa.array(train.values.astype(np.float64)),
            "ts": pa.array(train.ts.astype(np.int64)),
        }
    )
    return Catalog.from_pydict(items=items.to_pydict(), events=events.to_pydict())


def unit_rows(v) -> np.ndarray | sp.csr_array:
    """Rows scaled to unit L2 norm (zero rows stay zero); dense or sparse in, same out."""
    if sp.issparse(v):
        v = sp.csr_array(v, dtype=np.float32)
        norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return (sp.diags_array(1.0 / norms) @ v).tocsr()
    v = np.asarray(v, np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


def knn_similarity(vectors, neighbours: int, block_bytes: int = 1 << 27) -> sp.csr_array:
    """Cosine item-item similarity pruned to each target item's ``neighbours`` most similar
    items (positive similarities only, no self-similarity), as a sparse ``(n, n)`` matrix
    whose column j holds j's neighbours. Computed a dense block of targets at a time.

    Examples
    --------
    >>> import numpy as np
    >>> s = knn_similarity(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), neighbours=1)
    >>> s.toarray().argmax(axis=0).tolist()
    [1, 0, 1]
    """
    v = unit_rows(vectors)
    n = v.shape[0]
    keep = min(max(neighbours, 1), max(n - 1, 1))
    step = max(1, block_bytes // (4 * max(n, 1)))
    rows, cols, vals = [], [], []
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        s = v @ v[lo:hi].T
        s = s.toarray() if sp.issparse(s) else np.asarray(s)
        s[np.arange(lo, hi), np.arange(hi - lo)] = 0.0
        top = np.argpartition(-s, keep - 1, axis=0)[:keep] if keep < n else np.indices(s.shape)[0]
        t = np.take_along_axis(s, top, axis=0)
        mask = t > 0
        rows.append(top[mask])
        cols.append(np.broadcast_to(np.arange(lo, hi), top.shape)[mask])
        vals.append(t[mask])
    data = np.concatenate(vals).astype(np.float32) if vals else np.zeros(0, np.float32)
    idx = (np.concatenate(rows), np.concatenate(cols)) if rows else ([], [])
    return sp.csr_array((data, idx), shape=(n, n))


class EmbeddingScorer:
    """A registered embedding method (``roost.embed.get(method)``) as a scorer.

    Parameters
    ----------
    method : the embedding method's registry name.
    params : its hyperparameters.
    items : the catalog's items table (content methods read text and tags from it).
    mode : ``"auto"`` (user-item when the method learns users, else item-item),
        ``"user-item"`` or ``"item-item"``.
    neighbours : item-item only: similar items kept per item.

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(items={"id": ["a", "b", "c"], "title": ["red fox", "red hen", "blue"]},
    ...     events={"user_id": ["u", "v"], "item_id": ["a", "b"], "kind": ["like"] * 2,
    ...             "value": [1.0] * 2, "ts": [1, 2]})
    >>> s = EmbeddingScorer("tfidf", {}, c.items).fit(c.interactions())
    >>> int(s.score([0])[0, 1] > s.score([0])[0, 2])
    1
    """

    def __init__(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        items: pa.Table,
        mode: str = "auto",
        neighbours: int = 100,
    ):
        self.method = method
        self.params = params
        self.items = items
        self.mode = mode
        self.neighbours = neighbours

    def fit(self, train: Interactions) -> Self:
        from roost.embed import get

        klass = get(self.method)
        mode = self.mode
        if mode == "auto":
            mode = "user-item" if klass.learns_users else "item-item"
        if mode not in ("user-item", "item-item"):
            raise RoostError(f"mode must be auto, user-item or item-item; got {self.mode!r}")
        if mode == "user-item" and not klass.learns_users:
            raise RoostError(f"{self.method} learns no user vectors: use mode='item-item'")
        catalog = train_catalog(self.items, train)
        model = klass(**dict(self.params or {})).fit(catalog)
        self.history_ = as_binary_csr(train)
        self.mode_ = mode
        items = model.transform(catalog)
        if mode == "item-item":
            self.similarity_ = knn_similarity(items, self.neighbours)
            return self
        users = model.user_embedding_set(catalog)
        self.item_vectors_ = np.asarray(items, np.float32)
        self.user_vectors_ = np.zeros((len(train.user_ids), items.shape[1]), np.float32)
        row = {u: j for j, u in enumerate(train.user_ids.tolist())}
        known = np.array([row.get(u, -1) for u in users.ids.tolist()], np.int64)
        self.user_vectors_[known[known >= 0]] = users.vectors[known >= 0]
        if klass.metric == "cosine":
            self.item_vectors_ = unit_rows(self.item_vectors_)
            self.user_vectors_ = unit_rows(self.user_vectors_)
        return self

    def score(self, users) -> np.ndarray:
        if not hasattr(self, "mode_"):
            raise NotFittedError("EmbeddingScorer is not fitted: call fit(train) first")
        rows = np.asarray(users, np.int64)
        if self.mode_ == "item-item":
            return np.asarray((self.history_[rows] @ self.similarity_).toarray(), np.float32)
        return self.user_vectors_[rows] @ self.item_vectors_.T


class ColdStart:
    """Wraps a scorer: users with no training event get the popularity list instead.

    Examples
    --------
    >>> from roost.recommend.baselines import EASE
    >>> inter = Interactions.from_arrays(["u", "u", "v"], ["a", "b", "a"])
    >>> cold = ColdStart(EASE(l2=1.0)).fit(inter.subset(np.array([True, True, False])))
    >>> cold.score([1]).tolist()  # v has no training event: popularity
    [[1.0, 1.0]]
    """

    def __init__(self, scorer):
        self.scorer = scorer

    def fit(self, train: Interactions) -> Self:
        self.scorer.fit(train)
        x = as_binary_csr(train)
        self.active_ = np.diff(x.indptr) > 0
        self.popularity_ = np.diff(x.tocsc().indptr).astype(np.float32)
        return self

    def score(self, users) -> np.ndarray:
        rows = np.asarray(users, np.int64)
        s = np.asarray(self.scorer.score(rows), np.float32)
        cold = ~self.active_[rows]
        if cold.any():
            s = np.array(s)
            s[cold] = self.popularity_
        return s


def standardise(s: np.ndarray) -> np.ndarray:
    """Per row, (s - mean) / std, so scorers on different scales can be added."""
    s = np.asarray(s, np.float32)
    sd = s.std(axis=1, keepdims=True)
    sd[sd == 0] = 1.0
    return (s - s.mean(axis=1, keepdims=True)) / sd


class Blend:
    """A hybrid: the weighted sum of several scorers' per-user standardised scores.

    Parameters
    ----------
    parts : name -> a factory of an unfitted scorer.
    weights : name -> weight (1 for a missing name).
    """

    def __init__(
        self, parts: Mapping[str, Callable[[], Any]], weights: Mapping[str, float] | None = None
    ):
        self.parts = parts
        self.weights = weights

    def fit(self, train: Interactions) -> Self:
        self.scorers_ = {name: make().fit(train) for name, make in self.parts.items()}
        return self

    def score(self, users) -> np.ndarray:
        if not hasattr(self, "scorers_"):
            raise NotFittedError("Blend is not fitted: call fit(train) first")
        weights = dict(self.weights or {})
        total = None
        for name, scorer in self.scorers_.items():
            part = weights.get(name, 1.0) * standardise(scorer.score(users))
            total = part if total is None else total + part
        return total
