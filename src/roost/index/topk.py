"""The exact-search kernels: a score block by BLAS matmul, then a partial sort per row.

Used by the exact backend, by filtered search over a small allowed set, and as the
ground truth of recall measurements, so that one metric is written once.
"""

from __future__ import annotations

import numpy as np


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); always a new float32 array."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float32))
    norms[norms == 0] = 1.0
    return (x / norms[:, None]).astype(np.float32, copy=False)


def score_block(
    q: np.ndarray, x: np.ndarray, metric: str, x_sqnorm: np.ndarray | None
) -> np.ndarray:
    """Scores of queries ``q`` against rows ``x``, higher is better, float32 ``(nq, n)``.

    ``cosine`` expects both sides already normalised; ``l2`` gives the negated squared
    distance and needs ``x_sqnorm`` (the squared row norms of ``x``).
    """
    if len(q) == 1:
        # One query: a matrix-vector product over the rows as stored (BLAS sgemv on
        # C-ordered x) measured 0.59 ms against 0.79 ms for ``q @ x.T`` (sgemm on the
        # transposed view) on 10.5k x 384 float32, one thread; the same sums.
        s = (x @ q[0])[None, :]
    else:
        s = q @ x.T
    if metric == "l2":
        # -(|q|^2 - 2 q.x + |x|^2), in place; clamp at 0 against rounding below zero.
        s *= 2.0
        s -= x_sqnorm[None, :]
        s -= np.einsum("ij,ij->i", q, q)[:, None]
        np.minimum(s, 0.0, out=s)
    return s


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices (int64) and values of the ``k`` largest scores of each row, best first.

    One ``argpartition(axis=1)`` over the block, then a sort of the ``k`` survivors: on
    400k x 50 GloVe this measured 45 ms for 64 rows against 91 ms for a loop of 1-D
    partitions (bench/ann.py, docs/benchmarks.md). Equal values come in position order,
    whether one query is asked or many (rows whose k-th value ties with values left out
    are redone by the one-query path).
    """
    nq, n = scores.shape
    k = min(k, n)
    if nq == 1:  # the one-query hot path: 1-D calls, no take_along_axis overhead
        row = scores[0]
        part = _top_one(row, k)
        return part[None, :], row[part][None, :]
    if k < n:
        part = np.argpartition(scores, n - k, axis=1)[:, n - k :]
        vals = np.take_along_axis(scores, part, axis=1)
        # Where values equal to the k-th are cut, which of them made it was the partition's
        # choice; such rows take the one-query path, which keeps the first by position, so
        # an answer never depends on how many queries were asked together.
        kth = vals.min(axis=1)[:, None]
        cut = np.flatnonzero((scores == kth).sum(1) > (vals == kth).sum(1))
        for i in cut.tolist():
            part[i] = _top_one(scores[i], k)
            vals[i] = scores[i, part[i]]
    else:
        part = np.broadcast_to(np.arange(n), (nq, n))
        vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)  # best first, equal values by position
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64, copy=False)
    return idx, np.take_along_axis(vals, order, axis=1).astype(np.float32, copy=False)


def _top_one(row: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values of ``row``, best first, equal values in
    position order.

    A partition of every value cost ~0.1 ms on 10.5k scores, as much as the rest of a
    search's bookkeeping. A threshold read off a strided sample keeps only the values
    that can make the cut (~2k), and those are sorted; where the sample guessed too
    high (fewer than ``k`` values reach it) every value is taken instead, so the
    answer is exact whatever the data.
    """
    n = len(row)
    if k >= n:
        cand = np.arange(n)
    else:
        cand = None
        if n >= 16 * k and n > 2048:
            step = n // (8 * k)
            sample = row[::step]
            j = len(sample) - 1 - min(len(sample) - 1, 2 * k // step)
            cand = np.flatnonzero(row >= np.partition(sample, j)[j])
            if len(cand) < k:
                cand = None
        if cand is None:
            cand = np.arange(n)
        vals = row[cand]
        if len(cand) > k:
            kth = np.partition(vals, len(vals) - k)[len(vals) - k]
            cand = cand[vals >= kth]  # k, or more where values tie with the k-th
    top = cand[np.lexsort((cand, -row[cand]))[:k]].astype(np.int64, copy=False)
    if len(top) < min(k, n):  # NaN scores compare false: the plain partition then
        part = np.argpartition(row, n - k)[n - k :] if k < n else np.arange(n)
        top = part[np.argsort(-row[part], kind="stable")].astype(np.int64, copy=False)
    return top


def exact_search(
    q: np.ndarray,
    x: np.ndarray,
    k: int,
    metric: str,
    x_sqnorm: np.ndarray | None = None,
    block_bytes: int = 1 << 28,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of each query over ``x``, queries taken in chunks.

    A chunk's temporaries (its float32 score block and the int64 partition indices, 12
    bytes a cell) stay within ``block_bytes`` (at least one query), which bounds memory
    whatever the batch size. Rows where ``exclude`` is true never come
    back (label -1 and score -inf where fewer than ``k`` remain).
    """
    n = x.shape[0]
    if metric == "l2" and x_sqnorm is None:
        x_sqnorm = np.einsum("ij,ij->i", x, x)
    k = min(k, n)
    nq = q.shape[0]
    labels = np.empty((nq, k), dtype=np.int64)
    scores = np.empty((nq, k), dtype=np.float32)
    step = max(1, block_bytes // max(1, 12 * n))
    for lo in range(0, nq, step):
        hi = min(nq, lo + step)
        block = score_block(q[lo:hi], x, metric, x_sqnorm)
        if exclude is not None:
            block[:, exclude] = -np.inf
        labels[lo:hi], scores[lo:hi] = top_k(block, k)
    if exclude is not None:
        labels[np.isneginf(scores)] = -1
    return labels, scores
