"""The staged recommender on a checkerboard catalog with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.data.frames import Catalog
from roost.recommend.channels import CHANNELS, CoOccurrence, Followed, Fresh, Popular
from roost.recommend.context import RecContext
from roost.recommend.filters import (
    FILTERS,
    Blocked,
    Category,
    FieldEquals,
    InStock,
    MaxAge,
    Seen,
    Unsafe,
)
from roost.recommend.pipeline import STAGES, Pipeline


def checkerboard(n_items=20, n_users=20, seed=0) -> Catalog:
    """Users u0..u9 consume items a*, users u10..u19 items b*; some fields for filters."""
    rng = np.random.default_rng(seed)
    items = [f"a{i}" for i in range(n_items // 2)] + [f"b{i}" for i in range(n_items // 2)]
    users, its, ts = [], [], []
    for u in range(n_users):
        group = "a" if u < n_users // 2 else "b"
        for j in rng.choice(n_items // 2, 6, replace=False):
            users.append(f"u{u}")
            its.append(f"{group}{j}")
            ts.append(int(rng.integers(0, 10**6)))
    fields = [
        '{"unsafe": true}' if i == "a9" else ('{"in_stock": false}' if i == "b9" else None)
        for i in items
    ]
    return Catalog.from_pydict(
        items={
            "id": items,
            "title": [f"Title {i}" for i in items],
            "category": ["A" if i[0] == "a" else "B" for i in items],
            "tags": [["alpha", "common"] if i[0] == "a" else ["beta", "common"] for i in items],
            "author": ["robin" if i in ("a0", "b0") else "wren" for i in items],
            "created_at": [10**6 - k * 86_400 for k in range(len(items))],
            "fields": fields,
        },
        events={
            "user_id": users,
            "item_id": its,
            "kind": ["like"] * len(users),
            "value": [1.0] * len(users),
            "ts": ts,
        },
        follows={"follower": ["u0"], "followee": ["robin"], "ts": [0]},
    )


@pytest.fixture(scope="module")
def ctx():
    return RecContext.from_catalog(checkerboard())


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channel_conformance(ctx, name):
    ch = CHANNELS[name]().fit(ctx)
    out = ch.candidates(ctx, "u0", 5)
    assert len(out) <= 5
    rows = [r for r, _, _ in out]
    assert len(set(rows)) == len(rows)
    assert all(0 <= r < len(ctx) for r in rows)
    assert not set(rows) & ctx.seen("u0")
    scores = [s for _, s, _ in out]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(w, dict) for _, _, w in out)
    assert ch.candidates(ctx, "nobody", 5) == [] or name in ("popular", "fresh")


def test_cooccurrence_stays_in_the_users_group(ctx):
    ch = CoOccurrence().fit(ctx)
    for u in ("u1", "u12"):
        group = "a" if int(u[1:]) < 10 else "b"
        out = ch.candidates(ctx, u, 3)
        assert out and all(ctx.item_ids[r].startswith(group) for r, _, _ in out)


def test_followed_finds_the_followed_authors_items(ctx):
    out = Followed().candidates(ctx, "u0", 10)
    assert {ctx.item_ids[r] for r, _, _ in out} <= {"a0", "b0"}
    assert all(w["author"] == "robin" for _, _, w in out)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_conformance(ctx, name):
    f = {
        "category": lambda: Category(allow=["A"]),
        "max_age": lambda: MaxAge(5),
        "field": lambda: FieldEquals("unsafe", [True], negate=True),
    }.get(name, FILTERS[name])()
    rows = list(range(len(ctx)))
    keep = f.keep(ctx, "u0", rows)
    assert len(keep) == len(rows) and all(isinstance(k, bool) for k in keep)
    assert f.keep(ctx, "u0", []) == []


def test_filters_known_answers(ctx):
    rows = list(range(len(ctx)))
    ids = ctx.item_ids
    assert [ids[r] for r, k in zip(rows, Unsafe().keep(ctx, "u0", rows), strict=True) if not k] == [
        "a9"
    ]
    assert [
        ids[r] for r, k in zip(rows, InStock().keep(ctx, "u0", rows), strict=True) if not k
    ] == ["b9"]
    assert sum(MaxAge(5).keep(ctx, "u0", rows)) == 6
    assert not any(Blocked(authors=["wren"]).keep(ctx, "u0", [ctx.index["a3"]]))
    assert sum(Seen().keep(ctx, "u0", rows)) == len(rows) - len(ctx.seen("u0"))


def test_pipeline_recommends_in_group_and_explains(ctx):
    p = Pipeline([CoOccurrence(), Popular(), Followed()], [Seen(), Unsafe()]).fit(ctx)
    res = p.recommend(ctx, "u3", k=2)  # u3 has seen 6 of 10 group items; a9 is unsafe
    assert len(res.items) == 2
    assert set(res.timings) == set(STAGES)
    assert all(r.id.startswith("a") for r in res.items)
    assert all(r.why and "channel" in r.why[0] for r in res.items)
    assert not {ctx.index[r.id] for r in res.items} & ctx.seen("u3")


def test_cold_user_gets_popular_and_fresh(ctx):
    p = Pipeline([CoOccurrence(), Popular(), Fresh(max_age_days=1000)], [Seen()]).fit(ctx)
    res = p.recommend(ctx, "brand-new-bird", k=5)
    assert len(res.items) == 5
    assert {w["channel"] for r in res.items for w in r.why} <= {"popular", "fresh"}


def test_live_event_is_filtered_at_once(ctx):
    c = RecContext.from_catalog(checkerboard())
    p = Pipeline([Popular()], [Seen()]).fit(c)
    first = p.recommend(c, "u5", k=3).items[0].id
    c.add_event("u5", first, "like")
    assert first not in [r.id for r in p.recommend(c, "u5", k=3).items]


def test_new_item_from_followed_author_shows_up():
    c = RecContext.from_catalog(checkerboard())
    c.add_item("flit-new", title="hello", author="robin")
    res = Pipeline([Followed()], [Seen()]).fit(c).recommend(c, "u0", k=3)
    assert res.items[0].id == "flit-new"


@settings(max_examples=30, deadline=None)
@given(
    st.sets(
        st.sampled_from([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]), max_size=12
    ),
    st.sampled_from(["u0", "u4", "u15", "ghost"]),
)
def test_no_filtered_item_ever_reaches_the_output(blocked, user):
    c = RecContext.from_catalog(checkerboard())
    p = Pipeline(
        [CoOccurrence(), Popular(), Fresh(1000), Followed()],
        [Seen(), Unsafe(), InStock(), Blocked(items=sorted(blocked))],
    ).fit(c)
    res = p.recommend(c, user, k=20)
    out = {r.id for r in res.items}
    assert not out & blocked
    assert not out & {"a9", "b9"}
    assert not {c.index[i] for i in out} & c.seen(user)
