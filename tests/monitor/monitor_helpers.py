"""Small data with known answers shared by the monitor tests (a plain module: no fixtures)."""

from __future__ import annotations

import numpy as np

from roost.types import EmbeddingSet


def make_set(vectors: np.ndarray, ids=None, method: str = "x", metric: str = "cosine"):
    vectors = np.asarray(vectors, dtype=np.float32)
    if ids is None:
        ids = [f"i{j}" for j in range(len(vectors))]
    return EmbeddingSet(np.array(ids, dtype=object), vectors, method, {}, "fp", metric=metric)


def random_rotation(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def clustered(n: int, dim: int, seed: int, n_clusters: int = 8) -> np.ndarray:
    """Points around a few centres: a space with real neighbourhoods (unlike white noise)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(size=(n_clusters, dim)) * 3
    return (centres[rng.integers(0, n_clusters, n)] + rng.normal(size=(n, dim))).astype(np.float32)
