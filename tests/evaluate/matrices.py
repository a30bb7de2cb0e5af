"""Small random interaction matrices for the scorer tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def random_binary(
    n_users: int = 80, n_items: int = 50, n: int = 700, seed: int = 0
) -> sp.csr_array:
    """A seeded ``n_users x n_items`` 0/1 matrix from ``n`` draws (repeats collapse)."""
    rng = np.random.default_rng(seed)
    x = sp.csr_array((np.ones(n), (rng.integers(0, n_users, n), rng.integers(0, n_items, n))))
    x.sum_duplicates()
    x.data[:] = 1.0
    return x
