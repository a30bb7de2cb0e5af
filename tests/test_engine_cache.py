"""The result cache: served again until a write could change the answer, then recomputed."""

from __future__ import annotations

import threading
import time

import pytest

from roost.recommend.cache import ResultCache
from roost.types import RoostError


# --- the cache on its own ----------------------------------------------------------------
def counter():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    return calls, compute


def test_a_hit_is_served_until_its_user_or_everything_is_invalidated():
    c = ResultCache(ttl=60)
    calls, compute = counter()
    assert c.get_or_compute("k", "u", compute) == 1
    assert c.get_or_compute("k", "u", compute) == 1  # hit
    c.invalidate_users(["someone-else"])
    assert c.get_or_compute("k", "u", compute) == 1
    c.invalidate_users(["u"])
    assert c.get_or_compute("k", "u", compute) == 2
    assert c.get_or_compute("q", None, compute) == 3
    c.invalidate_users(["u"])
    assert c.get_or_compute("q", None, compute) == 3  # user-free entries stay
    c.invalidate_all()
    assert c.get_or_compute("q", None, compute) == 4
    assert c.get_or_compute("k", "u", compute) == 5
    assert (c.hits, c.misses) == (3, 5)


def test_a_result_computed_across_a_write_is_never_served():
    c = ResultCache(ttl=60)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return "before the write"

    t = threading.Thread(target=c.get_or_compute, args=("k", "u", slow))
    t.start()
    started.wait(5)
    c.invalidate_users(["u"])  # the write lands while the query is computing
    release.set()
    t.join()
    assert c.get_or_compute("k", "u", lambda: "after the write") == "after the write"


def test_entries_expire_and_the_oldest_go_first():
    c = ResultCache(ttl=0.05, max_entries=2)
    calls, compute = counter()
    c.get_or_compute("a", None, compute)
    c.get_or_compute("b", None, compute)
    c.get_or_compute("a", None, compute)  # a is now the most recent
    c.get_or_compute("c", None, compute)  # b goes
    assert c.stats()["entries"] == 2
    assert c.get_or_compute("b", None, compute) == 4
    time.sleep(0.1)
    assert c.get_or_compute("b", None, compute) == 5


def test_get_serves_only_what_get_or_compute_would():
    c = ResultCache(ttl=60)
    assert c.get("k", "u") is None and (c.hits, c.misses) == (0, 0)
    c.get_or_compute("k", "u", lambda: "v")
    assert c.get("k", "u") == "v"
    c.invalidate_users(["u"])
    assert c.get("k", "u") is None
    c.get_or_compute("k", "u", lambda: "w")
    c.invalidate_all()
    assert c.get("k", "u") is None
    assert (c.hits, c.misses) == (1, 2)
    assert ResultCache(ttl=0).get("k", "u") is None


def test_ttl_zero_turns_it_off_and_bad_settings_are_refused():
    c = ResultCache(ttl=0)
    calls, compute = counter()
    c.get_or_compute("k", None, compute)
    c.get_or_compute("k", None, compute)
    assert len(calls) == 2 and c.stats()["entries"] == 0
    with pytest.raises(ValueError):
        ResultCache(ttl=-1)


# --- through the engine ------------------------------------------------------------------
def ids(result):
    return [r.id for r in result.items]


def test_repeated_queries_are_hits(engine):
    first = engine.recommend("u1", k=5)
    assert engine.recommend("u1", k=5) is first
    assert engine.recommend("u1", k=6) is not first  # another k, another entry
    assert engine.recommend("u1", k=5, filters={"category": ["x"]}) is not first
    s = engine.search("robin", k=3)
    assert engine.search("robin", k=3) is s
    assert engine.search("robin", k=3, mode="lexical") is not s
    assert engine.cache.hits == 2


def test_cache_only_looks_without_computing_and_counts_hits_once(engine):
    assert engine.recommend("u1", k=5, cache_only=True) is None  # nothing computed
    assert (engine.cache.hits, engine.cache.misses) == (0, 0)
    first = engine.recommend("u1", k=5)
    assert engine.recommend("u1", k=5, cache_only=True) is first
    assert engine.search("robin", k=3, cache_only=True) is None
    s = engine.search("robin", k=3)
    assert engine.search("robin", k=3, cache_only=True) is s
    assert (engine.cache.hits, engine.cache.misses) == (2, 2)
    engine.add_events([{"user_id": "u1", "item_id": first.items[0].id, "kind": "like"}])
    assert engine.recommend("u1", k=5, cache_only=True) is None  # the like made it stale
    with pytest.raises(RoostError, match="unknown surface"):
        engine.recommend("u1", surface="nope", cache_only=True)  # checked all the same


def test_a_like_recomputes_that_users_list_and_no_one_elses(engine):
    mine, theirs = engine.recommend("u1", k=3), engine.recommend("u2", k=3)
    top = mine.items[0].id
    engine.add_events([{"user_id": "u1", "item_id": top, "kind": "like"}])
    assert top not in ids(engine.recommend("u1", k=3))
    assert engine.recommend("u2", k=3) is theirs
    assert engine.history("u1", k=1).items[0].id == top


def test_follow_and_unfollow_change_a_cached_timeline_at_once(engine):
    before = engine.recommend("u25", k=20)  # cached
    assert not any(w.get("channel") == "followed" for r in before.items for w in r.why)
    engine.put_follow("u25", "robin")
    followed = engine.recommend("u25", k=20)
    assert any(w.get("channel") == "followed" for r in followed.items for w in r.why)
    assert engine.delete_follow("u25", "robin") is True
    after = engine.recommend("u25", k=20)
    assert not any(w.get("channel") == "followed" for r in after.items for w in r.why)
    assert engine.delete_follow("u25", "robin") is False  # nothing left to remove


def test_new_and_deleted_items_reach_cached_searches_and_lists(engine):
    assert "robin-song" not in ids(engine.search("robin", k=50, mode="lexical"))
    engine.put_item({"id": "robin-song", "title": "robin robin robin", "author": "wren"})
    assert "robin-song" in ids(engine.search("robin", k=50, mode="lexical"))
    top = engine.recommend("u3", k=1).items[0].id
    engine.delete_item(top)
    assert top not in ids(engine.recommend("u3", k=1))
