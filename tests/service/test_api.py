"""The API through the ASGI app on a real home: CRUD, events, queries, live updates,
versions, metrics, caps and CORS."""

from __future__ import annotations

import re

import pytest
from flutter_home import copy, wait_ready

from roost.store import open_store


def read(c):
    return {"X-API-Key": c.keys["read"]}


def admin(c, **extra):
    return {"X-API-Key": c.keys["admin"], **extra}


def ids(r):
    assert r.status_code == 200, r.text
    return ids_of(r.json())


def ids_of(body):
    return [x["id"] for x in body["items"]]


def n_events(c) -> int:
    with open_store(c.home) as s:  # another connection: what is durable
        return s.counts()["events"]


def like(c, user, item, key="k", **event):
    body = {"events": [{"user_id": user, "item_id": item, "kind": "like", **event}]}
    return c.post("/events", json=body, headers=admin(c, **{"Idempotency-Key": key}))


# --- health ---------------------------------------------------------------------------------
def test_health(api):
    import os

    assert api.get("/health/live").json() == {"ok": True, "problems": [], "worker": os.getpid()}
    assert api.get("/health/ready").status_code == 200
    assert api.get("/health/ready").json()["worker"] == os.getpid()  # the app runs in this process


def test_ready_is_503_when_the_engine_cannot_open(template, tmp_path):
    from fastapi.testclient import TestClient
    from flutter_home import copy, wait_ready  # noqa: F401

    from roost.service import ServiceSettings, create_app

    home = copy(template, tmp_path / "home")
    (home / "surfaces.toml").write_text("[home]\nbogus = 1\n")
    with TestClient(create_app(ServiceSettings(home=home, open_access=True))) as c:
        while c.app.state.runtime.loading:
            pass
        r = c.get("/health/ready")
        assert r.status_code == 503 and "bogus" in r.json()["problems"][0]
        assert c.get("/recommend/wren").status_code == 503
        assert c.get("/health/live").status_code == 200


# --- catalog CRUD ---------------------------------------------------------------------------
def test_items_crud(api):
    c = api
    item = {"id": "new-1", "title": "Owl pellets", "text": "what owls cough up", "tags": ["owl"],
            "category": "science", "author": "owl", "fields": {"lang": "en"}}  # fmt: skip
    r = c.post("/items", json=item, headers=admin(c))
    assert r.status_code == 201, r.text
    got = c.get("/items/new-1", headers=read(c)).json()
    assert (
        got["title"] == "Owl pellets" and got["tags"] == ["owl"] and got["fields"] == {"lang": "en"}
    )
    assert got["created_at"] > 1_700_000_000
    assert c.post("/items", json=item, headers=admin(c)).status_code == 409
    r = c.put(
        "/items/new-1",
        json={"title": "Owl pellets, revised", "category": "science"},
        headers=admin(c),
    )
    assert r.status_code == 200 and r.json()["title"] == "Owl pellets, revised"
    assert r.json()["tags"] is None  # PUT replaces the whole item
    page = c.get("/items", params={"category": "science", "limit": 5}, headers=read(c)).json()
    assert page["total"] == 1 and page["items"][0]["id"] == "new-1"
    assert c.delete("/items/new-1", headers=admin(c)).status_code == 204
    assert c.get("/items/new-1", headers=read(c)).status_code == 404
    assert c.delete("/items/new-1", headers=admin(c)).status_code == 404


def test_a_bad_item_names_the_field_and_stores_nothing(api):
    c = api
    # Types are checked at the edge; the data rules (here: the size of fields) by ingest's code.
    r = c.post("/items", json={"id": "bad", "created_at": "next tuesday"}, headers=admin(c))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "created_at"]
    r = c.post("/items", json={"id": "bad", "fields": {"notes": "x" * 100_001}}, headers=admin(c))
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", 0, "fields"] and "fields too long" in detail["msg"]
    assert c.get("/items/bad", headers=read(c)).status_code == 404


def test_users_and_follows(api):
    c = api
    assert (
        c.post("/users", json={"id": "kite", "name": "Red kite"}, headers=admin(c)).status_code
        == 201
    )
    assert c.post("/users", json={"id": "kite"}, headers=admin(c)).status_code == 409
    assert c.get("/users/kite", headers=read(c)).json()["name"] == "Red kite"
    assert c.put("/users/kite", json={"name": "Kite"}, headers=admin(c)).json()["name"] == "Kite"
    r = c.put("/follows", json={"follower": "kite", "followee": "owl"}, headers=admin(c))
    assert r.status_code == 200
    assert [f["followee"] for f in c.get("/users/kite/follows", headers=read(c)).json()] == ["owl"]
    # Live: the followed bird's flits reach the follower's timeline without a retrain.
    why = {
        x["id"]: x["why"]
        for x in c.get("/recommend/kite", params={"k": 30}, headers=read(c)).json()["items"]
    }
    owl_flits = [i for i, w in why.items() if {"channel": "followed", "author": "owl"} in w]
    assert owl_flits
    assert c.delete("/follows/kite/owl", headers=admin(c)).status_code == 204
    assert c.get("/users/kite/follows", headers=read(c)).json() == []
    # Live too: the timeline (cached a moment ago) no longer shows the owl's flits.
    after = c.get("/recommend/kite", params={"k": 30}, headers=read(c)).json()["items"]
    assert not [x for x in after if {"channel": "followed", "author": "owl"} in x["why"]]
    assert c.delete("/follows/kite/owl", headers=admin(c)).status_code == 404
    assert c.delete("/users/kite", headers=admin(c)).status_code == 204
    assert c.get("/users/kite", headers=read(c)).status_code == 404


# --- events ---------------------------------------------------------------------------------
def test_events_are_durable_and_live(api):
    c = api
    before = ids(c.get("/recommend/finch", headers=read(c)))
    top = before[0]
    n = n_events(c)
    r = like(c, "finch", top, key="like-1")
    assert r.status_code == 201 and r.json() == {"received": 1, "stored": 1}
    assert n_events(c) == n + 1
    after = ids(c.get("/recommend/finch", headers=read(c)))
    assert top not in after  # the seen filter applies at once, without a retrain
    history = c.get("/users/finch/history", params={"k": 3}, headers=read(c)).json()
    assert ids_of(history)[0] == top and len(history["items"]) <= 3
    assert c.get("/users/nobody-yet/history", headers=read(c)).json()["items"] == []


def test_a_batch_with_one_bad_row_stores_nothing(api):
    c = api
    n = n_events(c)
    good = {"user_id": "crow", "item_id": "song-4", "kind": "like"}
    bad = {"user_id": "crow", "item_id": "song-5", "kind": "hug"}
    r = c.post("/events", json={"events": [good, good | {"item_id": "fish-5"}, bad]},
               headers=admin(c, **{"Idempotency-Key": "b1"}))  # fmt: skip
    assert r.status_code == 422
    locs = [d["loc"] for d in r.json()["detail"]]
    assert any(2 in loc and "kind" in loc for loc in locs), locs
    assert "hug" in r.text
    unknown = c.post("/events", json={"events": [good, good | {"item_id": "no-such-flit"}]},
                     headers=admin(c, **{"Idempotency-Key": "b2"}))  # fmt: skip
    assert unknown.status_code == 422 and "no-such-flit" in unknown.text
    assert n_events(c) == n
    # the refused key is not burnt: a corrected batch under it goes through
    assert (
        c.post(
            "/events", json={"events": [good]}, headers=admin(c, **{"Idempotency-Key": "b1"})
        ).status_code
        == 201
    )


def test_idempotency_key_replays_the_first_answer(api):
    c = api
    n = n_events(c)
    first = like(c, "heron", "song-4", key="same")
    again = like(c, "heron", "song-4", key="same")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = like(c, "heron", "song-5", key="same")
    assert other.status_code == 422 and "another body" in other.text
    assert like(c, "heron", "song-4", key="").status_code == 422  # a key is required
    assert n_events(c) == n + 1
    # A retry after a crash between the commit and the record (same key, record gone)
    # stores nothing twice: the batch's events got ids derived from the key.
    c.app.state.runtime.idempotency.clear()
    assert like(c, "heron", "song-4", key="same").json() == {"received": 1, "stored": 0}


# --- queries --------------------------------------------------------------------------------
def test_recommend_explains(api):
    r = api.get("/recommend/wren", params={"k": 5}, headers=read(api)).json()
    assert len(r["items"]) == 5 and all(x["why"] for x in r["items"])
    bare = api.get("/recommend/wren", params={"k": 5, "explain": False}, headers=read(api)).json()
    assert [x["id"] for x in bare["items"]] == [x["id"] for x in r["items"]]
    assert all(x["why"] == [] for x in bare["items"])


def test_filters(api):
    got = ids(api.get("/recommend/wren", params={"k": 20, "category": "fish"}, headers=read(api)))
    assert got and all(i.startswith("fish-") for i in got)
    got = ids(
        api.get("/search", params={"q": "fish", "exclude_category": "fish"}, headers=read(api))
    )
    assert got and not any(i.startswith("fish-") for i in got)
    assert ids(api.get("/recommend/wren", params={"field": "colour=red"}, headers=read(api))) == []
    assert (
        api.get("/recommend/wren", params={"field": "colour"}, headers=read(api)).status_code == 422
    )
    assert (
        api.get("/recommend/wren", params={"surface": "nope"}, headers=read(api)).status_code == 422
    )


def test_similar_and_search(api):
    assert ids(api.get("/similar/fish-0", params={"k": 3}, headers=read(api)))
    assert api.get("/similar/no-such", headers=read(api)).status_code == 404
    for mode in ("semantic", "lexical", "hybrid"):
        assert (
            ids(
                api.get(
                    "/search",
                    params={"q": "salmon leaping", "mode": mode, "k": 3},
                    headers=read(api),
                )
            )[0]
            == "fish-4"
        )
    assert (
        api.get("/search", params={"q": "x", "mode": "fuzzy"}, headers=read(api)).status_code == 422
    )


def test_embed(api):
    r = api.post("/embed", json={"texts": ["a heron by the river", "dawn song"]}, headers=read(api))
    assert r.status_code == 200
    body = r.json()
    assert body["dim"] == 384 and len(body["vectors"]) == 2 and len(body["vectors"][0]) == 384
    assert (
        api.post(
            "/embed", json={"texts": ["x"], "version": "collab"}, headers=read(api)
        ).status_code
        == 422
    )
    assert api.post(
        "/embed", json={"texts": ["x"], "version": "nope"}, headers=read(api)
    ).status_code in (404, 422)


def test_a_new_flit_is_found_at_once(api):
    c = api
    flit = {"id": "flit-x", "title": "Kingfisher spotted", "text": "a flash of blue diving into the brook",
            "tags": ["kingfisher"], "category": "fish", "author": "heron"}  # fmt: skip
    assert c.post("/items", json=flit, headers=admin(c)).status_code == 201
    assert "flit-x" in ids(
        c.get("/search", params={"q": "kingfisher", "mode": "lexical"}, headers=read(c))
    )
    assert "flit-x" in ids(
        c.get(
            "/search",
            params={"q": "blue bird diving into a stream", "mode": "semantic", "k": 3},
            headers=read(c),
        )
    )
    assert ids(c.get("/similar/flit-x", params={"k": 3}, headers=read(c)))
    assert c.delete("/items/flit-x", headers=admin(c)).status_code == 204
    assert "flit-x" not in ids(
        c.get("/search", params={"q": "kingfisher", "mode": "lexical"}, headers=read(c))
    )


# --- caps -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path,params", [("/recommend/wren", {}), ("/similar/song-0", {}), ("/search", {"q": "bird"})]
)
def test_k_cap(api, path, params):
    assert api.get(path, params={**params, "k": 101}, headers=read(api)).status_code == 422
    assert api.get(path, params={**params, "k": 0}, headers=read(api)).status_code == 422
    assert api.get(path, params={**params, "k": 100}, headers=read(api)).status_code == 200


def test_page_and_batch_caps(api):
    assert api.get("/items", params={"limit": 501}, headers=read(api)).status_code == 422
    assert api.get("/items", params={"limit": 500}, headers=read(api)).status_code == 200
    r = api.post("/embed", json={"texts": ["x"] * 501}, headers=read(api))
    assert r.status_code == 422 and "limit is 500" in r.text


def test_body_limit(template, tmp_path):
    from fastapi.testclient import TestClient
    from flutter_home import copy

    from roost.service import ServiceSettings, create_app

    home = copy(template, tmp_path / "home")
    with TestClient(create_app(ServiceSettings(home=home, max_body=1000, load_engine=False, open_access=True))) as c:
        big = {"id": "big", "text": "x" * 2000}
        assert c.post("/items", json=big).status_code == 413
        # No Content-Length (chunked): cut off while streaming.
        r = c.post("/items", content=iter([b'{"id": "big", "text": "', b"x" * 2000, b'"}']),
                   headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 413
        assert c.post("/items", json={"id": "small"}).status_code == 201


# --- versions -------------------------------------------------------------------------------
def test_versions_alias_and_rollback(api):
    c = api
    listing = c.get("/versions", headers=read(c)).json()
    text, collab = listing["aliases"]["text"], listing["aliases"]["collab"]
    info = c.get("/versions/text", headers=read(c)).json()
    assert info["info"]["id"] == text and info["manifest"]["method"] == "transformer"
    diff = c.get("/versions/diff", params={"a": text, "b": collab}, headers=read(c)).json()
    assert diff["changed"]["method"] == ["transformer", "als"]
    assert c.get("/versions/nope", headers=read(c)).status_code == 404
    r = c.put("/aliases/production", json={"version": collab}, headers=admin(c))
    assert r.status_code == 200 and r.json()["id"] == collab
    r = c.put("/aliases/production", json={"version": text}, headers=admin(c))
    assert c.post("/aliases/production/rollback", headers=admin(c)).json()["id"] == collab
    assert c.post("/aliases/text/rollback", headers=admin(c)).status_code == 409  # no history
    assert c.post("/aliases/nope/rollback", headers=admin(c)).status_code == 404
    assert c.put("/aliases/v7", json={"version": text}, headers=admin(c)).status_code == 409


# --- metrics, CORS --------------------------------------------------------------------------
def test_metrics(api):
    api.get("/recommend/wren", headers=read(api))
    api.get("/items/no-such", headers=read(api))
    text = api.get("/metrics", headers=read(api)).text
    assert (
        'roost_http_seconds_bucket{le="+Inf",stage="GET /recommend/{user}"}' in text
        or 'roost_http_seconds_count{stage="GET /recommend/{user}"}' in text
    )
    assert 'roost_stage_seconds_count{stage="recommend"}' in text
    assert 'stage="sources"' in text or "sources" in text
    assert 'roost_http_requests_total{method="GET",route="/items/{item_id}",status="404"}' in text
    assert "roost_catalog_rows" in text and "roost_engine_ready 1.0" in text
    api.get("/recommend/wren", headers=read(api))  # the same request again: a cache hit
    text = api.get("/metrics", headers=read(api)).text
    hits = re.search(r'roost_cache_lookups_total\{outcome="hit"\} (\S+)', text)
    misses = re.search(r'roost_cache_lookups_total\{outcome="miss"\} (\S+)', text)
    assert hits and float(hits.group(1)) >= 1
    # the event loop's look at the cache before a miss goes to the query thread is not
    # a second miss
    before = float(misses.group(1))
    api.get("/recommend/wren?k=3", headers=read(api))  # new
    text = api.get("/metrics", headers=read(api)).text
    misses = re.search(r'roost_cache_lookups_total\{outcome="miss"\} (\S+)', text)
    assert float(misses.group(1)) == before + 1


def test_ready_is_503_while_the_engine_loads(template, tmp_path):
    """The engine's surfaces file is a named pipe: reading it blocks until the test
    writes, which holds the load in flight for as long as the test needs."""
    import os
    import threading

    from fastapi.testclient import TestClient

    from roost.recommend.surfaces import DEFAULT_TOML
    from roost.service import ServiceSettings, create_app

    home = copy(template, tmp_path / "home")
    fifo = tmp_path / "surfaces.toml"
    os.mkfifo(fifo)
    release = threading.Event()

    def writer():  # once for the app's routes, once more when the test says
        for n in range(2):
            if n:
                release.wait(60)
            with open(fifo, "w") as f:
                f.write(DEFAULT_TOML)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    with TestClient(create_app(ServiceSettings(home=home, surfaces=fifo, open_access=True))) as c:
        assert c.app.state.runtime.loading
        r = c.get("/health/ready")
        assert r.status_code == 503 and r.json()["problems"] == ["the engine is loading"]
        busy = c.get("/recommend/wren")  # no keys in this home: the API is open
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert c.get("/health/live").status_code == 200
        release.set()
        wait_ready(c)
        assert c.get("/health/ready").status_code == 200
    t.join(5)


def test_cors_closed_by_default_open_when_configured(template, tmp_path):
    from fastapi.testclient import TestClient
    from flutter_home import copy

    from roost.service import ServiceSettings, create_app

    pre = {"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"}
    home = copy(template, tmp_path / "home")
    with TestClient(create_app(ServiceSettings(home=home, load_engine=False, open_access=True))) as c:
        r = c.options("/items", headers=pre)
        assert "access-control-allow-origin" not in r.headers
    settings = ServiceSettings(home=home, load_engine=False, cors_origins=("https://shop.example",), open_access=True)
    with TestClient(create_app(settings)) as c:
        r = c.options("/items", headers=pre)
        assert r.headers["access-control-allow-origin"] == "https://shop.example"


def test_an_item_with_only_an_id_is_accepted(api):
    # Regression: the engine stored the item, then refused it from the search index for
    # having no text, so the client got a 422 for a write that had happened.
    r = api.post("/items", json={"id": "bare-item"}, headers=admin(api))
    assert r.status_code == 201, r.text
    assert api.get("/items/bare-item", headers=read(api)).status_code == 200
    assert api.post("/reload", headers=admin(api)).status_code == 200  # the reload path too


def test_latency_is_saved_to_the_home_for_roost_stats(template, tmp_path, capsys):
    """What the service timed reaches `roost stats --latency` after it stops."""
    import json

    from fastapi.testclient import TestClient
    from flutter_home import copy, make_keys, wait_ready

    from roost.cli import main
    from roost.service import ServiceSettings, create_app

    home = copy(template, tmp_path / "home")
    keys = make_keys(home)
    with TestClient(create_app(ServiceSettings(home=home, open_access=True))) as c:
        wait_ready(c)
        c.keys = keys
        for _ in range(3):
            assert c.get("/recommend/wren", headers=read(c)).status_code == 200
    assert main(["--home", str(home), "stats", "--latency", "--json"]) == 0
    snap = json.loads(capsys.readouterr().out)
    names = " ".join(snap)
    assert "/recommend" in names and "recommend" in snap
    assert next(v for k, v in snap.items() if k.startswith("GET /recommend"))["count"] == 3
