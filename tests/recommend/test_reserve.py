"""Reserved slots: a followed bird's fresh item reaches the first k whatever the ranker
thinks of the followed channel, through the surface's filters, and nothing else moves."""

from __future__ import annotations

import pytest
from test_pipeline import checkerboard

from roost.recommend import surfaces
from roost.recommend.channels import Followed, Popular
from roost.recommend.context import RecContext
from roost.recommend.filters import Blocked, Seen
from roost.recommend.pipeline import Pipeline
from roost.recommend.rankers import Blend
from roost.recommend.reserve import Reserve
from roost.types import RoostError

NOW = 10**6  # the checkerboard's newest item


def ctx_with_new_flits() -> RecContext:
    c = RecContext.from_catalog(checkerboard())
    c.add_item("flit-new", title="hello", author="robin", created_at=NOW)
    c.add_item("flit-old", title="old news", author="robin", created_at=NOW - 40 * 86_400)
    c.add_item("flit-mine", title="my own", author="u0", created_at=NOW)
    return c


def pipe(reserve=(), filters=(Seen(),)) -> Pipeline:
    # A ranker that learned nothing for the followed channel: its weight is zero.
    ranker = Blend({"followed": 0.0, "popular": 1.0})
    return Pipeline([Popular(), Followed()], list(filters), ranker, reserve=reserve)


def ids(c, p, user="u0", k=3):
    return [r.id for r in p.fit(c).recommend(c, user, k=k).items]


def test_without_a_reservation_the_ranker_buries_the_new_flit():
    c = ctx_with_new_flits()
    assert "flit-new" not in ids(c, pipe())


def test_a_reservation_lifts_fresh_followed_and_own_flits_newest_first():
    c = ctx_with_new_flits()
    plain = ids(c, pipe())
    got = ids(c, pipe([Reserve("followed", slots=2, max_age_days=3)]))
    assert set(got[:2]) == {"flit-new", "flit-mine"}  # a followed bird's and one's own
    assert got[2] == plain[0]  # the rest keep the ranker's order
    assert "flit-old" not in got  # older than max_age_days: not lifted


def test_slots_cap_what_is_lifted_and_the_rest_keep_their_order():
    c = ctx_with_new_flits()
    one = ids(c, pipe([Reserve("followed", slots=1, max_age_days=3)]))
    assert len({"flit-new", "flit-mine"} & set(one)) == 1
    # with a long list both are in it anyway; reserved, they come first
    long_plain = ids(c, pipe(), k=30)
    got = ids(c, pipe([Reserve("followed", 2, 3.0)]), k=30)
    assert {"flit-new", "flit-mine"} <= set(long_plain)
    assert set(got[:2]) == {"flit-new", "flit-mine"}
    assert got[2:] == [i for i in long_plain if i not in got[:2]]


def test_reserved_items_pass_the_filters_first():
    c = ctx_with_new_flits()
    c.add_event("u0", "flit-new", "like")  # seen
    got = ids(c, pipe([Reserve("followed", 2, 3.0)], [Seen(), Blocked(items=["flit-mine"])]))
    assert "flit-new" not in got and "flit-mine" not in got


def test_surfaces_declare_reservations_strictly(tmp_path):
    home = surfaces.default()["home"]
    assert home.reserve == (Reserve("followed", 2, 3.0),)
    body = '[home]\n[[home.channels]]\nkind = "popular"\n[[home.reserve]]\n'
    for extra, needle in [
        ('channel = "followed"', "not a channel of this surface"),
        ('channel = "popular"\nslots = 0', "slots"),
        ('channel = "popular"\nmax_age_days = "soon"', "max_age_days"),
        ('channel = "popular"\nwhen = 1', "unknown key 'when'"),
    ]:
        p = tmp_path / "surfaces.toml"
        p.write_text(body + extra + "\n")
        with pytest.raises(RoostError, match=needle):
            surfaces.load(p)
