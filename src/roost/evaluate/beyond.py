"""Beyond-accuracy metrics: catalog coverage, intra-list diversity and novelty.

- coverage@k: distinct items in the lists / catalog size (one number, not per user).
- diversity@k: intra-list diversity, 1 - mean cosine similarity over pairs in a list
  (in [0, 1] for non-negative item vectors such as co-occurrence columns).
- novelty@k: mean self-information -log2(p_i) of the listed items, p_i the share of
  training users who had item i (items never seen count once); in bits, not bounded by 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from roost.evaluate.judging import Judged, as_ranked, ids_to_int


@dataclass(frozen=True)
class ItemStats:
    """What the beyond-accuracy metrics need to know about the catalog.

    ``counts`` (training users per item) and ``n_users`` serve novelty, ``vectors`` (one row
    per item, dense or sparse) diversity.
    """

    n_items: int
    counts: np.ndarray | None = None
    n_users: int = 0
    vectors: np.ndarray | sp.sparray | sp.spmatrix | None = None

    @classmethod
    def from_train(cls, train: sp.spmatrix | sp.sparray) -> ItemStats:
        """From a users x items training matrix: popularity for novelty, and the item
        columns as vectors, so that diversity uses co-occurrence cosine (as Microsoft
        Recommenders does).

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> ItemStats.from_train(sp.csr_array([[1, 0, 1], [1, 0, 0]])).counts.tolist()
        [2, 0, 1]
        """
        x = sp.csr_array(train, dtype=np.float32)
        x.sum_duplicates()
        x.data[:] = 1.0
        counts = np.diff(x.tocsc().indptr).astype(np.int64)
        return cls(n_items=x.shape[1], counts=counts, n_users=x.shape[0], vectors=x.T.tocsr())


def catalog_coverage(ranked, n_items: int, k: int = 10) -> float:
    """Distinct items in the first ``k`` of all rows, over the catalog size.

    Examples
    --------
    >>> catalog_coverage([[0, 1], [1, 2]], n_items=10, k=2)
    0.3
    """
    r = as_ranked(ranked, k)
    items = np.unique(r[r >= 0]) if r.dtype != object else {x for x in r.ravel() if x is not None}
    return len(items) / n_items


def intra_list_diversity(ranked, item_vectors, k: int = 10) -> np.ndarray:
    """Per row, 1 - the mean cosine similarity over pairs of its first ``k`` items (NaN for
    lists of fewer than two). ``item_vectors`` is dense or sparse, one row per item index.

    Examples
    --------
    >>> import numpy as np
    >>> intra_list_diversity(np.array([[0, 1], [0, 2]]), np.eye(3)[[0, 1, 0]], k=2).tolist()
    [1.0, 0.0]
    """
    r = as_ranked(ranked, k)
    if r.dtype == object:
        r = ids_to_int(r)
    sparse = sp.issparse(item_vectors)
    v = (
        sp.csr_array(item_vectors, dtype=np.float64)
        if sparse
        else np.asarray(item_vectors, np.float64)
    )
    sq = np.asarray(v.multiply(v).sum(axis=1)).ravel() if sparse else np.einsum("ij,ij->i", v, v)
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    v = (sp.diags_array(1.0 / norms) @ v).tocsr() if sparse else v / norms[:, None]
    valid = r >= 0
    # Pairs are visited slot by slot so that the work is vectorised over rows and the
    # temporary stays (rows x dim) even for sparse vectors.
    rows = [v[np.maximum(r[:, a], 0)] for a in range(r.shape[1])]
    total = np.zeros(len(r))
    pairs = np.zeros(len(r))
    for a in range(r.shape[1]):
        for b in range(a + 1, r.shape[1]):
            m = valid[:, a] & valid[:, b]
            if sparse:
                s = np.asarray(rows[a].multiply(rows[b]).sum(axis=1)).ravel()
            else:
                s = np.einsum("ij,ij->i", rows[a], rows[b])
            total += np.where(m, s, 0.0)
            pairs += m
    out = np.full(len(r), np.nan)
    np.divide(total, pairs, out=out, where=pairs > 0)
    return 1.0 - out


def novelty(ranked, item_counts: np.ndarray, n_users: int, k: int = 10) -> np.ndarray:
    """Per row, the mean self-information ``-log2(count_i / n_users)`` of its first ``k``
    items, in bits; an item no training user had counts as had once.

    Examples
    --------
    >>> import numpy as np
    >>> novelty(np.array([[0, 1]]), np.array([8, 2]), n_users=8, k=2).tolist()
    [1.0]
    """
    r = as_ranked(ranked, k)
    if r.dtype == object:
        r = ids_to_int(r)
    info = -np.log2(np.maximum(np.asarray(item_counts, np.float64), 1.0) / n_users)
    valid = r >= 0
    total = np.where(valid, info[np.maximum(r, 0)], 0.0).sum(axis=1)
    out = np.full(len(r), np.nan)
    np.divide(total, valid.sum(axis=1), out=out, where=valid.any(axis=1))
    return out


def beyond(name: str, j: Judged, k: int, items: ItemStats | None):
    need = {"diversity": "vectors", "novelty": "counts"}.get(name)
    if items is None or (need and getattr(items, need) is None):
        raise ValueError(f"{name} needs ItemStats with {need or 'n_items'} (items=...)")
    judged = j.n_rel > 0
    r = j.ranked[judged]
    if name == "coverage":
        return catalog_coverage(r, items.n_items, k)
    out = np.full(len(j.ranked), np.nan)
    if name == "diversity":
        out[judged] = intra_list_diversity(r, items.vectors, k)
    else:
        out[judged] = novelty(r, items.counts, items.n_users, k)
    return out


BEYOND_ACCURACY = ("coverage", "diversity", "novelty")
