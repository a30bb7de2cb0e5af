"""Judging a ranking: look each ranked item up in the judgements once.

Every accuracy metric (:mod:`roost.evaluate.metrics`) and the beyond-accuracy metrics
(:mod:`roost.evaluate.beyond`) read the :class:`Judged` record this module builds, so a
metric exists in one place only.

``ranked``: one row per user (or query), best first: a 2-D int array of item indices (``-1``
pads a short list), or ids (a 2-D object array or a ragged list of lists; ``None`` pads).
``relevant``: a sparse ``(n_users, n_items)`` matrix whose values are grades (``> 0`` is
relevant), or one collection per user: a set of relevant ids (grade 1) or a dict
``id -> grade``. Sparse relevance needs integer ``ranked``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Judged:
    """A ranking looked up in the judgements once; every accuracy metric reads this.

    ``ranked`` is ``(n, k)`` (int with -1 pads, or object with None pads), ``gains`` the
    grade of each ranked item (0 when not relevant), ``ideal`` the best grades of each row
    in descending order (zero padded), ``n_rel`` the number of relevant items per row.
    """

    ranked: np.ndarray
    gains: np.ndarray
    ideal: np.ndarray
    n_rel: np.ndarray


def as_ranked(ranked, k: int) -> np.ndarray:
    """``ranked`` as a 2-D array of width ``k``: int64 (-1 pads) or object (None pads)."""
    if isinstance(ranked, np.ndarray) and ranked.ndim == 2 and ranked.dtype.kind in "iu":
        r = ranked[:, :k].astype(np.int64)
        if r.shape[1] < k:
            r = np.hstack([r, np.full((len(r), k - r.shape[1]), -1, np.int64)])
        return r
    rows = list(ranked)
    out = np.full((len(rows), k), None, dtype=object)
    for u, row in enumerate(rows):
        row = list(row)[:k]
        out[u, : len(row)] = row
    present = [x for x in out.ravel().tolist() if x is not None]
    if all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in present):
        return ids_to_int(out)  # lists of indices: the int path, where -1 pads
    return out


def ids_to_int(r: np.ndarray) -> np.ndarray:
    flat = [-1 if x is None else x for x in r.ravel().tolist()]
    try:
        arr = np.asarray(flat, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise ValueError("sparse relevance needs integer item indices in `ranked`") from e
    return arr.reshape(r.shape)


def _check_unique(r: np.ndarray) -> None:
    # A repeated item would be counted twice and push metrics above 1.
    s = np.sort(r, axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        u = int(np.argmax(dup.any(axis=1)))
        raise ValueError(f"row {u} of `ranked` lists an item twice")


def _judge_sparse(r: np.ndarray, relevant, k: int) -> Judged:
    rel = sp.csr_array(relevant, dtype=np.float64)
    rel.sum_duplicates()
    rel.data[rel.data < 0] = 0.0
    rel.eliminate_zeros()
    rel.sort_indices()
    n, n_items = rel.shape
    if r.dtype == object:
        r = ids_to_int(r)
    if len(r) != n:
        raise ValueError(f"`ranked` has {len(r)} rows but `relevant` has {n}")
    if r.size and r.max() >= n_items:
        raise ValueError(f"`ranked` names item {int(r.max())} of a catalog of {n_items}")
    _check_unique(r)
    n_rel = np.diff(rel.indptr).astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), n_rel)
    # Each (row, item) pair as one sorted int64 key: a single searchsorted judges the lot.
    keys = rows * n_items + rel.indices
    q = np.arange(n, dtype=np.int64)[:, None] * n_items + np.maximum(r, 0)
    gains = np.zeros(r.shape, np.float64)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        found = (r >= 0) & (keys[pos] == q)
        gains[found] = rel.data[pos[found]]
    order = np.lexsort((-rel.data, rows))  # rows stay grouped, grades descending within
    rank_in_row = np.arange(len(order)) - rel.indptr[rows]
    keep = rank_in_row < k
    ideal = np.zeros(r.shape, np.float64)
    ideal[rows[keep], rank_in_row[keep]] = rel.data[order][keep]
    return Judged(r, gains, ideal, n_rel)


def _grades(rel) -> dict:
    if isinstance(rel, Mapping):
        return {i: float(g) for i, g in rel.items() if g > 0}
    return dict.fromkeys(rel, 1.0)


def _judge_collections(r: np.ndarray, relevant: Sequence, k: int) -> Judged:
    if len(relevant) != len(r):
        raise ValueError(f"`ranked` has {len(r)} rows but `relevant` has {len(relevant)}")
    gains = np.zeros(r.shape, np.float64)
    ideal = np.zeros(r.shape, np.float64)
    n_rel = np.zeros(len(r), np.int64)
    pad = -1 if r.dtype != object else None  # None pads object rows too (checked below)
    for u, rel in enumerate(relevant):
        grades = _grades(rel)
        n_rel[u] = len(grades)
        best = sorted(grades.values(), reverse=True)[:k]
        ideal[u, : len(best)] = best
        seen = set()
        for j, item in enumerate(r[u].tolist()):
            if item == pad or item is None:
                continue
            if item in seen:
                raise ValueError(f"row {u} of `ranked` lists {item!r} twice")
            seen.add(item)
            gains[u, j] = grades.get(item, 0.0)
    return Judged(r, gains, ideal, n_rel)


def judge(ranked, relevant, k: int) -> Judged:
    """Look each ranked item up in the judgements, keeping the first ``k`` of each row.

    Examples
    --------
    >>> judge([["a", "b"]], [{"b": 2}], k=2).gains.tolist()
    [[0.0, 2.0]]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    r = as_ranked(ranked, k)
    if sp.issparse(relevant):
        return _judge_sparse(r, relevant, k)
    return _judge_collections(r, relevant, k)
