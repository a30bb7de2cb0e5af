"""Baseline scorers: closed forms checked against independent computations, a checkerboard
of users and items whose right answers are known, fold-in of new users."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.metrics.pairwise import cosine_similarity

from roost.data.frames import Interactions
from roost.recommend.baselines import BASELINES, EASE, ItemKNN, Popularity
from roost.types import NotFittedError, RoostError

SMALL = {"popularity": {}, "itemknn": {"neighbours": 5}, "ease": {"l2": 10.0}}


def _random_matrix(
    seed: int, n_users: int = 40, n_items: int = 25, density: float = 0.2
) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    return sp.csr_array((rng.random((n_users, n_items)) < density).astype(np.float32))


def _checkerboard(n_users: int = 20, n_items: int = 12) -> sp.csr_array:
    """Users of group g (even/odd) had every item of group g but one: those are the answers."""
    x = np.zeros((n_users, n_items), np.float32)
    for u in range(n_users):
        items = [i for i in range(n_items) if i % 2 == u % 2]
        x[u, items] = 1.0
        x[u, items[u % len(items)]] = 0.0
    return sp.csr_array(x)


@pytest.mark.parametrize("name", list(BASELINES))
def test_contract_shape_dtype_and_fold_in(name):
    x = _random_matrix(0)
    model = BASELINES[name](**SMALL[name]).fit(x)
    s = model.score(np.array([0, 3, 7]))
    assert s.shape == (3, x.shape[1]) and s.dtype == np.float32 and s.flags.writeable
    # A history given as a row scores the same as the fitted user: fold-in for free.
    np.testing.assert_allclose(model.score(x[[0, 3, 7]]), s, rtol=1e-5, atol=1e-6)
    # A user the model never saw.
    new = sp.csr_array(np.eye(1, x.shape[1], 4, dtype=np.float32))
    assert model.score(new).shape == (1, x.shape[1])


@pytest.mark.parametrize("name", list(BASELINES))
def test_interactions_and_matrices_fit_the_same(name):
    rng = np.random.default_rng(1)
    users = [f"u{i}" for i in rng.integers(0, 15, 120)]
    items = [f"i{i}" for i in rng.integers(0, 20, 120)]
    inter = Interactions.from_arrays(users, items, values=rng.integers(1, 6, 120))
    a = BASELINES[name](**SMALL[name]).fit(inter).score(np.arange(5))
    b = BASELINES[name](**SMALL[name]).fit(inter.to_csr(binary=False)).score(np.arange(5))
    np.testing.assert_allclose(a, b, rtol=1e-5)  # values ignored: implicit feedback


@pytest.mark.parametrize("name", ["itemknn", "ease"])
def test_checkerboard_recommends_the_missing_item_of_the_group(name):
    x = _checkerboard()
    model = BASELINES[name](**SMALL[name]).fit(x)
    s = model.score(np.arange(x.shape[0]))
    s[x.toarray() > 0] = -np.inf
    best = s.argmax(axis=1)
    for u in range(x.shape[0]):
        items = [i for i in range(x.shape[1]) if i % 2 == u % 2]
        assert best[u] == items[u % len(items)], u


@pytest.mark.parametrize("name", list(BASELINES))
def test_unfitted_and_bad_rows_are_clear_errors(name):
    model = BASELINES[name](**SMALL[name])
    with pytest.raises(NotFittedError):
        model.score(np.array([0]))
    model.fit(_random_matrix(2))
    with pytest.raises(ValueError, match="user rows"):
        model.score(np.array([400]))
    with pytest.raises(ValueError, match="columns"):
        model.score(sp.csr_array(np.ones((1, 3), np.float32)))


def test_popularity_counts_users_not_repeats():
    x = sp.csr_array((np.array([3.0, 1.0, 1.0]), ([0, 1, 1], [0, 0, 2])), shape=(2, 3))
    assert Popularity().fit(x).score([1]).tolist() == [[2.0, 0.0, 1.0]]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.5, 200.0))
def test_ease_column_is_the_ridge_regression_on_the_other_items(seed, l2):
    # Independent of the closed form: column j of B is the ridge fit of item j from the rest.
    x = _random_matrix(seed, n_users=30, n_items=8, density=0.4)
    b = EASE(l2=l2).fit(x).weights_
    dense = x.toarray().astype(np.float64)
    assert np.all(np.diag(b) == 0)
    for j in (0, 5):
        others = np.delete(np.arange(8), j)
        ridge = Ridge(alpha=l2, fit_intercept=False, solver="cholesky").fit(
            dense[:, others], dense[:, j]
        )
        np.testing.assert_allclose(b[others, j], ridge.coef_, rtol=1e-4, atol=1e-5)


def test_ease_refuses_catalogs_it_cannot_hold():
    with pytest.raises(RoostError, match="max_items"):
        EASE(max_items=10).fit(_random_matrix(0))
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0.0).fit(_random_matrix(0))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.sampled_from([0.0, 5.0]))
def test_itemknn_is_cosine_pruned_to_top_n_per_item(seed, neighbours, shrink):
    x = _random_matrix(seed)
    # A tiny block forces several blocks: the result must not depend on it.
    knn = ItemKNN(neighbours=neighbours, shrink=shrink, block_bytes=8 * 25 * 3).fit(x)
    dense = x.toarray()
    counts = dense.sum(axis=0)
    co = dense.T @ dense
    expected = co / (np.sqrt(np.outer(counts, counts)) + shrink + 1e-12)
    if shrink == 0:
        np.testing.assert_allclose(expected, cosine_similarity(dense.T), atol=1e-6)
    np.fill_diagonal(expected, 0.0)
    got = knn.similarity_.toarray()
    n = x.shape[1]
    for j in range(n):
        keep = min(neighbours, n - 1)
        col = expected[:, j]
        kth = np.sort(col)[::-1][keep - 1]
        nonzero = got[:, j] != 0
        # Kept: exactly the similarities, and only among the top-N of the column.
        np.testing.assert_allclose(got[nonzero, j], col[nonzero], rtol=1e-5)
        assert nonzero.sum() <= keep
        assert np.all(col[nonzero] >= kth - 1e-6)
        assert np.all(nonzero[col > kth + 1e-6])
    np.testing.assert_allclose(knn.score(x[[0]]), x[[0]].toarray() @ got, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("similarity", ["jaccard", "cooccurrence"])
def test_itemknn_other_similarities(similarity):
    x = _random_matrix(3)
    got = ItemKNN(neighbours=100, similarity=similarity).fit(x).similarity_.toarray()
    dense = x.toarray()
    co = dense.T @ dense
    counts = np.diag(co)
    expected = (
        co
        if similarity == "cooccurrence"
        else co / (counts[:, None] + counts[None, :] - co + 1e-12)
    )
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown similarity"):
        ItemKNN(similarity="pearson").fit(x)
