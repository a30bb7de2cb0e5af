"""Shared data and backend settings for the index tests.

Small clustered data sets with known structure; every backend gets parameters that make
it near-exact on them (full nprobe, generous ef), so that conformance checks can compare
with exact search.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from roost.index import get_index_class

# The test machine's two cores are shared: OpenMP threads that spin-wait for a busy core
# made faiss builds 2-8x slower than one thread here.
faiss.omp_set_num_threads(1)

# Parameters per registered kind that keep builds fast and searches near-exact here.
PARAMS = {
    "exact": {},
    "hnsw": {"M": 8, "ef_construction": 64, "ef_search": 64},
    "hnswlib": {"M": 8, "ef_construction": 64, "ef_search": 64, "num_threads": 1},
    "faiss-hnsw": {"M": 8, "ef_construction": 64, "ef_search": 64},
    "ivfflat": {"nlist": 8, "nprobe": 8},
    "ivfpq": {"nlist": 8, "m": 8, "nprobe": 8},
}
KINDS = list(PARAMS)
# Kinds that keep full vectors: their scores equal exact scores.
LOSSLESS = [k for k in KINDS if k != "ivfpq"]


def clustered(n: int, dim: int, seed: int = 0, centers: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, dim)) * 3
    x = c[rng.integers(0, centers, n)] + rng.normal(size=(n, dim))
    return x.astype(np.float32)


def make(kind: str, metric: str = "cosine", **override):
    return get_index_class(kind)(metric=metric, **{**PARAMS[kind], **override})


@pytest.fixture(scope="session")
def small():
    x = clustered(600, 16, seed=1)
    ids = np.array([f"item-{i}" for i in range(len(x))], dtype=object)
    cats = np.array(["Drama", "Comedy", "Horror"], dtype=object)[np.arange(len(x)) % 3]
    return x, ids, cats
