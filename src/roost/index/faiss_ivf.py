"""Inverted-file indexes with faiss: ``ivfflat`` (exact vectors in lists) and ``ivfpq``
(product-quantised codes, for sets that do not fit in memory as float32).

Both train a coarse k-means quantizer on a seeded sample, search ``nprobe`` of ``nlist``
lists, and keep a direct map (8 bytes a vector) so that filtered searches over a small
allowed set can score reconstructed vectors exactly.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from roost.index.faiss_index import FaissIndex
from roost.types import RoostError


def default_nlist(n: int) -> int:
    """About ``4 * sqrt(n)`` lists, but never fewer than 39 training points a list
    (faiss's k-means minimum)."""
    return int(max(1, min(round(4 * math.sqrt(n)), n // 39)))


def default_m(dim: int) -> int:
    """PQ sub-quantizers: the largest divisor of ``dim`` giving sub-vectors of at least
    2 dimensions (4 above 64 dimensions)."""
    width = 2 if dim <= 64 else 4
    return max(m for m in range(1, max(1, dim // width) + 1) if dim % m == 0)


class _IVF(FaissIndex):
    native_file = "faiss.index"
    search_params = ("nprobe",)
    supports_add = True

    def _factory(self, dim: int, nlist: int, n_train: int) -> str:
        raise NotImplementedError

    def _build(self, x: np.ndarray) -> None:
        n, dim = x.shape
        nlist = int(self.nlist) if self.nlist else default_nlist(n)
        if nlist > n:
            raise RoostError(f"nlist={nlist} lists for only {n} vectors")
        rng = np.random.default_rng(self.seed)
        n_train = min(n, int(self.train_size) if self.train_size else max(256 * nlist, 10_000))
        train = x if n_train >= n else x[np.sort(rng.choice(n, n_train, replace=False))]
        index = faiss.index_factory(int(dim), self._factory(dim, nlist, len(train)),
                                    self._faiss_metric())
        index.train(train)
        index.add(x)
        self.index_ = index
        self._after_index()

    def _after_index(self) -> None:
        super()._after_index()
        ivf = faiss.extract_index_ivf(self.index_)
        if ivf.direct_map.type == faiss.DirectMap.NoMap:
            ivf.make_direct_map()
        self._ivf = ivf

    def _apply_search_params(self) -> None:
        self._ivf.nprobe = int(self.nprobe)

    def _params(self, sel):
        return faiss.SearchParametersIVF(sel=sel, nprobe=int(self.nprobe))


class IVFFlat(_IVF):
    """Inverted lists of full vectors (faiss ``IndexIVFFlat``).

    Parameters
    ----------
    metric : ``cosine``, ``dot`` or ``l2``.
    nlist : number of lists (``None``: about ``4 * sqrt(n)``).
    nprobe : lists visited per query (recall against speed).
    train_size : vectors sampled to train the quantizer (``None``: ``256 * nlist``).
    seed : seed of that sample.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 8)).astype("float32")
    >>> idx = IVFFlat(nlist=8, nprobe=8).build(x, [f"v{i}" for i in range(500)])
    >>> idx.search(x[7], k=1).ids[0, 0]
    'v7'
    """

    kind = "ivfflat"

    def __init__(
        self,
        metric: str = "cosine",
        nlist: int | None = None,
        nprobe: int = 16,
        train_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.metric = metric
        self.nlist = nlist
        self.nprobe = nprobe
        self.train_size = train_size
        self.seed = seed

    def _factory(self, dim: int, nlist: int, n_train: int) -> str:
        return f"IVF{nlist},Flat"


class IVFPQ(_IVF):
    """Inverted lists of product-quantised codes (faiss ``IndexIVFPQ``): ``m`` bytes a
    vector (8-bit codes) plus an 8-byte id, instead of ``4 * dim``.

    Parameters
    ----------
    metric : ``cosine``, ``dot`` or ``l2``.
    nlist : number of lists (``None``: about ``4 * sqrt(n)``).
    m : sub-quantizers, a divisor of the dimension (``None``: see :func:`default_m`).
    nbits : bits per sub-quantizer code (lowered automatically for tiny training sets).
    nprobe : lists visited per query.
    train_size : vectors sampled for training (``None``: ``max(256 * nlist, 10000)``).
    seed : seed of that sample.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(2000, 8)).astype("float32")
    >>> idx = IVFPQ(nlist=16, m=4, nprobe=16).build(x, [f"v{i}" for i in range(2000)])
    >>> idx.search(x[7], k=5).ids.shape
    (1, 5)
    """

    kind = "ivfpq"

    def __init__(
        self,
        metric: str = "cosine",
        nlist: int | None = None,
        m: int | None = None,
        nbits: int = 8,
        nprobe: int = 16,
        train_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.metric = metric
        self.nlist = nlist
        self.m = m
        self.nbits = nbits
        self.nprobe = nprobe
        self.train_size = train_size
        self.seed = seed

    def _factory(self, dim: int, nlist: int, n_train: int) -> str:
        m = int(self.m) if self.m else default_m(dim)
        if dim % m:
            raise RoostError(f"m={m} does not divide the dimension {dim}")
        # A PQ codebook of 2**nbits centroids needs at least that many training vectors.
        nbits = max(1, min(int(self.nbits), int(math.log2(max(2, n_train)))))
        # "np": no polysemous training, which index_factory otherwise runs (seconds per
        # sub-quantizer, whatever the data size) for a search mode Roost does not use.
        return f"IVF{nlist},PQ{m}x{nbits}np"
