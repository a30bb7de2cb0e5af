"""RP3beta against its formula, BM25-weighted ALS, the sparse item kNN path against the
dense one, and the new rows on the leaderboard."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from matrices import random_binary
from test_leaderboard import _catalog

from roost.evaluate.graph_scorers import BM25ALS, RP3Beta
from roost.evaluate.leaderboard import run
from roost.recommend.baselines import ItemKNN
from roost.types import NotFittedError


def _random(n_users=80, n_items=50, n=700, seed=0) -> sp.csr_array:
    return random_binary(n_users, n_items, n, seed)


def _rp3_dense(x: np.ndarray, alpha: float, beta: float, keep: int) -> np.ndarray:
    pui = x / np.maximum(x.sum(axis=1, keepdims=True), 1)
    piu = x.T / np.maximum(x.sum(axis=0)[:, None], 1)
    w = (piu @ pui) ** alpha / np.maximum(x.sum(axis=0), 1)[None, :] ** beta
    np.fill_diagonal(w, 0.0)
    drop = np.argsort(-w, axis=1, kind="stable")[:, keep:]
    np.put_along_axis(w, drop, 0.0, axis=1)
    return w


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (0.7, 0.5)])
def test_rp3beta_matches_its_formula(alpha, beta):
    x = _random()
    model = RP3Beta(alpha=alpha, beta=beta, neighbours=8).fit(x)
    want = _rp3_dense(x.toarray(), alpha, beta, 8)
    got = model.weights_.toarray()
    # each row keeps its 8 largest weights (ties may pick other columns of equal value)
    np.testing.assert_allclose(np.sort(got, axis=1), np.sort(want, axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.score([0, 3]), x[[0, 3]].toarray() @ got, rtol=1e-5)


def test_rp3beta_popularity_penalty_lowers_popular_items():
    x = _random()
    popular = int(np.asarray(x.sum(axis=0)).ravel().argmax())
    plain = RP3Beta(alpha=1.0, beta=0.0, neighbours=50).fit(x).score(np.arange(80))
    penalised = RP3Beta(alpha=1.0, beta=0.8, neighbours=50).fit(x).score(np.arange(80))
    rank = lambda s: (s > s[:, [popular]]).sum(axis=1).mean()  # noqa: E731
    assert rank(penalised) > rank(plain)


def test_bm25_als_is_seeded_and_scores_every_item():
    x = _random()
    a = BM25ALS(factors=8, iterations=3, seed=1).fit(x).score([0, 1, 2])
    b = BM25ALS(factors=8, iterations=3, seed=1).fit(x).score([0, 1, 2])
    assert a.shape == (3, 50)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    with pytest.raises(NotFittedError):
        BM25ALS().score([0])


@pytest.mark.parametrize("similarity", ["cosine", "jaccard", "cooccurrence"])
def test_itemknn_sparse_path_keeps_what_the_dense_blocks_keep(similarity):
    x = _random(n_users=200, n_items=300, n=3000)
    sparse = ItemKNN(20, similarity, shrink=1.0).fit(x).similarity_.tocsc()
    # a tiny block budget forces the dense block path
    dense = ItemKNN(20, similarity, shrink=1.0, block_bytes=1 << 10).fit(x).similarity_.tocsc()
    assert sparse.nnz == dense.nnz
    for j in range(300):
        a, b = sparse[:, [j]], dense[:, [j]]
        np.testing.assert_allclose(np.sort(a.data), np.sort(b.data), rtol=1e-6)
        assert 0 <= a.nnz <= 20 and j not in a.indices


def test_new_rows_run_on_the_leaderboard():
    board = run(_catalog(), "stratified", ["rp3beta", "als-bm25", "hybrid-bm25"], tune=False)
    rows = {r["method"]: r for r in board.rows}
    assert set(rows) == {"popularity", "rp3beta", "als-bm25", "hybrid-bm25"}
    assert rows["rp3beta"]["ndcg@10"] > rows["popularity"]["ndcg@10"]
    assert rows["hybrid-bm25"]["chosen"]["weights"] == [1.0, 1.0, 0.0]
