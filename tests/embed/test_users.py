"""User vectors from item vectors: mean, recency-weighted, PinnerSage multi-vectors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import roost.embed.graph
import roost.embed.item2vec
import roost.embed.mf
import roost.embed.users
from roost.data.frames import Catalog, Interactions
from roost.embed.item2vec import Item2Vec
from roost.embed.users import (
    mean_user_vectors,
    pinnersage_user_vectors,
    recency_user_vectors,
    user_vectors,
)
from roost.types import EmbeddingSet, RoostError, UnknownIdError

DAY = 86_400


def item_set(ids, vectors, metric="cosine") -> EmbeddingSet:
    return EmbeddingSet(
        ids=np.asarray(ids, dtype=object), vectors=np.asarray(vectors, np.float32),
        method="test", params={}, fingerprint="fp", metric=metric,
    )


@pytest.fixture
def axes() -> EmbeddingSet:
    """Items a1, a2 near the x axis, b1, b2 near the y axis, c on z."""
    return item_set(
        ["a1", "a2", "b1", "b2", "c"],
        [[1, 0.1, 0], [1, -0.1, 0], [0.1, 1, 0], [-0.1, 1, 0], [0, 0, 1]],
    )


def test_mean_is_the_event_average(axes):
    inter = Interactions.from_arrays(["u", "u", "u", "v"], ["a1", "a1", "b1", "c"])
    s = mean_user_vectors(axes, inter)
    assert list(s.ids) == ["u", "v"] and s.kind == "user" and s.metric == "cosine"
    assert np.allclose(s.vectors[0], (2 * axes.vectors[0] + axes.vectors[2]) / 3)
    assert np.allclose(s.vectors[1], [0, 0, 1]) and s.vectors.dtype == np.float32


def test_recency_halves_per_half_life_from_the_latest_event(axes):
    inter = Interactions.from_arrays(["u", "u"], ["a1", "b1"], ts=[0, 10 * DAY])
    s = recency_user_vectors(axes, inter, half_life_s=10 * DAY)
    assert np.allclose(s.vectors[0], (0.5 * axes.vectors[0] + axes.vectors[2]) / 1.5)
    later = recency_user_vectors(axes, inter, half_life_s=10 * DAY, now=20 * DAY)
    assert np.allclose(later.vectors[0], s.vectors[0])  # both weights halve: same mean
    assert s.params["user_pooling"]["pooling"] == "recency"
    assert s.fingerprint != mean_user_vectors(axes, inter).fingerprint


def test_events_on_items_without_vectors_are_skipped_and_counted(axes):
    inter = Interactions.from_arrays(["u", "u", "w"], ["a1", "zz", "zz"])
    s = mean_user_vectors(axes, inter)
    assert list(s.ids) == ["u"] and s.extra["events_skipped"] == 2
    assert np.allclose(s.vectors[0], axes.vectors[0])


def test_bad_inputs_are_clear_errors(axes):
    inter = Interactions.from_arrays(["u"], ["a1"])
    users = mean_user_vectors(axes, inter)
    with pytest.raises(RoostError, match="kind 'user'"):
        mean_user_vectors(users, inter)
    with pytest.raises(RoostError, match="half_life_s"):
        recency_user_vectors(axes, inter, half_life_s=0)
    with pytest.raises(RoostError, match="unknown pooling"):
        user_vectors(axes, inter, pooling="max")
    with pytest.raises(RoostError, match="linkage_method"):
        pinnersage_user_vectors(axes, inter, linkage_method="single")
    with pytest.raises(RoostError, match="top_k"):
        pinnersage_user_vectors(axes, inter, top_k=0)


def test_pooling_registry_dispatches(axes):
    inter = Interactions.from_arrays(["u", "u"], ["a1", "c"], ts=[0, 5])
    assert np.array_equal(
        user_vectors(axes, inter, "recency", half_life_s=5).vectors,
        recency_user_vectors(axes, inter, half_life_s=5).vectors,
    )


@pytest.mark.parametrize("method", ["ward", "average"])
def test_pinnersage_finds_the_users_interests_by_importance(axes, method):
    # u: three x-axis events (two old), two recent y-axis events, one z event long ago
    inter = Interactions.from_arrays(
        ["u"] * 6 + ["v"],
        ["c", "a1", "a2", "b1", "b2", "a1", "c"],
        ts=[0, 50 * DAY, 50 * DAY, 99 * DAY, 100 * DAY, 100 * DAY, 5],
    )
    thr = 1.0 if method == "ward" else 0.5
    m = pinnersage_user_vectors(
        axes, inter, half_life_s=10 * DAY, linkage_method=method, distance_threshold=thr
    )
    u = m["u"]
    assert len(m) == 2 and "u" in m and "zz" not in m
    assert [x.medoid_id for x in u] == ["b1", "a1", "c"]
    imp = [x.importance for x in u]
    assert imp == sorted(imp, reverse=True)
    assert np.isclose(imp[0], 1 + 2 ** -0.1) and np.isclose(imp[1], 1 + 2 * 2**-5)
    assert np.array_equal(u[0].vector, axes.vectors[2])  # medoids are the items' own vectors
    assert [x.medoid_id for x in m["v"]] == ["c"]
    assert len(pinnersage_user_vectors(axes, inter, top_k=1)["u"]) == 1
    # only the last 2 events (b2 and a1, both at day 100)
    recent = pinnersage_user_vectors(axes, inter, last_n=2, half_life_s=10 * DAY)
    assert sorted(x.medoid_id for x in recent["u"]) == ["a1", "b2"]
    with pytest.raises(UnknownIdError):
        m["zz"]


def test_pinnersage_medoid_is_the_central_member():
    s = item_set(["l", "m", "r"], [[1, -0.2], [1, 0.0], [1, 0.25]])
    inter = Interactions.from_arrays(["u"] * 3, ["l", "r", "m"])
    assert [x.medoid_id for x in pinnersage_user_vectors(s, inter)["u"]] == ["m"]


def test_pinnersage_empty_input(axes):
    m = pinnersage_user_vectors(axes, Interactions.from_arrays([], [], item_ids=axes.ids))
    assert len(m) == 0 and m.vectors.shape == (0, 3)


histories = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 7), st.integers(0, 100 * DAY)),
    min_size=1, max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(histories, st.integers(1, 6), st.integers(1, 4))
def test_pinnersage_invariants(events, last_n, top_k):
    rng = np.random.default_rng(len(events))
    s = item_set([f"i{j}" for j in range(8)], rng.standard_normal((8, 4)))
    users, items, ts = zip(*events, strict=True)
    inter = Interactions.from_arrays(
        [f"u{u}" for u in users], [f"i{i}" for i in items], ts=ts, item_ids=s.ids
    )
    m = pinnersage_user_vectors(s, inter, last_n=last_n, top_k=top_k, half_life_s=30 * DAY)
    assert sorted(m.user_ids) == sorted(set(inter.user_ids))
    for k, uid in enumerate(inter.user_ids):
        got = m[uid]
        mine = np.flatnonzero(inter.users == k)
        recent = mine[np.lexsort((inter.ts[mine],))][-last_n:]
        recent_ids = {str(inter.item_ids[j]) for j in inter.items[recent]}
        assert 1 <= len(got) <= min(top_k, len(recent_ids))
        assert len({x.medoid_id for x in got}) == len(got)
        assert {x.medoid_id for x in got} <= recent_ids
        imp = np.array([x.importance for x in got])
        assert (np.diff(imp) <= 0).all() and (imp > 0).all() and imp.sum() <= len(recent) + 1e-5


@settings(max_examples=40, deadline=None)
@given(histories)
def test_mean_of_one_hot_items_is_the_item_histogram(events):
    s = item_set([f"i{j}" for j in range(8)], np.eye(8))
    users, items, ts = zip(*events, strict=True)
    inter = Interactions.from_arrays([f"u{u}" for u in users], [f"i{i}" for i in items], ts=ts)
    out = dict(zip(mean_user_vectors(s, inter).ids, mean_user_vectors(s, inter).vectors, strict=True))
    for uid in set(f"u{u}" for u in users):
        mine = [i for u, i, _ in events if f"u{u}" == uid]
        expected = np.bincount(mine, minlength=8) / len(mine)
        assert np.allclose(out[uid], expected, atol=1e-6)


def test_item2vec_users_sit_with_their_group():
    rng = np.random.default_rng(0)
    u, i = [], []
    for k in range(40):
        for j in rng.permutation(10)[:8] + (k % 2) * 10:
            u.append(f"u{k}")
            i.append(f"i{j}")
    c = Catalog.from_pydict(
        items={"id": [f"i{j}" for j in range(20)]},
        events={"user_id": u, "item_id": i, "kind": ["view"] * len(u),
                "value": [1.0] * len(u), "ts": list(range(len(u)))},
    )
    items = Item2Vec(embedding_dim=8, sample=0.0, epochs=20).fit(c).embedding_set(c)
    iv = items.vectors / np.linalg.norm(items.vectors, axis=1, keepdims=True)
    for pooled in (mean_user_vectors(items, c.interactions()),
                   recency_user_vectors(items, c.interactions(), half_life_s=50)):
        scores = pooled.vectors @ iv.T
        group_of_user = np.array([int(x[1:]) % 2 for x in pooled.ids])
        assert (np.argmax(scores, axis=1) // 10 == group_of_user).all()


@pytest.mark.parametrize(
    "module",
    [roost.embed.users, roost.embed.item2vec, roost.embed.graph, roost.embed.mf],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
