"""Every item's exact cosine neighbours, computed once for a whole version.

Item-to-item recall and "more like this" ask for the neighbours of a few items per
request. Exactly, that is one product of the asked rows against every unit vector
(10 x 384 x 10.5k multiply-adds on the demo's text version) and a partition of the
result; cached per item, it is still paid by every request that meets a new item. A
:class:`NeighbourTable` pays it once for all items, a block of rows at a time (seconds on
the demo catalog, in a background thread while requests use the per-item path), after
which a request reads rows of two small arrays. Versions too large for an all-pairs
product (:data:`TABLE_FLOPS`) keep asking their index.
"""

from __future__ import annotations

import numpy as np

# Largest all-pairs product (items^2 x dim multiply-adds) built into a table: 4.2e10 for
# the demo's 10.5k x 384 text version, seconds on one core; 1M items would be 1e14.
TABLE_FLOPS = 100_000_000_000
# Neighbours kept per item: item-to-item asks for 50, "more like this" for 3k + 20.
TABLE_K = 64
# Query rows per block: a block x items float32 score matrix (43 MB on the demo).
BLOCK = 1024


class NeighbourTable:
    """The ``k`` nearest rows of every row of a unit-vector matrix, by cosine, best first.

    Parameters
    ----------
    top : ``(n, k + 1)`` row numbers per row (the row itself usually first).
    sims : their cosine similarities, same shape.
    size : rows of the matrix it was built from (a table is stale once that changes).
    want : neighbours asked for per row (``k``; fewer columns while the matrix is small).

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], np.float32)
    >>> t = NeighbourTable.build(x, k=1)
    >>> top, sims = t.lookup(np.array([0, 2]), 1)
    >>> top.tolist(), [round(float(s), 2) for s in sims[:, 0]]
    ([[1], [1]], [0.8, 0.6])
    """

    def __init__(self, top: np.ndarray, sims: np.ndarray, size: int, want: int = TABLE_K):
        self.top = top
        self.sims = sims
        self.size = size
        self.want = want
        # Every row's list without the row itself, made once with the table (off the
        # request path) so a lookup only slices: the row moves to the end (stable: the
        # others keep their order) and becomes -1 / NaN.
        own = np.arange(len(top))[:, None]
        order = np.argsort(top == own, axis=1, kind="stable")
        others = np.take_along_axis(top, order, 1)
        is_own = others == own
        self._others_top = np.where(is_own, -1, others)
        self._others_sims = np.where(is_own, np.nan, np.take_along_axis(sims, order, 1))

    @property
    def k(self) -> int:
        """Neighbours a lookup can return per row (the row itself excluded)."""
        return self.top.shape[1] - 1

    @staticmethod
    def fits(n: int, dim: int) -> bool:
        """Whether an ``n x dim`` version is small enough for a table."""
        return n > 1 and n * n * dim <= TABLE_FLOPS

    @classmethod
    def build(cls, unit: np.ndarray, k: int = TABLE_K, block: int = BLOCK) -> NeighbourTable:
        """Exact neighbours of every row of ``unit`` (rows of unit length).

        Each block is scored, partitioned and sorted the way a per-request lookup does it
        (``VectorSpace._neighbours``), so the two agree up to float rounding of the product.
        """
        unit = np.ascontiguousarray(unit, np.float32)
        n = len(unit)
        kk = min(k + 1, n)
        top = np.empty((n, kk), np.int32)
        sims = np.empty((n, kk), np.float32)
        for a in range(0, n, block):
            top[a : a + block], sims[a : a + block] = _best(unit[a : a + block] @ unit.T, kk)
        return cls(top, sims, n, k)

    def extended(self, unit: np.ndarray) -> NeighbourTable:
        """The table of ``unit``, whose first :attr:`size` rows are the ones it was built
        from and the rest are new (live items): the new rows are scored against all, and
        each old row's list takes in the new items that beat its last neighbour. Exact,
        since an item outside an old row's list is beaten by every item on it."""
        unit = np.ascontiguousarray(unit, np.float32)
        n, m = self.size, len(unit) - self.size
        kk = min(self.want + 1, n + m)
        new = np.arange(n, n + m, dtype=np.int32)
        both = np.hstack([self.top, np.broadcast_to(new, (n, m))])
        both_sims = np.hstack([self.sims, unit[:n] @ unit[n:].T])
        order = np.argsort(-both_sims, axis=1, kind="stable")[:, :kk]
        top_new, sims_new = _best(unit[n:] @ unit.T, kk)
        return NeighbourTable(
            np.vstack([np.take_along_axis(both, order, 1), top_new]),
            np.vstack([np.take_along_axis(both_sims, order, 1), sims_new]),
            n + m,
            self.want,
        )

    def lookup(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(top, sims)``, each ``(len(rows), k)``: the rows' neighbours without
        themselves, best first (``-1`` and NaN pad a row with fewer)."""
        rows = np.asarray(rows, np.int64)
        top = self._others_top[rows, :k].astype(np.int64)
        sims = self._others_sims[rows, :k]
        if top.shape[1] < k:
            pad = k - top.shape[1]
            top = np.pad(top, ((0, 0), (0, pad)), constant_values=-1)
            sims = np.pad(sims, ((0, 0), (0, pad)), constant_values=np.nan)
        return top[:, :k], sims[:, :k]


def _best(scores: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """Column numbers and values of the ``kk`` largest scores per row, best first."""
    t = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    p = np.take_along_axis(scores, t, 1)
    order = np.argsort(-p, axis=1, kind="stable")
    return np.take_along_axis(t, order, 1).astype(np.int32), np.take_along_axis(p, order, 1)
