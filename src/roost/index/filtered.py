"""Filtered search: exact over a small allowed set, pushed down, or over-fetched.

The order of preference for a row mask: score a small allowed set exactly (cheaper than
steering a graph or inverted lists around a mostly excluded index), else push the mask
down to the library (``index._search_masked``), else search for more than ``k`` and drop
what the mask excludes, doubling until ``k`` pass. Rows the library leaves short (graph
or list boundaries) are finished exactly, so a search returns ``k`` hits whenever ``k``
rows pass the filter.
"""

from __future__ import annotations

import numpy as np

from roost.index.topk import exact_search, normalize_rows

# Filtered searches whose allowed set is at most this large are scored exactly.
EXACT_FILTER_MAX = 4096


def search_filtered(index, q: np.ndarray, k: int, mask: np.ndarray):
    """Labels and scores ``(nq, k)`` of the best rows that ``mask`` lets through."""
    allowed = np.flatnonzero(mask)
    nq = len(q)
    if len(allowed) == 0:
        return np.full((nq, k), -1, np.int64), np.full((nq, k), -np.inf, np.float32)
    if len(allowed) <= max(EXACT_FILTER_MAX, 4 * k) or len(allowed) <= k:
        return index._exact_over(q, k, allowed)
    if index._search_masked is not None:
        labels, scores = index._search_masked(q, k, mask)
    else:
        labels, scores = index._overfetch(q, k, mask, len(allowed))
    short = np.flatnonzero((labels < 0).any(axis=1))
    if len(short):
        # The library gave up early (graph or list boundaries): finish exactly.
        labels[short], scores[short] = index._exact_over(q[short], k, allowed)
    return labels, scores


def overfetch(index, q: np.ndarray, k: int, mask: np.ndarray, n_allowed: int):
    """Search for more than ``k`` and drop excluded rows, doubling until ``k`` pass."""
    nq, n = len(q), index._n
    labels = np.full((nq, k), -1, np.int64)
    scores = np.full((nq, k), -np.inf, np.float32)
    todo = np.arange(nq)
    # Start from the expected over-fetch for this selectivity, with a margin of 2.
    fetch = min(n, 2 * k * -(-n // n_allowed))
    while len(todo) and fetch <= n_allowed:
        lab, sc = index._search(q[todo], fetch)
        ok = (lab >= 0) & mask[np.where(lab >= 0, lab, 0)]
        done = []
        for r, row in enumerate(todo):
            sel = np.flatnonzero(ok[r])[:k]
            if len(sel) == k:
                labels[row], scores[row] = lab[r, sel], sc[r, sel]
                done.append(r)
        todo = np.delete(todo, done)
        if fetch == n:
            break
        fetch = min(n, 2 * fetch)
    # Rows still short stay at -1: the caller finishes them with exact scoring.
    return labels, scores


def exact_over(index, q: np.ndarray, k: int, rows: np.ndarray):
    """Exact top-``k`` among ``rows``, from the vectors the index stores."""
    x = index._vectors(rows)
    qq = normalize_rows(q) if index.metric == "cosine" else q
    local, scores = exact_search(qq, x, min(k, len(rows)), index.metric)
    labels = rows[local]
    if labels.shape[1] < k:
        pad = k - labels.shape[1]
        labels = np.pad(labels, ((0, 0), (0, pad)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return labels, scores
