"""Channels answer with array shortlists; these agree with the per-candidate definitions
they replaced (tuples, id lookups, a scan per candidate)."""

from __future__ import annotations

import numpy as np
import pytest
from boards import make_home, served_board

from roost.recommend.base import Pool, Shortlist
from roost.recommend.channels import Followed, Fresh, Popular
from roost.recommend.context import RecContext
from roost.recommend.rankers import mmr_order
from roost.recommend.serving import open_spaces
from roost.recommend.vector_channels import ClusterRecall, UserToItem
from roost.store import Home
from roost.store.versions import VersionStore


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    return served_board(tmp_path_factory.mktemp("short") / "home")


def test_a_shortlist_reads_as_its_tuples():
    s = Shortlist([4, 2], [0.9, 0.5], {"because": np.array(["a", "b"], object),
                                       "similarity": np.array([0.12345, 0.5]), "v": "x"},
                  {"similarity": 3})  # fmt: skip
    want = [(4, 0.9, {"because": "a", "similarity": 0.123, "v": "x"}),
            (2, 0.5, {"because": "b", "similarity": 0.5, "v": "x"})]  # fmt: skip
    assert list(s) == want and s == want and s[1:] == want[1:]
    assert type(s[0][0]) is int and type(s[0][2]["similarity"]) is float
    assert Shortlist([], []) == [] and Shortlist.of(want) == s
    s.reason(0)["v"] = "changed"  # every read is a new dict
    assert s[0][2]["v"] == "x"


def test_pool_merge_reads_shortlists_like_tuple_lists():
    rng = np.random.default_rng(0)
    found = []
    for c in range(3):
        rows = rng.permutation(30)[: rng.integers(1, 20)]
        scores = np.sort(rng.normal(size=len(rows)))[::-1]
        found.append((f"ch{c}", Shortlist(rows, scores, {"n": np.arange(len(rows)), "c": c})))
    tuples = [(name, list(s)) for name, s in found]
    a, b = Pool.merge(found), Pool.merge(tuples)
    assert a.rows.tolist() == b.rows.tolist()
    np.testing.assert_array_equal(a.scores, b.scores)
    assert [a.why(j) for j in range(len(a))] == [b.why(j) for j in range(len(b))]


def _first_reference(order, k, seen):
    return [int(r) for r in order if int(r) not in seen][:k]


@pytest.mark.parametrize("user", ["u1", "u17", "nobody"])
def test_popular_fresh_followed_skip_seen_like_a_loop(served, user):
    catalog, _ = served
    ctx = RecContext.from_catalog(catalog)
    seen = ctx.seen(user)
    pop = ctx.popularity
    order = sorted((r for r in range(len(ctx)) if pop[r] > 0), key=lambda r: -pop[r])
    got = Popular().candidates(ctx, user, 7)
    assert [r for r, _, _ in got] == _first_reference(order, 7, seen)
    age = ctx.age_days(np.arange(len(ctx)))
    young = sorted((r for r in range(len(ctx)) if age[r] <= 1e9), key=lambda r: age[r])
    got = Fresh(max_age_days=1e9).candidates(ctx, user, 7)
    assert [r for r, _, _ in got] == _first_reference(young, 7, seen)
    assert [w["age_days"] for _, _, w in got] == [round(float(age[r]), 1) for r, _, _ in got]
    mine = sorted({r for a in ctx.follows.get(user, ()) for r in ctx.by_author.get(a, ())})
    by_age = sorted(mine, key=lambda r: age[r])
    got = Followed().candidates(ctx, user, 3)
    assert [r for r, _, _ in got] == _first_reference(by_age, 3, seen)


def test_user_to_item_matches_search_by_id_with_live_items(served, tmp_path):
    catalog, _ = served
    home = Home.at(make_home(tmp_path / "home"))
    with VersionStore(home, create=False) as vs:
        spaces, _ = open_spaces(vs, home, {"collab"})  # its own: it gains an item
    ctx = RecContext.from_catalog(catalog)
    space = spaces["collab"]
    user = "u1"
    ctx.add_item("brand-new", title="new")
    space.add_item("brand-new", space.user_vector(user, []) * 3)  # the user's best match
    ch = UserToItem(space)
    recent = [ctx.item_ids[r] for r in ctx.liked(user, ch.recent)]
    v = space.user_vector(user, recent)
    seen = ctx.seen(user)
    want = []
    for iid, s in space.search(v[None, :], 6 + len(seen))[0]:
        r = ctx.index.get(iid)
        if r is not None and r not in seen and np.isfinite(s):
            want.append((r, s))
    got = ch.candidates(ctx, user, 6)
    assert [r for r, _, _ in got] == [r for r, _ in want[:6]]
    assert [s for _, s, _ in got] == pytest.approx([s for _, s in want[:6]])
    assert got[0][0] == ctx.index["brand-new"]


def test_cluster_recall_skips_seen(served):
    catalog, spaces = served
    ctx = RecContext.from_catalog(catalog)
    cl = ClusterRecall(spaces["collab"], n_clusters=2).fit(ctx)
    for user in ("u1", "u2", "u3"):
        c = cl.cluster_of(ctx, user)
        rows, _ = cl._ranked(c)
        got = cl.candidates(ctx, user, 5)
        assert [r for r, _, _ in got] == _first_reference(rows, 5, ctx.seen(user))


def _mmr_reference(rel, vectors, k, lam):
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    sims = vectors @ vectors.T
    picked, max_sim, remaining = [], np.full(len(rel), -np.inf), np.ones(len(rel), bool)
    for _ in range(min(k, len(rel))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        score = np.where(remaining, lam * rel - (1 - lam) * penalty, -np.inf)
        j = int(np.argmax(score))
        picked.append(j)
        remaining[j] = False
        max_sim = np.maximum(max_sim, sims[j])
    return picked


@pytest.mark.parametrize("seed", range(6))
def test_mmr_order_matches_its_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    vectors = rng.normal(size=(n, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[rng.random(n) < 0.1] = 0.0  # items without a vector
    rel = np.round(rng.normal(size=n), 1)  # ties
    for lam in (0.0, 0.3, 0.85):
        want = _mmr_reference(rel, vectors, 10, lam)
        assert mmr_order(rel, vectors, 10, lam).tolist() == want


def test_unit_rows_match_unit_vectors(served):
    catalog, spaces = served
    ctx = RecContext.from_catalog(catalog)
    space = spaces["collab"]
    ctx.add_item("not-in-the-version", title="x")
    rows = np.array([0, 3, len(ctx) - 1, 5])
    want = space.unit_vectors([ctx.item_ids[r] for r in rows])
    np.testing.assert_allclose(space.unit_rows(ctx, rows), want, rtol=1e-6, atol=1e-7)
    assert not space.unit_rows(ctx, rows)[2].any()


@pytest.mark.parametrize("user", ["u1", "u2", "u17", "nobody"])
def test_cooccurrence_matches_scipy_sums(served, user):
    from roost.recommend.channels import CoOccurrence

    catalog, _ = served
    ctx = RecContext.from_catalog(catalog)
    ch = CoOccurrence().fit(ctx)
    liked = ctx.liked(user, ch.recent)
    got = ch.candidates(ctx, user, 8)
    if not liked:
        assert got == []
        return
    sums = np.asarray(ch.sim_[liked].sum(axis=0)).ravel()
    seen = ctx.seen(user)
    order = sorted((r for r in range(len(ctx)) if sums[r] > 0 and r not in seen),
                   key=lambda r: (-sums[r], r))[:8]  # fmt: skip
    assert [r for r, _, _ in got] == order
    assert [s for _, s, _ in got] == pytest.approx([float(sums[r]) for r in order])
    for r, _, why in got:  # the liked item behind it is the most similar one
        col = ch.sim_[liked][:, r].toarray().ravel()
        assert why["similarity"] == round(float(col.max()), 3)
        assert why["because"] == ctx.item_ids[liked[int(col.argmax())]]


def test_cooccurrence_after_a_live_item_the_user_saw(served):
    from roost.recommend.channels import CoOccurrence

    catalog, _ = served
    ctx = RecContext.from_catalog(catalog)
    ch = CoOccurrence().fit(ctx)
    before = ch.candidates(ctx, "u1", 5)
    ctx.add_item("posted-later", title="new")  # a row beyond the fitted matrix
    ctx.add_event("u1", "posted-later", "view", ts=ctx.now + 1)
    assert [r for r, _, _ in ch.candidates(ctx, "u1", 5)] == [r for r, _, _ in before]
