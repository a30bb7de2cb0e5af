"""HNSW graphs with hnswlib (kind ``hnswlib``; the default ``hnsw`` is faiss, which measured
faster at equal recall on GloVe 400k, one query at a time).

hnswlib normalises cosine vectors itself and returns distances (``1 - ip`` for cosine
and dot, squared L2) that become scores with one in-place numpy operation.

Filters are not pushed down: hnswlib's filter is a Python callable called for every node
the search visits, and over-fetching then dropping excluded rows measured faster on
GloVe (50k x 50, M=16, ef=64, one query at a time: 2,261 against 1,602 QPS with 70% of
rows allowed, 1,853 against 856 with 20%).
"""

from __future__ import annotations

from pathlib import Path

import hnswlib
import numpy as np

from roost.index.base import Index

_SPACE = {"cosine": "cosine", "dot": "ip", "l2": "l2"}


class HnswlibIndex(Index):
    """Approximate search on an HNSW graph (hnswlib).

    Parameters
    ----------
    metric : ``cosine``, ``dot`` or ``l2``.
    M : graph degree (links per node; level 0 has ``2 * M``).
    ef_construction : candidate list size while building (quality of the graph).
    ef_search : candidate list size while searching (recall against speed; at least k).
    num_threads : threads for build and batch search (-1: all cores).
    seed : seed of the level generator.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 8)).astype("float32")
    >>> idx = HnswlibIndex(M=8).build(x, [f"v{i}" for i in range(100)])
    >>> idx.search(x[7], k=1).ids[0, 0]
    'v7'
    """

    kind = "hnswlib"
    supports_add = True
    native_file = "hnswlib.bin"
    normalizes_cosine = True
    search_params = ("ef_search", "num_threads")

    def __init__(
        self,
        metric: str = "cosine",
        M: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
        num_threads: int = -1,
        seed: int = 100,
    ) -> None:
        self.metric = metric
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.num_threads = num_threads
        self.seed = seed

    def _build(self, x: np.ndarray) -> None:
        self.index_ = hnswlib.Index(space=_SPACE[self.metric], dim=int(x.shape[1]))
        self.index_.init_index(
            max_elements=len(x), M=self.M, ef_construction=self.ef_construction,
            random_seed=self.seed,
        )
        self.index_.add_items(x, np.arange(len(x)), num_threads=self.num_threads)
        self._l2 = self.metric == "l2"

    def _add(self, x: np.ndarray, start: int) -> None:
        need = start + len(x)
        if need > self.index_.get_max_elements():
            self.index_.resize_index(max(need, 2 * self.index_.get_max_elements()))
        self.index_.add_items(x, np.arange(start, need), num_threads=self.num_threads)

    def _apply_search_params(self) -> None:
        self.index_.set_ef(int(self.ef_search))

    def _search(self, q: np.ndarray, k: int):
        labels, dist = self.index_.knn_query(q, k, num_threads=self.num_threads)
        return labels.view(np.int64), self._scores(dist)

    def _scores(self, dist: np.ndarray) -> np.ndarray:
        if self._l2:
            return np.negative(dist, out=dist)
        return np.subtract(1.0, dist, out=dist)

    def _vectors(self, labels: np.ndarray) -> np.ndarray:
        # hnswlib stores cosine vectors normalised, which is what exact scoring needs.
        return np.asarray(self.index_.get_items(labels, return_type="numpy"), dtype=np.float32)

    def _write(self, file: Path) -> None:
        self.index_.save_index(str(file))

    def _read(self, file: Path, count: int) -> None:
        self.index_ = hnswlib.Index(space=_SPACE[self.metric], dim=self.dim_)
        self.index_.load_index(str(file), max_elements=count)
        self._l2 = self.metric == "l2"

    def _stored_count(self) -> int:
        return int(self.index_.get_current_count())

    def _library_versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"hnswlib": version("hnswlib"), "numpy": np.__version__}
