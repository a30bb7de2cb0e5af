"""The array paths of a request agree with the plain per-candidate definitions, and the
caches that serve them follow live events."""

from __future__ import annotations

import numpy as np
import pytest
from boards import served_board

from roost.data.frames import Catalog
from roost.recommend.base import Candidate, Pool
from roost.recommend.channels import Popular
from roost.recommend.context import RecContext
from roost.recommend.learned import Features
from roost.recommend.rankers import Blend
from roost.recommend.vector_channels import ClusterRecall


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    return served_board(tmp_path_factory.mktemp("fast") / "home")


def _found(seed: int, n_items: int = 40):
    rng = np.random.default_rng(seed)
    return [
        (
            f"ch{c}",
            [
                (int(r), float(rng.normal()), {"n": j})
                for j, r in enumerate(rng.integers(0, n_items, rng.integers(0, 30)))
            ],
        )  # fmt: skip
        for c in range(4)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_pool_merge_matches_candidate_merge(seed):
    found = _found(seed)
    deleted = np.zeros(40, bool)
    deleted[::7] = True
    want: dict[int, Candidate] = {}
    for name, hits in found:
        for r, s, w in hits:
            if not deleted[r]:
                want.setdefault(r, Candidate(r)).add(name, s, w)
    pool = Pool.merge(found, drop=deleted)
    assert pool.rows.tolist() == list(want)
    for j, c in enumerate(want.values()):
        assert pool[j].scores == c.scores
        assert pool[j].why == c.why
    kept = pool.take(np.arange(len(pool)) % 2 == 0)
    assert [kept[j].why for j in range(len(kept))] == [c.why for c in list(want.values())[::2]]


def test_blend_on_a_pool_matches_its_definition():
    pool = Pool.merge(_found(3))
    weights = {"ch0": 2.0, "ch2": 0.5}
    cands = [pool[j] for j in range(len(pool))]
    best = {}
    for c in cands:
        for ch, s in c.scores.items():
            best[ch] = max(best.get(ch, 0.0), abs(s))
    want = [sum(weights.get(ch, 1.0) * s / best[ch] for ch, s in c.scores.items()) for c in cands]
    Blend(weights).score(None, "", pool)
    np.testing.assert_allclose(pool.final, want)
    Blend(weights).score(None, "", cands)  # a plain list of candidates still works
    np.testing.assert_allclose([c.final for c in cands], want)


def test_category_and_tag_match_count_liked_items():
    cat = Catalog.from_pydict(
        items={"id": ["a", "b", "c", "d"], "category": ["x", "x", None, "y"],
               "tags": [["t1", "t2"], ["t2"], ["t3", "t3"], []]},
        events={"user_id": ["u", "u"], "item_id": ["a", "c"], "kind": ["like", "like"],
                "ts": [1, 2]},
    )  # fmt: skip
    ctx = RecContext.from_catalog(cat)
    pool = Pool([1, 2, 3], ["p"], np.ones((3, 1)))
    x = Features(["p"], []).matrix(ctx, "u", pool, {})
    names = Features(["p"], []).names
    assert x[:, names.index("category_match")].tolist() == [0.5, 0.0, 0.0]
    assert x[:, names.index("tag_match")].tolist() == [0.5, 0.5, 0.0]
    ctx.add_item("b", tags=["t9"], category="z")  # metadata changes reach the next request
    ctx.add_event("u", "b", "like", ts=3)
    x = Features(["p"], []).matrix(ctx, "u", pool, {})
    assert x[0, names.index("category_match")] == pytest.approx(1 / 3)


def test_liked_and_seen_follow_live_events(served):
    catalog, _ = served
    ctx = RecContext.from_catalog(catalog)
    before = ctx.liked("u1", 50)
    assert ctx.seen("u1") == set(before) | ctx.seen("u1")
    new = next(r for r in range(len(ctx)) if r not in ctx.seen("u1"))
    ctx.add_event("u1", ctx.item_ids[new], "like", ts=ctx.now + 10)
    assert ctx.liked("u1", 50)[0] == new and new in ctx.seen("u1")


def test_popular_and_cluster_rankings_follow_live_events(served):
    catalog, spaces = served
    ctx = RecContext.from_catalog(catalog)
    pop = Popular()
    first = pop.candidates(ctx, "nobody", 3)
    tail = next(r for r in range(len(ctx)) if r not in {h[0] for h in first})
    for _ in range(50):
        ctx.add_event("someone", ctx.item_ids[tail], "share", ts=ctx.now)
    assert pop.candidates(ctx, "nobody", 3)[0][0] == tail
    cl = ClusterRecall(spaces["collab"], n_clusters=2).fit(ctx)
    c = cl.cluster_of(ctx, "u1")
    other = next(u for u, k in cl.assign_.items() if k == c and u != "u1")
    got = cl.candidates(ctx, other, 5)
    row = next(r for r in range(len(ctx)) if r not in {g[0] for g in got}
               and r not in ctx.seen(other))  # fmt: skip
    cl.observe(ctx, "u1", row, 1e6)
    assert cl.candidates(ctx, other, 5)[0][0] == row


def test_compiled_forest_matches_lightgbm():
    lgb = pytest.importorskip("lightgbm")
    pytest.importorskip("numba")
    from roost.recommend.forest import compile_booster

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = 0.0
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    model = lgb.LGBMRanker(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    booster = model.fit(x, y, group=[60] * 10).booster_
    forest = compile_booster(booster, x.mean(0))
    assert forest is not None
    probe = rng.normal(size=(200, 6)).astype(np.float32)
    np.testing.assert_allclose(forest.predict(probe), booster.predict(probe), rtol=1e-9)
    x[::3, 0] = np.nan  # missing-value splits are left to LightGBM itself
    nan_booster = model.fit(x, y, group=[60] * 10).booster_
    assert compile_booster(nan_booster) is None
