"""Collaborative baselines as scorers: popularity, item kNN and EASE.

Every scorer has ``fit(X) -> self``, with ``X`` a users x items matrix (sparse, or an
:class:`~roost.data.frames.Interactions`), and ``score(users) -> (n, n_items) float32``
where ``users`` is either row indices into the fitted matrix or a sparse matrix of
histories (one row per user, columns the fitted items). A history row scores a user the
model never saw, with no refit: these models are functions of the history alone.

Feedback is implicit: any interaction counts as 1, repeats included once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from roost.types import NotFittedError, RoostError


def as_binary_csr(x) -> sp.csr_array:
    """Users x items as a binary float32 CSR array (an Interactions or any matrix)."""
    if hasattr(x, "to_csr"):
        x = x.to_csr(binary=True)
    m = sp.csr_array(x, dtype=np.float32, copy=True)
    m.sum_duplicates()
    m.data[:] = 1.0
    m.eliminate_zeros()
    return m


class HistoryScorer:
    """Shared plumbing: keep the training histories, turn ``users`` into history rows."""

    def fit(self, x) -> Self:
        self.history_ = as_binary_csr(x)
        self._fit(self.history_)
        return self

    def _fit(self, x: sp.csr_array) -> None:
        raise NotImplementedError

    def _score_rows(self, x: sp.csr_array) -> np.ndarray:
        raise NotImplementedError

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self.history_.shape[1]

    def _check_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(X) first")

    def score(self, users) -> np.ndarray:
        """Scores of every item for each user, higher is better, float32 ``(n, n_items)``.

        ``users`` is an int array of rows of the fitted matrix, or a sparse matrix of
        histories with ``n_items`` columns (fold-in of new users).
        """
        self._check_fitted()
        if sp.issparse(users):
            rows = as_binary_csr(users)
            if rows.shape[1] != self.n_items:
                raise ValueError(
                    f"histories have {rows.shape[1]} columns, the model {self.n_items} items"
                )
        else:
            idx = np.asarray(users, np.int64).reshape(-1)
            if idx.size and (idx.min() < 0 or idx.max() >= self.history_.shape[0]):
                raise ValueError(f"user rows must be in [0, {self.history_.shape[0]})")
            rows = self.history_[idx]
        return np.ascontiguousarray(self._score_rows(rows), dtype=np.float32)


class Popularity(HistoryScorer):
    """The number of training users who had each item; the same list for everyone.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> Popularity().fit(sp.csr_array([[1, 1, 0], [0, 1, 0]])).score([0]).tolist()
    [[1.0, 2.0, 0.0]]
    """

    def _fit(self, x: sp.csr_array) -> None:
        self.counts_ = np.diff(x.tocsc().indptr).astype(np.float32)

    def _score_rows(self, x: sp.csr_array) -> np.ndarray:
        return np.tile(self.counts_, (x.shape[0], 1))


def _cosine(co: np.ndarray, n_rows: np.ndarray, n_cols: np.ndarray, shrink: float) -> np.ndarray:
    return co / (np.sqrt(n_rows) * np.sqrt(n_cols) + shrink + 1e-12)


def _jaccard(co: np.ndarray, n_rows: np.ndarray, n_cols: np.ndarray, shrink: float) -> np.ndarray:
    return co / (n_rows + n_cols - co + shrink + 1e-12)


def _cooccurrence(
    co: np.ndarray, n_rows: np.ndarray, n_cols: np.ndarray, shrink: float
) -> np.ndarray:
    return co


# name -> similarity, elementwise, from co-occurrence counts and the two items' user counts
# (arrays that broadcast together); zero wherever the co-occurrence is zero
SIMILARITIES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]] = {
    "cosine": _cosine,
    "jaccard": _jaccard,
    "cooccurrence": _cooccurrence,
}


def _top_per_column(m: sp.csc_array, keep: int) -> sp.csr_array:
    """Each column's ``keep`` largest positive entries, as CSR."""
    m = sp.csc_array(m)
    m.data[m.data <= 0] = 0.0
    m.eliminate_zeros()
    counts = np.diff(m.indptr)
    col = np.repeat(np.arange(m.shape[1]), counts)
    order = np.lexsort((-m.data, col))
    rank = np.arange(len(order)) - np.repeat(m.indptr[:-1], counts)
    kept = order[rank < keep]
    return sp.csr_array((m.data[kept], (m.indices[kept], col[kept])), shape=m.shape)


class ItemKNN(HistoryScorer):
    """Item-item neighbourhood model: score(u, j) = sum of sim(i, j) over the items i in
    u's history, where each item j keeps only its ``neighbours`` most similar items.

    Parameters
    ----------
    neighbours : how many similar items each target item keeps (top-N pruning).
    similarity : ``cosine`` (co-occurrence over the geometric mean of the items' user
        counts), ``jaccard`` or raw ``cooccurrence`` counts.
    shrink : added to the denominator, damping similarities backed by few users.
    block_bytes : memory for one dense block of the similarity computation.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> x = sp.csr_array([[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    >>> knn = ItemKNN(neighbours=1).fit(x)
    >>> knn.score(sp.csr_array([[1, 0, 0]])).round(2).tolist()
    [[0.0, 1.0, 0.0]]
    """

    def __init__(
        self,
        neighbours: int = 100,
        similarity: str = "cosine",
        shrink: float = 0.0,
        block_bytes: int = 1 << 27,
    ):
        self.neighbours = neighbours
        self.similarity = similarity
        self.shrink = shrink
        self.block_bytes = block_bytes

    def _fit(self, x: sp.csr_array) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(
                f"unknown similarity {self.similarity!r}; use one of {', '.join(SIMILARITIES)}"
            )
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours}")
        sim = SIMILARITIES[self.similarity]
        n = x.shape[1]
        xt, xc = x.T.tocsr(), x.tocsc()
        counts = np.diff(xc.indptr).astype(np.float64)
        keep = min(self.neighbours, max(n - 1, 1))
        # Sparse co-occurrence when it is small (its nnz is at most the sum of squared
        # history lengths): pruning it costs a sort of its entries, where the dense blocks
        # below cost n_items^2 whatever the data (12 s vs 0.5 s on MovieTweetings' 10.5k
        # items).
        if 12 * float(np.square(np.diff(x.indptr), dtype=np.float64).sum()) <= 8 * self.block_bytes:
            co = (xt @ xc).tocoo()
            r, c = co.row, co.col
            s = sim(co.data.astype(np.float64), counts[r], counts[c], self.shrink)
            s[r == c] = 0.0  # an item is not its own neighbour
            m = sp.csc_array((s, (r, c)), shape=(n, n))
            self.similarity_ = _top_per_column(m, keep).astype(np.float32)
            return
        step = max(1, self.block_bytes // (8 * max(n, 1)))
        rows, cols, vals = [], [], []
        # A dense block of target columns at a time, pruned at once: memory stays at
        # n_items x step whatever the catalog size (scipy's sparse X^T X would not).
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            co = (xt @ xc[:, lo:hi]).toarray().astype(np.float64)
            s = sim(co, counts[:, None], counts[None, lo:hi], self.shrink)
            s[np.arange(lo, hi), np.arange(hi - lo)] = 0.0  # an item is not its own neighbour
            if keep < n:
                top = np.argpartition(-s, keep - 1, axis=0)[:keep]
            else:
                top = np.broadcast_to(np.arange(n)[:, None], s.shape)
            v = np.take_along_axis(s, top, axis=0)
            mask = v > 0
            rows.append(top[mask])
            cols.append(np.broadcast_to(np.arange(lo, hi), top.shape)[mask])
            vals.append(v[mask])
        data = (np.concatenate(vals) if vals else np.empty(0)).astype(np.float32)
        idx = (
            np.concatenate(rows) if rows else np.empty(0, np.int64),
            np.concatenate(cols) if cols else np.empty(0, np.int64),
        )
        self.similarity_ = sp.csr_array((data, idx), shape=(n, n))

    def _score_rows(self, x: sp.csr_array) -> np.ndarray:
        return (x @ self.similarity_).toarray()


def check_dense_items(name: str, n: int, max_items: int) -> None:
    """Refuse a dense ``n x n`` item model above ``max_items`` (about 3 x 8 x n^2 bytes
    while fitting) rather than exhaust memory."""
    if n > max_items:
        raise RoostError(
            f"{name} needs a dense {n} x {n} matrix (~{3 * 8 * n * n / 2**30:.0f} GiB); "
            f"raise max_items (now {max_items}) if the machine holds it"
        )


def inverse_gram(x: sp.csr_array, penalty) -> tuple[np.ndarray, np.ndarray]:
    """``(P, penalty)`` with ``P = (X^T X + diagMat(penalty))^-1``, the closed form of
    the item-item linear autoencoders; ``penalty(diag(X^T X))`` gives the per-item ridge
    (EASE: a constant; DLAE: one that grows with the item's count)."""
    gram = (x.T @ x).toarray().astype(np.float64)
    pen = np.asarray(penalty(np.diag(gram).copy()), np.float64)
    gram[np.diag_indices(gram.shape[0])] += pen
    p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False, assume_a="pos")
    return p, pen


class EASE(HistoryScorer):
    """Embarrassingly Shallow Autoencoder (Steck, 2019): an item-item weight matrix in
    closed form, B = I - P diag(1/diag(P)) with P = (X^T X + l2 I)^-1, zero diagonal.

    Dense in items: memory is about 3 x 8 x n_items^2 bytes while fitting, so catalogs
    above ``max_items`` are refused rather than left to exhaust memory.

    Parameters
    ----------
    l2 : the ridge weight (Steck's lambda); ML-100K likes a few hundred.
    max_items : the largest catalog to accept.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> x = sp.csr_array([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    >>> s = EASE(l2=1.0).fit(x).score(sp.csr_array([[1, 0, 0]]))
    >>> int(s.argmax())
    1
    """

    def __init__(self, l2: float = 500.0, max_items: int = 30_000):
        self.l2 = l2
        self.max_items = max_items

    def _fit(self, x: sp.csr_array) -> None:
        n = x.shape[1]
        check_dense_items("EASE", n, self.max_items)
        if self.l2 <= 0:
            raise ValueError(f"l2 must be > 0, got {self.l2}")
        p, _ = inverse_gram(x, lambda diag: np.full_like(diag, self.l2))
        b = p / (-np.diag(p))[None, :]
        b[np.diag_indices(n)] = 0.0
        self.weights_ = b.astype(np.float32)

    def _score_rows(self, x: sp.csr_array) -> np.ndarray:
        return np.asarray(x @ self.weights_)


BASELINES: dict[str, type[HistoryScorer]] = {
    "popularity": Popularity,
    "itemknn": ItemKNN,
    "ease": EASE,
}
