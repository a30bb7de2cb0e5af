"""faiss backends: the shared wrapper and the HNSW graph (``faiss-hnsw``, also the default
``hnsw`` kind: fastest at recall@10 = 0.95 on GloVe 400k in bench/ann.py).

faiss indexes take a row mask pushed down as an ``IDSelectorBitmap`` inside
``SearchParameters``, write and read their own binary format, and use the process-wide
OpenMP thread count (``faiss.omp_set_num_threads``), which this wrapper leaves alone.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from roost.index.base import Index

_FAISS_METRIC = {"cosine": faiss.METRIC_INNER_PRODUCT, "dot": faiss.METRIC_INNER_PRODUCT,
                 "l2": faiss.METRIC_L2}


class FaissIndex(Index):
    """Common code of the faiss backends; subclasses make ``index_`` in ``_build``."""

    def _faiss_metric(self) -> int:
        return _FAISS_METRIC[self.metric]

    def _after_index(self) -> None:
        """Called once ``index_`` exists (built or read)."""
        self._l2 = self.metric == "l2"

    def _search(self, q: np.ndarray, k: int):
        dist, labels = self.index_.search(q, k)
        return labels, self._scores(dist, labels)

    def _scores(self, dist: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if self._l2:
            np.negative(dist, out=dist)  # faiss marks a missing hit with +inf: now -inf
        elif labels[0, -1] < 0 or (len(labels) > 1 and labels[:, -1].min() < 0):
            # Misses sit at the end of a row; inner-product indexes mark them with -FLT_MAX.
            dist[labels < 0] = -np.inf
        return dist

    def _search_masked(self, q: np.ndarray, k: int, mask: np.ndarray):
        bits = np.packbits(mask, bitorder="little")
        # bits must outlive the search: the selector keeps only a pointer to it.
        sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        dist, labels = self.index_.search(q, k, params=self._params(sel))
        return labels, self._scores(dist, labels)

    def _params(self, sel):
        return faiss.SearchParameters(sel=sel)

    def _add(self, x: np.ndarray, start: int) -> None:
        self.index_.add(x)

    def _vectors(self, labels: np.ndarray) -> np.ndarray:
        return self.index_.reconstruct_batch(np.asarray(labels, dtype=np.int64))

    def _write(self, file: Path) -> None:
        faiss.write_index(self.index_, str(file))

    def _read(self, file: Path, count: int) -> None:
        index = faiss.read_index(str(file))
        if index.d != self.dim_ or index.metric_type != self._faiss_metric():
            raise ValueError(f"{file}: faiss index of dim {index.d}, expected {self.dim_}")
        self.index_ = index
        self._after_index()

    def _stored_count(self) -> int:
        return int(self.index_.ntotal)

    def _library_versions(self) -> dict[str, str]:
        return {"faiss": faiss.__version__, "numpy": np.__version__}


class FaissHNSW(FaissIndex):
    """Approximate search on an HNSW graph (faiss ``IndexHNSWFlat``).

    Parameters
    ----------
    metric : ``cosine``, ``dot`` or ``l2``.
    M : graph degree (links per node; level 0 has ``2 * M``).
    ef_construction : candidate list size while building.
    ef_search : candidate list size while searching (at least k).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 8)).astype("float32")
    >>> idx = FaissHNSW(M=8).build(x, [f"v{i}" for i in range(100)])
    >>> idx.search(x[7], k=1).ids[0, 0]
    'v7'
    """

    kind = "faiss-hnsw"
    supports_add = True
    native_file = "faiss.index"
    search_params = ("ef_search",)

    def __init__(
        self, metric: str = "cosine", M: int = 32, ef_construction: int = 200, ef_search: int = 64
    ) -> None:
        self.metric = metric
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search

    def _build(self, x: np.ndarray) -> None:
        index = faiss.IndexHNSWFlat(int(x.shape[1]), int(self.M), self._faiss_metric())
        index.hnsw.efConstruction = int(self.ef_construction)
        index.add(x)
        self.index_ = index
        self._after_index()

    def _apply_search_params(self) -> None:
        self.index_.hnsw.efSearch = int(self.ef_search)

    def _params(self, sel):
        return faiss.SearchParametersHNSW(sel=sel, efSearch=int(self.ef_search))
