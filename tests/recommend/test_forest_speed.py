"""The compiled forest and the ranker's fast features give the answers of their plain
definitions: LightGBM's own predictions, a tree walk written out in Python, predictions of
every held-out row in full, and one feature column per channel."""

from __future__ import annotations

import numpy as np
import pytest

from roost.recommend.base import Pool
from roost.recommend.context import RecContext
from roost.recommend.learned import Features, LearnedRanker

lgb = pytest.importorskip("lightgbm")
pytest.importorskip("numba")
from roost.recommend.forest import CompiledForest, compile_booster  # noqa: E402

N_FEATURES = 8  # the last one is constant: no tree splits on it


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(800, N_FEATURES)).astype(np.float32)
    x[:, 3] = rng.integers(0, 4, len(x))  # few distinct values: many rows sit on a threshold
    x[rng.random(x.shape) < 0.2] = 0.0
    x[:, -1] = 1.0
    y = (x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] > 0).astype(int)
    ranker = LearnedRanker(model="lightgbm", n_estimators=30, num_leaves=15, min_child_samples=5)
    ranker.fit(x, y, [40] * 20, Features(["c0", "c1"], []))
    assert ranker.forest_ is not None
    return ranker, x


def _walk(dump: dict, row: np.ndarray) -> float:
    """LightGBM's decision for plain ``<=`` splits: doubles compared, NaN read as 0,
    leaves summed in tree order."""
    s = 0.0
    for tree in dump["tree_info"]:
        node = tree["tree_structure"]
        while "split_index" in node:
            v = float(row[node["split_feature"]])
            v = 0.0 if v != v else v
            node = node["left_child"] if v <= node["threshold"] else node["right_child"]
        s += node["leaf_value"]
    return s


def _awkward_rows(dump: dict, x: np.ndarray, rng) -> np.ndarray:
    """Rows with NaN, infinities and values on, just under and just over thresholds."""
    rows = x[rng.integers(0, len(x), 120)].copy()
    thresholds = [
        (n["split_feature"], n["threshold"])
        for t in dump["tree_info"]
        for n in _splits(t["tree_structure"])
    ]
    for i, row in enumerate(rows):
        f, thr = thresholds[i % len(thresholds)]
        at = np.float32(thr)
        row[f] = [at, np.nextafter(at, np.float32(-np.inf)), np.nextafter(at, np.float32(np.inf))][
            i % 3
        ]
    rows[::7, 0] = np.nan
    rows[1::11, 1] = np.inf
    rows[2::13, 2] = -np.inf
    return rows


def _splits(node: dict):
    if "split_index" in node:
        yield node
        yield from _splits(node["left_child"])
        yield from _splits(node["right_child"])


def test_predictions_equal_the_tree_walk_and_lightgbm(trained):
    ranker, x = trained
    dump = ranker.booster_.dump_model()
    rng = np.random.default_rng(2)
    rows = np.vstack([x[:200], _awkward_rows(dump, x, rng)])
    want = np.array([_walk(dump, r) for r in rows])
    got = ranker.forest_.predict(rows)
    assert np.array_equal(got, want)  # bit for bit, float32 path
    assert np.array_equal(ranker.forest_.predict(rows.astype(np.float64)), want)
    assert np.array_equal(ranker.predict(rows), want)
    finite = np.isfinite(rows).all(1)  # LightGBM's own reading of infinities is its own
    lgb_pred = ranker.booster_.predict(rows[finite], num_threads=1)
    np.testing.assert_allclose(got[finite], lgb_pred, rtol=0, atol=1e-9)
    random = rng.normal(scale=2.0, size=(300, N_FEATURES))
    np.testing.assert_allclose(
        ranker.forest_.predict(random), ranker.booster_.predict(random, num_threads=1), atol=1e-9
    )
    assert ranker.forest_.predict(np.zeros((0, N_FEATURES), np.float32)).shape == (0,)


def test_contributions_equal_full_predictions_of_held_out_rows(trained):
    ranker, x = trained
    dump = ranker.booster_.dump_model()
    rows = _awkward_rows(dump, x, np.random.default_rng(3))[:40]
    rows[0] = ranker.baseline_  # every feature already at its mean: all contributions 0
    rows[1, 2] = ranker.baseline_[2]
    got = ranker.contributions(rows)
    # the definition: the score minus the score with the feature set to its training mean
    held = np.repeat(rows[:, None, :], N_FEATURES, axis=1)
    idx = np.arange(N_FEATURES)
    held[:, idx, idx] = ranker.baseline_
    full = ranker.forest_.predict(held.reshape(-1, N_FEATURES)).reshape(len(rows), N_FEATURES)
    want = ranker.forest_.predict(rows)[:, None] - full
    assert np.array_equal(got, want)
    walked = np.array(
        [[_walk(dump, r) - _walk(dump, h) for h in hs] for r, hs in zip(rows, held, strict=True)]
    )
    assert np.array_equal(got, walked)
    assert not got[0].any() and got[1, 2] == 0.0
    assert not got[:, -1].any()  # no tree reads the constant feature
    assert np.count_nonzero(got) > len(rows)  # the rows do move the score


def test_unsupported_thresholds_leave_scoring_to_lightgbm(trained):
    ranker, _ = trained
    dump = ranker.booster_.dump_model()
    assert CompiledForest.from_dump(dump) is not None
    next(_splits(dump["tree_info"][0]["tree_structure"]))["threshold"] = 1e300
    assert CompiledForest.from_dump(dump) is None
    assert compile_booster(ranker.booster_, ranker.baseline_) is not None


def _plain_channel_columns(feats: Features, pool: Pool) -> np.ndarray:
    cols = []
    for ch in feats.channels:
        s = pool.column(ch)
        top = np.abs(s).max() if len(pool) else 0.0
        cols.append(s / top if top > 0 else np.zeros(len(pool)))
    return np.array(cols, np.float32).T.reshape(len(pool), len(feats.channels))


@pytest.mark.parametrize("n", [0, 1, 9])
def test_channel_columns_equal_one_column_per_channel(n):
    rng = np.random.default_rng(n)
    ctx = RecContext.from_catalog(_catalog(12))
    scores = rng.normal(size=(n, 3))
    scores[rng.random(scores.shape) < 0.4] = np.nan
    if n:
        scores[:, 1] = np.nan  # found nothing: a column of zeros
    pool = Pool(rng.integers(0, 12, n), ["b", "a", "z"], scores)
    feats = Features(["a", "b", "missing", "z"], [])
    x = feats.matrix(ctx, "nobody", pool, {})
    assert np.array_equal(x[:, :4], _plain_channel_columns(feats, pool))
    assert x[:, 4].tolist() == (~np.isnan(scores)).sum(1).tolist()


def _catalog(n: int):
    from roost.data.frames import Catalog

    return Catalog.from_pydict(
        items={"id": [f"i{j}" for j in range(n)], "category": ["x"] * n, "tags": [[]] * n},
        events={"user_id": ["u"], "item_id": ["i0"], "kind": ["like"], "ts": [1]},
    )


def test_explain_keeps_the_nonzero_contributions_by_name(trained):
    from types import SimpleNamespace

    ranker, x = trained
    rows = x[:6].copy()
    rows[0] = ranker.baseline_
    rows[1, 0] = np.nan
    chosen = [SimpleNamespace(raw=r, features=None) for r in rows]
    chosen.append(SimpleNamespace(raw=None, features=None))  # not scored by the ranker
    ranker.explain(None, "u", chosen)
    names = ranker.features_.names
    contrib = ranker.contributions(rows)
    for c, row in zip(chosen, contrib, strict=False):
        assert c.features == {names[f]: float(row[f]) for f in np.flatnonzero(row)}
    assert chosen[0].features == {} and chosen[-1].features is None
    assert any(c.features for c in chosen)
