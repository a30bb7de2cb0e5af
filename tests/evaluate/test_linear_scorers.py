"""DLAE and EDLAE against a hand-computed case and their formulas, the bound on the
diagonal, and the new rows on the leaderboard."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from matrices import random_binary
from test_leaderboard import _catalog

from roost.evaluate import methods as ladder
from roost.evaluate.leaderboard import run
from roost.evaluate.linear_scorers import DLAE
from roost.recommend.baselines import EASE
from roost.types import NotFittedError, RoostError


def _random(n_users=60, n_items=25, n=400, seed=0) -> sp.csr_array:
    return random_binary(n_users, n_items, n, seed)


# X = [[1, 1], [1, 0]]: G = [[2, 1], [1, 1]]; dropout 0.5 and l2 1 give the penalty
# diag(0.5/0.5 * [2, 1]) + 1 = diag(3, 2), so G + Lambda = [[5, 1], [1, 3]] and
# P = (G + Lambda)^-1 = [[3, -1], [-1, 5]] / 14.
_X = sp.csr_array([[1.0, 1.0], [1.0, 0.0]])


def test_dlae_by_hand():
    # DLAE: B = P G = [[5, 2], [3, 4]] / 14
    model = DLAE(dropout=0.5, l2=1.0, diagonal=1.0).fit(_X)
    np.testing.assert_allclose(model.penalty_, [3.0, 2.0])
    np.testing.assert_allclose(model.weights_, np.array([[5.0, 2.0], [3.0, 4.0]]) / 14, rtol=1e-6)


def test_edlae_by_hand():
    # EDLAE: B_ij = -P_ij / P_jj off the diagonal, 0 on it: B_01 = (1/14)/(5/14), B_10 = 1/3
    model = DLAE(dropout=0.5, l2=1.0, diagonal=0.0).fit(_X)
    np.testing.assert_allclose(model.weights_, [[0.0, 0.2], [1.0 / 3.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(model.score([1]), [[0.0, 0.2]], rtol=1e-6)


@pytest.mark.parametrize("dropout", [0.0, 0.3, 0.7])
def test_both_closed_forms_match_numpy(dropout):
    x = _random()
    g = (x.T @ x).toarray()
    lam = np.diag(dropout / (1 - dropout) * np.diag(g) + 10.0)
    p = np.linalg.inv(g + lam)
    dlae = DLAE(dropout=dropout, l2=10.0, diagonal=1.0).fit(x)
    np.testing.assert_allclose(dlae.weights_, np.linalg.solve(g + lam, g), atol=1e-5)
    edlae = DLAE(dropout=dropout, l2=10.0, diagonal=0.0).fit(x)
    want = np.eye(len(g)) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(edlae.weights_, want, atol=1e-5)
    rows = [0, 5]
    np.testing.assert_allclose(edlae.score(rows), x[rows].toarray() @ want, atol=1e-5)


def test_edlae_without_dropout_is_ease():
    x = _random()
    got = DLAE(dropout=0.0, l2=20.0, diagonal=0.0).fit(x).weights_
    np.testing.assert_allclose(got, EASE(l2=20.0).fit(x).weights_, atol=1e-6)


def test_the_diagonal_bound_holds_and_binds_only_where_needed():
    x = _random()
    free = np.diag(DLAE(dropout=0.2, l2=1.0, diagonal=1.0).fit(x).weights_)
    bound = float(np.median(free))
    relaxed = DLAE(dropout=0.2, l2=1.0, diagonal=bound).fit(x)
    diag = np.diag(relaxed.weights_)
    assert (diag <= bound + 1e-5).all()
    # items whose free self-weight is already under the bound keep their DLAE column
    under = free < bound
    assert under.any() and (~under).any()
    full = DLAE(dropout=0.2, l2=1.0, diagonal=1.0).fit(x).weights_
    np.testing.assert_allclose(relaxed.weights_[:, under], full[:, under], atol=1e-5)
    np.testing.assert_allclose(diag[~under], bound, atol=1e-5)


def test_bad_parameters_and_unfitted_use():
    with pytest.raises(ValueError, match="dropout"):
        DLAE(dropout=1.0).fit(_X)
    with pytest.raises(ValueError, match="l2"):
        DLAE(l2=0.0).fit(_X)
    with pytest.raises(ValueError, match="diagonal"):
        DLAE(diagonal=1.5).fit(_X)
    with pytest.raises(RoostError, match="max_items"):
        DLAE(max_items=1).fit(_X)
    with pytest.raises(NotFittedError):
        DLAE().score([0])


def test_new_rows_run_on_the_leaderboard(monkeypatch):
    monkeypatch.setitem(ladder.METHODS["als-bm25"].defaults, "factors", 4)
    board = run(
        _catalog(),
        "stratified",
        ["dlae", "hybrid-full"],
        grids={
            "dlae": {"dropout": [0.2, 0.5], "diagonal": [0.0, 1.0]},
            "hybrid-full": {"weights": [(1.0, 1.0, 0.1, 0.0), (1.0, 1.5, 0.2, 0.2)]},
        },
    )
    rows = {r["method"]: r for r in board.rows}
    assert set(rows) == {"popularity", "dlae", "hybrid-full"}
    assert rows["dlae"]["ndcg@10"] > rows["popularity"]["ndcg@10"]
    assert rows["hybrid-full"]["ndcg@10"] > rows["popularity"]["ndcg@10"]
    assert len(board.run["tuning"]["dlae"][0]["grid"]) == 4
    assert len(board.run["tuning"]["hybrid-full"][0]["grid"]) == 2
    assert len(rows["hybrid-full"]["chosen"]["weights"]) == len(ladder.FULL_BLEND)
