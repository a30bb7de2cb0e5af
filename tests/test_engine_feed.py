"""Two engines on one home, as two serving workers hold them: each applies the other's
writes from the change log before its next answer, on each backend."""

from __future__ import annotations

import shutil

import pytest

from roost.engine import Engine
from roost.store import Home
from roost.store.versions import VersionStore


@pytest.fixture
def pair(engine_home, tmp_path, backend, request):
    home = tmp_path / "home"
    shutil.copytree(engine_home, home)
    if backend == "postgresql":
        from roost.store.migrate import copy_home

        copy_home(Home.at(home), request.getfixturevalue("pg_server").new_database())
    a, b = Engine.open(home), Engine.open(home)
    for e in (a, b):
        e.follow_changes(poll=60)  # no background look during the test: only the per-request one
    yield home, a, b
    a.close()
    b.close()


def ids(result) -> list[str]:
    return [r.id for r in result.items]


def test_a_like_through_one_engine_leaves_the_others_next_answer(pair):
    home, a, b = pair
    user = next(u for u in b._state.ctx.histories)
    shown = ids(b.recommend(user, k=5))  # cached in B
    assert b.recommend(user, k=5, cache_only=True) is not None
    a.add_events([{"user_id": user, "item_id": shown[0], "kind": "like"}])
    assert b.recommend(user, k=5, cache_only=True) is None  # pending: the cache waits
    assert shown[0] not in ids(b.recommend(user, k=5))
    assert shown[0] in ids(b.history(user))
    assert shown[0] in ids(a.history(user))  # applied once in A, not twice


def test_follows_items_and_alias_moves_reach_the_other_engine(pair):
    home, a, b = pair
    a.put_follow("someone", "somebody")
    b.recommend("someone", k=3)
    assert "somebody" in b._state.ctx.follows["someone"]
    a.delete_follow("someone", "somebody")
    b.recommend("someone", k=3)
    assert "somebody" not in b._state.ctx.follows["someone"]
    a.put_item({"id": "fresh-1", "title": "a brand new item"})
    assert ids(b.similar("fresh-1", k=3)) is not None  # known to B now
    with VersionStore(home) as vs:
        old = vs.resolve("collab")
        new = vs.put(vs.get("collab").as_embedding_set(), name="again").id
        vs.alias("collab", new)
    b.recommend("someone", k=3)
    assert b._state.spaces["collab"].id == new != old
