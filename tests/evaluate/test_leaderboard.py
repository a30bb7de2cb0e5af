"""The leaderboard on a small synthetic catalog: rows, files, the run record, and the test
split kept out of every fit and every choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from roost.data.frames import Catalog
from roost.data.splits import stratified_split
from roost.evaluate import methods as ladder
from roost.evaluate.leaderboard import run
from roost.evaluate.report import write
from roost.evaluate.scorers import Blend, ColdStart, EmbeddingScorer, knn_similarity
from roost.evaluate.stacking import LearnedRanker
from roost.recommend.baselines import EASE, ItemKNN, Popularity
from roost.types import RoostError


def _catalog(n_users: int = 60, n_items: int = 40, seed: int = 0) -> Catalog:
    """Two tastes: even users like the first half of the items, odd users the second; item
    titles and tags say which half, so content methods can find it too."""
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    half = n_items // 2
    for u in range(n_users):
        lo = 0 if u % 2 == 0 else half
        picks = rng.choice(np.arange(lo, lo + half), size=10, replace=False)
        users += [f"u{u}"] * len(picks)
        items += [f"i{j}" for j in picks]
        ts += list(rng.integers(0, 1000, len(picks)))
    return Catalog.from_pydict(
        items={
            "id": [f"i{j}" for j in range(n_items)],
            "title": [
                ("owl night hunter" if j < half else "gull sea coast") + f" {j}"
                for j in range(n_items)
            ],
            "tags": [["night"] if j < half else ["sea"] for j in range(n_items)],
        },
        events={
            "user_id": users,
            "item_id": items,
            "kind": ["like"] * len(users),
            "value": [1.0] * len(users),
            "ts": ts,
        },
    )


def test_popularity_is_always_a_row_and_rows_are_best_first():
    board = run(_catalog(), "stratified", ["ease", "itemknn"], tune=False)
    names = [r["method"] for r in board.rows]
    assert sorted(names) == ["ease", "itemknn", "popularity"]
    ndcg = [r["ndcg@10"] for r in board.rows]
    assert ndcg == sorted(ndcg, reverse=True)
    # the two tastes are easy: the collaborative rows beat the popularity list
    assert board.rows[-1]["method"] == "popularity"


def test_files_and_the_run_record(tmp_path):
    board = run(_catalog(), "time", ["ease"], grids={"ease": {"l2": [1.0, 10.0]}}, seed=7)
    files = write(board, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    row = doc["leaderboard"][0]
    assert {"method", "ndcg@10", "recall@10", "precision@10", "map@10", "chosen"} <= set(row)
    r = doc["run"]
    assert r["seed"] == 7 and r["protocol"] == "time" and r["methods"] == ["popularity", "ease"]
    assert r["versions"]["roost"] and r["versions"]["numpy"] == np.__version__
    assert [g["params"]["l2"] for g in r["tuning"]["ease"][0]["grid"]] == [1.0, 10.0]
    assert "| ease |" in (tmp_path / "out" / "leaderboard.md").read_text()
    png = (tmp_path / "out" / "leaderboard.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and files["png"]


class _Spy:
    """A real scorer that records the (user, item) pairs of every training set it sees."""

    seen: list[set] = []

    def __init__(self, scorer):
        self.scorer = scorer

    def fit(self, train):
        _Spy.seen.append(
            set(zip(train.user_ids[train.users], train.item_ids[train.items], strict=True))
        )
        self.scorer.fit(train)
        return self

    def score(self, users):
        return self.scorer.score(users)


def test_no_fit_and_no_choice_ever_sees_the_test_split(monkeypatch):
    catalog = _catalog()
    for name in ladder.RANKER_CHANNELS:
        m = ladder.METHODS[name]
        spied = ladder.Method(lambda p, ctx, make=m.make: _Spy(make(p, ctx)), m.kind, m.description,
                              m.defaults, m.grid)  # fmt: skip
        monkeypatch.setitem(ladder.METHODS, name, spied)
    monkeypatch.setitem(ladder.METHODS["als-bm25"].defaults, "factors", 4)
    _Spy.seen = []
    board = run(catalog, "stratified", [*ladder.RANKER_CHANNELS, "ranker"],
                grids={"ease": {"l2": [1.0, 50.0]}, "rp3beta": {}, "als-bm25": {}})  # fmt: skip
    train, test = stratified_split(catalog.interactions(), 0.75, seed=42)
    test_pairs = set(zip(test.user_ids[test.users], test.item_ids[test.items], strict=True))
    train_pairs = set(zip(train.user_ids[train.users], train.item_ids[train.items], strict=True))
    assert _Spy.seen and all(not (s & test_pairs) for s in _Spy.seen)
    # the grid and the ranker's own validation fits see strictly less than the training split
    # each row fits once on the training split; the ranker's refit reuses those fits
    assert sum(s == train_pairs for s in _Spy.seen) == len(ladder.RANKER_CHANNELS)
    assert any(s < train_pairs for s in _Spy.seen)
    assert "ranker" in [r["method"] for r in board.rows]


def test_a_hybrid_fits_each_part_once_per_training_set(monkeypatch):
    catalog = _catalog()
    fits = []
    for name in ladder.CF_BLEND:
        m = ladder.METHODS[name]
        spied = ladder.Method(lambda p, ctx, make=m.make, n=name: _Counted(make(p, ctx), n, fits),
                              m.kind, m.description, m.defaults, m.grid)  # fmt: skip
        monkeypatch.setitem(ladder.METHODS, name, spied)
    monkeypatch.setitem(ladder.METHODS["als"].defaults, "factors", 4)
    # four weight sets searched, then the final blend: without sharing, 5 fits per part
    run(catalog, "stratified", ["hybrid-cf"], grids={"hybrid-cf": ladder.METHODS["hybrid-cf"].grid})
    assert sorted(fits) == sorted([*ladder.CF_BLEND] * 2)  # validation part, then train
    train, _ = stratified_split(catalog.interactions(), 0.75, seed=42)
    again, _ = stratified_split(catalog.interactions(), 0.75, seed=42)
    assert ladder.fingerprint(train) == ladder.fingerprint(again)
    assert ladder.fingerprint(train) != ladder.fingerprint(catalog.interactions())


class _Counted:
    def __init__(self, scorer, name, fits):
        self.scorer, self.name, self.fits = scorer, name, fits

    def fit(self, train):
        self.fits.append(self.name)
        self.scorer.fit(train)
        return self

    def score(self, users):
        return self.scorer.score(users)


def test_bad_requests_are_clear_errors():
    with pytest.raises(RoostError, match="unknown method 'nope'"):
        run(_catalog(), "stratified", ["nope"])
    with pytest.raises(RoostError, match="unknown protocol"):
        run(_catalog(), "random", ["ease"])
    with pytest.raises(RoostError, match="official folds"):
        run(_catalog(), "official", ["ease"])
    with pytest.raises(RoostError, match="no events"):
        run(Catalog.from_pydict(items={"id": ["a"]}), "stratified", ["ease"])


def test_quick_runs_the_cheap_rows_at_their_defaults():
    board = run(_catalog(), "leave-last", quick=True)
    assert [r["method"] for r in board.rows if r["method"] != "popularity"]
    assert set(board.run["methods"]) == set(ladder.QUICK) and not board.run["tuning"]


# --- the scorers the ladder is made of ---------------------------------------------------


def test_knn_similarity_keeps_the_nearest_positive_neighbours():
    v = np.array([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0], [-1.0, 0.0]])
    s = knn_similarity(v, neighbours=2).toarray()
    assert s[0, 0] == 0.0 and s[1, 0] > 0 and s[3, 0] == 0.0  # no self, no negative
    assert (s > 0).sum(axis=0).max() <= 2
    dense_sparse = knn_similarity(sp.csr_array(v.clip(0)), neighbours=2).toarray()
    np.testing.assert_allclose(
        dense_sparse, knn_similarity(v.clip(0), neighbours=2).toarray(), atol=1e-6
    )


@pytest.mark.parametrize("method", ["tfidf", "als"])
def test_embedding_scorers_find_the_users_taste(method):
    catalog = _catalog()
    inter = catalog.interactions()
    train, _ = stratified_split(inter, 0.75, seed=1)
    params = {"factors": 4, "iterations": 5} if method == "als" else {}
    s = EmbeddingScorer(method, params, catalog.items).fit(train)
    even = [j for j, u in enumerate(inter.user_ids) if int(u[1:]) % 2 == 0]
    scores = s.score(even)
    first_half = np.array([int(i[1:]) < 20 for i in inter.item_ids])
    assert (scores[:, first_half].mean(axis=1) > scores[:, ~first_half].mean(axis=1)).all()


def test_cold_start_blend_and_ranker_shapes():
    catalog = _catalog()
    inter = catalog.interactions()
    train, _ = stratified_split(inter, 0.75, seed=1)
    without_u0 = train.subset(train.user_ids[train.users] != "u0")
    cold = ColdStart(EASE(l2=5.0)).fit(without_u0)
    np.testing.assert_array_equal(cold.score([0])[0], Popularity().fit(without_u0).counts_)
    blend = Blend({"ease": lambda: EASE(l2=5.0), "knn": lambda: ItemKNN(neighbours=5)}).fit(train)
    assert blend.score([0, 1]).shape == (2, len(inter.item_ids))
    ranker = LearnedRanker({"ease": lambda: EASE(l2=5.0), "knn": lambda: ItemKNN(neighbours=5)},
                           n_candidates=10, n_estimators=10).fit(train)  # fmt: skip
    s = ranker.score([0, 1])
    assert s.shape == (2, len(inter.item_ids)) and np.isfinite(s).all()
    assert set(ranker.importances()) == {"ease_z", "ease_rank", "knn_z", "knn_rank"}
