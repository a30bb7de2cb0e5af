"""The Engine over a real home: recommend, similar, live writes, reload, readiness, CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "recommend"))
from boards import make_home  # noqa: E402

from roost.engine import Engine, build_default  # noqa: E402
from roost.store import open_store  # noqa: E402
from roost.store.versions import VersionStore  # noqa: E402
from roost.types import RoostError, UnknownIdError  # noqa: E402


def ids(result):
    return [r.id for r in result.items]


def test_recommendations_stay_in_the_users_group_and_explain(engine):
    for user, g in (("u1", "a"), ("u20", "b")):
        res = engine.recommend(user, k=5)
        assert len(res.items) == 5 and all(i.startswith(g) for i in ids(res))
        assert all(any("channel" in w for w in r.why) for r in res.items)
    assert set(engine.latency.snapshot()) >= {"recommend", "recommend.sources", "recommend.score"}
    assert engine.ready() == (True, [])


def test_cold_user_gets_popular_fresh_followed(engine):
    res = engine.recommend("brand-new", k=6)
    assert len(res.items) == 6
    assert {w["channel"] for r in res.items for w in r.why if "channel" in w} <= {
        "popular",
        "fresh",
        "followed",
    }
    assert all(r.why == [] for r in engine.recommend("brand-new", k=3, explain=False).items)


def test_request_errors_are_roost_errors(engine):
    with pytest.raises(RoostError, match="unknown surface 'nope'"):
        engine.recommend("u1", surface="nope")
    with pytest.raises(RoostError, match="k must be"):
        engine.recommend("u1", k=0)
    with pytest.raises(RoostError, match="unknown filter 'colour'"):
        engine.recommend("u1", filters={"colour": "red"})
    with pytest.raises(UnknownIdError, match="nope"):
        engine.similar("nope")


def test_request_filters_apply(engine):
    res = engine.recommend("u1", k=10, filters={"category": ["cars"]})
    assert res.items and all(i.startswith("b") for i in ids(res))


def test_similar_uses_collab_then_filters(engine):
    res = engine.similar("a1", k=5)
    assert len(res.items) == 5 and "a1" not in ids(res) and all(i.startswith("a") for i in ids(res))
    assert "a9" not in ids(engine.similar("a1", k=19))  # unsafe
    assert res.items[0].why[0]["version"] == "collab"


def test_live_event_changes_the_next_result_without_retraining(engine):
    first = engine.recommend("u1", k=3).items[0].id
    assert engine.add_events([{"user_id": "u1", "item_id": first, "kind": "like"}]) == 1
    assert first not in ids(engine.recommend("u1", k=10))
    # A user the ALS version never saw: their events alone put them in the cars group.
    engine.add_events(
        [{"user_id": "late", "item_id": i, "kind": "like", "ts": 10**7} for i in ("b1", "b2", "b3")]
    )
    res = engine.recommend("late", k=5)
    assert all(i.startswith("b") for i in ids(res))
    assert any(w.get("channel") == "user_to_item:collab" for r in res.items for w in r.why)
    with open_store(engine.home, create=False) as s:
        assert s.counts()["events"] == 30 * 8 + 4  # durable


def test_bad_event_names_row_and_field_and_writes_nothing(engine):
    with open_store(engine.home, create=False) as s:
        before = s.counts()["events"]
    bad = [
        {"user_id": "u1", "item_id": "a1", "kind": "like"},
        {"user_id": "u1", "item_id": "a2", "kind": "stare"},
    ]
    with pytest.raises(RoostError, match=r"row 1.*'kind'"):
        engine.add_events(bad)
    with pytest.raises(RoostError, match="row 0, field 'colour'"):
        engine.add_events([{"user_id": "u1", "item_id": "a1", "kind": "like", "colour": "red"}])
    with pytest.raises(RoostError, match="row 0.*item_id"):
        engine.add_events([{"user_id": "u1", "item_id": "ghost", "kind": "like"}])
    with open_store(engine.home, create=False) as s:
        assert s.counts()["events"] == before
    assert ctx_seen(engine, "u1") == ctx_seen(engine, "u1")


def ctx_seen(engine, user):
    return engine._state.ctx.seen(user)


def test_new_item_is_recommended_before_anyone_touched_it(engine):
    engine.put_item(
        {
            "id": "fresh-bird",
            "title": "a small robin singing in the garden",
            "category": "birds",
            "tags": ["nature", "song"],
            "author": "wren",
            "colour": "brown",
        }
    )
    res = engine.recommend("u1", k=40)
    hit = [r for r in res.items if r.id == "fresh-bird"]
    assert hit and any(w.get("channel") == "item_to_item:text" for w in hit[0].why)
    assert "fresh-bird" in ids(engine.similar("a1", k=40, version="text"))
    assert ids(engine.similar("fresh-bird", k=3))  # text fallback: collab never saw it
    with open_store(engine.home, create=False) as s:
        assert s.get("items", ("fresh-bird",))["fields"]["colour"] == "brown"


def test_deleted_item_never_comes_back(engine):
    top = engine.recommend("u1", k=1).items[0].id
    engine.delete_item(top)
    assert top not in ids(engine.recommend("u1", k=30))
    assert top not in ids(engine.similar("a1" if top != "a1" else "a2", k=30))


def test_follow_shows_the_followees_items(engine):
    engine.put_follow("u25", "robin")
    res = engine.recommend("u25", k=20)
    assert "a0" in ids(res) or "b0" in ids(res)


def test_reload_swaps_in_a_new_alias_target(engine):
    import numpy as np

    from roost.types import EmbeddingSet

    old = engine._state.spaces["collab"].id
    with VersionStore(engine.home) as vs:
        v = vs.get("collab")
        es = v.as_embedding_set()
        users = v.users
        flipped = EmbeddingSet(
            ids=es.ids,
            vectors=np.asarray(es.vectors) * 2,
            method="als",
            params=es.params,
            fingerprint=es.fingerprint,
            metric="dot",
        )
        uset = EmbeddingSet(
            ids=users.ids,
            vectors=np.asarray(users.vectors),
            method="als",
            params=es.params,
            fingerprint=es.fingerprint,
            metric="dot",
            kind="user",
        )
        vs.put(flipped, users=uset, alias="collab")
    engine.reload()
    assert engine._state.spaces["collab"].id != old
    assert all(i.startswith("a") for i in ids(engine.recommend("u1", k=5)))


def test_ready_reports_a_damaged_version(engine):
    space = engine._state.spaces["collab"]
    vec = space.version.path / "vectors.npy"
    data = bytearray(vec.read_bytes())
    data[-1] ^= 0xFF
    vec.write_bytes(bytes(data))
    ok, problems = engine.ready()
    assert not ok and any("vectors.npy" in p for p in problems)


def test_explicit_surfaces_naming_missing_versions_are_reported(engine_home, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[home]\n[[home.channels]]\nkind = "user_to_item"\nversion = "nope"\n'
        '[[home.channels]]\nkind = "popular"\n'
    )
    with Engine.open(engine_home, surfaces=path) as eng:
        ok, problems = eng.ready()
        assert not ok and "nope" in problems[0]
        assert eng.recommend("u1", k=3).items  # still serves what it can


def test_embed_and_search(engine):
    v = engine.embed(["a small bird"])
    assert v.shape == (1, 384)
    res = engine.search("singing bird in the garden", mode="semantic", k=3)
    assert all(i.startswith("a") for i in ids(res)) and "a9" not in ids(engine.search("bird", k=20))
    with pytest.raises(RoostError, match="cannot embed text"):
        engine.embed(["x"], version="collab")


def test_cli_recommend_and_similar_json(engine_home, capsys):
    from roost.cli import main

    assert main(["--home", str(engine_home), "recommend", "u1", "--k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["items"]) == 3 and set(out["items"][0]) == {"id", "title", "score", "why"}
    assert main(["--home", str(engine_home), "similar", "b2", "--k", "2", "--json"]) == 0
    assert all(i["id"].startswith("b") for i in json.loads(capsys.readouterr().out)["items"])
    assert main(["--home", str(engine_home), "recommend", "u1", "--surface", "nope"]) == 1
    assert main(["--home", str(engine_home), "recommend", "u1", "--explain"]) == 0
    assert "because" in capsys.readouterr().out


@pytest.mark.slow
def test_build_default_fits_versions_indexes_and_ranker(tmp_path):
    home = make_home(tmp_path / "home")
    summary = build_default(home, fast=True)
    assert set(summary["versions"]) == {"text", "collab"}
    assert summary["ranker"]["train_users"] > 0
    with Engine.open(home) as eng:
        res = eng.recommend("u1", k=5)
        assert all(i.startswith("a") for i in ids(res))
        assert any("ranker_top_features" in w for r in res.items for w in r.why)


@pytest.mark.slow
def test_bundled_catalog_sample_user_gets_unseen_explained_movies(tmp_path):
    from roost.data import datasets
    from roost.embed import get

    with open_store(tmp_path / "mt") as s:
        datasets.load("movietweetings").ingest(s)
        catalog = s.catalog()
        user = s.sample_user()
    als = get("als")(factors=32, iterations=5, seed=0).fit(catalog)
    with VersionStore(tmp_path / "mt") as vs:
        vs.put(als.embedding_set(catalog), users=als.user_embedding_set(catalog), alias="collab")
    with Engine.open(tmp_path / "mt") as eng:
        res = eng.recommend(user, k=10)
        seen = {catalog.item_ids[r] for r in eng._state.ctx.seen(user)}
        assert len(res.items) == 10 and not set(ids(res)) & seen
        channels = {w["channel"] for r in res.items for w in r.why if "channel" in w}
        assert channels & {"item_to_item:collab", "user_to_item:collab", "cluster:collab"}
        assert ids(eng.similar(res.items[0].id, k=5))


@pytest.mark.parametrize("mode", ["semantic", "lexical", "hybrid"])
def test_search_never_returns_deleted_unsafe_or_filtered_items(engine, mode):
    everything = ids(engine.search("a small bird singing", mode=mode, k=60))
    assert everything and "a9" not in everything  # unsafe
    gone = everything[0]
    engine.delete_item(gone)
    rest = engine.search(
        "a small bird singing",
        mode=mode,
        k=60,
        filters={"exclude_items": [everything[1]], "category": ["birds"]},
    )
    got = ids(rest)
    assert got and gone not in got and everything[1] not in got and "a9" not in got
    assert all(i.startswith("a") for i in got)
