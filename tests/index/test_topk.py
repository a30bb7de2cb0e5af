"""The exact kernels against a plain full sort, whatever the shapes and chunking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.index.topk import exact_search, normalize_rows, top_k


@settings(max_examples=80, deadline=None)
@given(nq=st.integers(1, 6), n=st.integers(1, 40), k=st.integers(1, 50), seed=st.integers(0, 999))
def test_top_k_equals_full_sort(nq, n, k, seed):
    scores = np.random.default_rng(seed).normal(size=(nq, n)).astype(np.float32)
    idx, vals = top_k(scores, k)
    kk = min(k, n)
    assert idx.shape == vals.shape == (nq, kk) and idx.dtype == np.int64
    want = -np.sort(-scores, axis=1)[:, :kk]
    np.testing.assert_array_equal(vals, want)
    np.testing.assert_array_equal(np.take_along_axis(scores, idx, axis=1), want)
    assert all(len(set(r)) == kk for r in idx)


@settings(max_examples=60, deadline=None)
@given(nq=st.integers(1, 9), n=st.integers(1, 30), k=st.integers(1, 12),
       metric=st.sampled_from(["cosine", "dot", "l2"]), block=st.sampled_from([1, 200, 1 << 20]),
       seed=st.integers(0, 999))
def test_exact_search_matches_brute_force_in_any_chunking(nq, n, k, metric, block, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    q = rng.normal(size=(nq, 3)).astype(np.float32)
    if metric == "cosine":
        x, q = normalize_rows(x), normalize_rows(q)
    exclude = rng.random(n) < 0.3
    labels, scores = exact_search(q, x, k, metric, block_bytes=block, exclude=exclude)
    if metric == "l2":
        full = -((q[:, None, :].astype(np.float64) - x[None].astype(np.float64)) ** 2).sum(-1)
    else:
        full = q.astype(np.float64) @ x.T.astype(np.float64)
    full[:, exclude] = -np.inf
    kk = min(k, n)
    want = -np.sort(-full, axis=1)[:, :kk]
    np.testing.assert_allclose(scores, want, rtol=1e-4, atol=1e-4)
    valid = labels >= 0
    assert (valid == np.isfinite(want)).all()
    assert not exclude[labels[valid]].any()


def test_normalize_rows_keeps_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(normalize_rows(x), [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.parametrize("seed", range(8))
def test_one_query_and_a_batch_break_ties_alike(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(6, 300)).astype(np.float32)  # ties everywhere
    scores[2] = 0.0  # a row of nothing but ties
    for k in (1, 5, 37, 300):
        idx, vals = top_k(scores, k)
        for i in range(len(scores)):
            one_idx, one_vals = top_k(scores[i : i + 1], k)
            assert idx[i].tolist() == one_idx[0].tolist()
            want = sorted(range(300), key=lambda j: (-scores[i, j], j))[:k]
            assert idx[i].tolist() == want
            np.testing.assert_array_equal(vals[i], scores[i, want])
