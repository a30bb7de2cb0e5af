"""Conformance: every channel, filter and ranker in the registries keeps the contracts."""

from __future__ import annotations

import math

import pytest
from boards import served_board

from roost.recommend.base import Shortlist
from roost.recommend.context import RecContext
from roost.recommend.filters import FILTERS, Category, FieldEquals, MaxAge, Seen, from_spec
from roost.recommend.pipeline import Pipeline
from roost.recommend.rankers import RANKERS
from roost.recommend.surfaces import ALL_CHANNELS, default
from roost.recommend.training import train_ranker
from roost.recommend.vector_channels import VECTOR_CHANNELS


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    catalog, spaces = served_board(tmp_path_factory.mktemp("conf") / "home")
    return catalog, RecContext.from_catalog(catalog), spaces


def make_channel(name, spaces):
    klass = ALL_CHANNELS[name]
    return klass(spaces["collab"]) if name in VECTOR_CHANNELS else klass()


@pytest.mark.parametrize("name", sorted(ALL_CHANNELS))
@pytest.mark.parametrize("user", ["u1", "u17", "nobody-at-all"])
def test_channel_contract(served, name, user):
    _, ctx, spaces = served
    ch = make_channel(name, spaces).fit(ctx)
    out = ch.candidates(ctx, user, 5)
    assert isinstance(out, Shortlist | list) and len(out) <= 5
    rows = [r for r, _, _ in out]
    assert len(set(rows)) == len(rows)
    assert all(isinstance(r, int) and 0 <= r < len(ctx) for r in rows)
    assert not set(rows) & ctx.seen(user)
    assert all(math.isfinite(s) for _, s, _ in out)
    scores = [s for _, s, _ in out]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(w, dict) for _, _, w in out)
    if hasattr(ch, "version"):
        assert ch.version == "collab" and ch.version_id.startswith("v")


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_contract(served, name):
    _, ctx, _ = served
    f = {
        "category": lambda: Category(allow=["birds"]),
        "max_age": lambda: MaxAge(5),
        "field": lambda: FieldEquals("lang", ["en"]),
    }.get(name, FILTERS[name])()
    rows = list(range(len(ctx)))
    keep = f.keep(ctx, "u1", rows)
    assert len(keep) == len(rows) and all(isinstance(k, bool) for k in keep)
    assert f.keep(ctx, "u1", []) == []
    assert len(f.keep(ctx, "nobody", rows)) == len(rows)


@pytest.fixture(scope="module")
def rankers(served):
    catalog, _, spaces = served
    out = {name: klass() for name, klass in RANKERS.items()}
    for model in ("lightgbm", "logistic"):
        r, _ = train_ranker(
            catalog,
            default()["home"],
            {},
            collab_params={"factors": 8, "iterations": 5},
            model=model,
            holdout=0.3,
        )
        out[f"learned-{model}"] = r.attach(spaces)
    return out


@pytest.mark.parametrize("name", ["blend", "learned-lightgbm", "learned-logistic"])
@pytest.mark.parametrize("user", ["u1", "nobody-at-all"])
def test_ranker_contract(served, rankers, name, user):
    _, ctx, spaces = served
    ranker = rankers[name]
    channels = [make_channel(n, spaces) for n in sorted(ALL_CHANNELS)]
    for ch in channels:
        ch.name = {
            "item_to_item": "item_to_item:collab",
            "user_to_item": "user_to_item:collab",
            "cluster": "cluster:collab",
        }.get(ch.name, ch.name)
    pipe = Pipeline(channels, [Seen()], ranker).fit(ctx)
    pool, _ = pipe.candidates(ctx, user)
    assert pool
    ranker.score(ctx, user, pool)
    assert all(math.isfinite(c.final) for c in pool)
    res = pipe.recommend(ctx, user, k=7)
    assert len(res.items) == 7 and len({r.id for r in res.items}) == 7
    if name.startswith("learned"):
        assert any("ranker_top_features" in w for r in res.items for w in r.why)


def test_from_spec_builds_each_rule(served):
    _, ctx, _ = served
    rules = from_spec(
        {
            "category": ["birds"],
            "exclude_category": ["cars"],
            "max_age_days": 1000,
            "exclude_items": ["a1"],
            "exclude_authors": ["robin"],
            "fields": {"lang": "en"},
            "exclude_fields": {"unsafe": True},
        }
    )
    rows = list(range(len(ctx)))
    for f in rules:
        rows = [r for r, k in zip(rows, f.keep(ctx, "", rows), strict=True) if k]
    ids = {ctx.item_ids[r] for r in rows}
    assert ids and all(i.startswith("a") for i in ids)
    assert not ids & {"a0", "a1", "a9"}
