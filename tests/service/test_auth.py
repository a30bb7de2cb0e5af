"""Who may call what: a matrix over every route the OpenAPI schema lists (a route missing
from the matrix fails), and over the web pages outside the schema."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.routing import APIRoute

# (method, path) -> the least role that may call it.
MATRIX = {
    ("GET", "/health/live"): "public",
    ("GET", "/health/ready"): "public",
    ("GET", "/metrics"): "read",
    ("GET", "/items"): "read",
    ("POST", "/items"): "admin",
    ("GET", "/items/{item_id}"): "read",
    ("PUT", "/items/{item_id}"): "admin",
    ("DELETE", "/items/{item_id}"): "admin",
    ("GET", "/users"): "read",
    ("POST", "/users"): "admin",
    ("GET", "/users/{user_id}"): "read",
    ("PUT", "/users/{user_id}"): "admin",
    ("DELETE", "/users/{user_id}"): "admin",
    ("GET", "/users/{user_id}/follows"): "read",
    ("PUT", "/follows"): "admin",
    ("DELETE", "/follows/{follower}/{followee}"): "admin",
    ("POST", "/events"): "admin",
    ("GET", "/recommend/{user}"): "read",
    ("GET", "/users/{user}/history"): "read",
    ("GET", "/similar/{item}"): "read",
    ("GET", "/search"): "read",
    ("POST", "/embed"): "read",
    ("GET", "/versions"): "read",
    ("GET", "/versions/diff"): "read",
    ("GET", "/versions/{ref}"): "read",
    ("PUT", "/aliases/{name}"): "admin",
    ("POST", "/aliases/{name}/rollback"): "admin",
    ("POST", "/reload"): "admin",
}
# Web pages (not in the schema): what a browser without a session gets.
WEB = {
    ("GET", "/"): 303,
    ("GET", "/signin"): 200,
    ("POST", "/signin"): 403,
    ("POST", "/signout"): 303,
    ("GET", "/web/search"): 303,
    ("GET", "/web/items/{item_id}"): 303,
    ("GET", "/web/explorer"): 303,
    ("GET", "/web/versions"): 303,
    ("GET", "/web/birds/{bird}"): 303,
    ("GET", "/web/following"): 303,
    ("GET", "/web/dashboard"): 303,
    ("GET", "/web/explorer/status"): 401,
    # public: the API docs (the schema is public too) and the icon
    ("GET", "/docs"): 200,
    ("GET", "/docs/oauth2-redirect"): 200,
    ("GET", "/redoc"): 200,
    ("GET", "/redoc.standalone.js"): 200,
    ("GET", "/favicon.ico"): 200,
}


def schema_routes(app) -> list[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return sorted((m.upper(), p) for p, ops in paths.items() for m in ops)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def call(client, method, path, headers=None):
    kw = {"json": {}} if method in ("POST", "PUT") else {}
    return client.request(
        method, concrete(path), headers=headers or {}, follow_redirects=False, **kw
    )


def test_every_schema_route_is_in_the_matrix(api):
    routes = schema_routes(api.app)
    assert [r for r in routes if r not in MATRIX] == []
    assert [r for r in MATRIX if r not in routes] == []  # no stale rows either


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_roles(api, route):
    method, path = route
    need = MATRIX[route]
    anonymous = call(api, method, path)
    wrong = call(api, method, path, {"X-API-Key": "roost_0000beef_not-a-key"})
    read = call(api, method, path, {"X-API-Key": api.keys["read"]})
    admin = call(api, method, path, {"Authorization": f"Bearer {api.keys['admin']}"})
    if need == "public":
        assert anonymous.status_code not in (401, 403)
        return
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith(
        "Bearer"
    )
    assert wrong.status_code == 401
    assert admin.status_code not in (401, 403)
    if need == "read":
        assert read.status_code not in (401, 403)
    else:
        assert read.status_code == 403
        assert "admin" in read.json()["detail"]


def test_every_web_route_is_in_the_web_matrix(api):
    listed = set(schema_routes(api.app))
    web = sorted(
        (m, r.path) for r in api.app.routes if isinstance(r, APIRoute) for m in r.methods
        if (m, r.path) not in listed
    )  # fmt: skip
    assert web == sorted(WEB)


@pytest.mark.parametrize("route", sorted(WEB))
def test_web_without_a_session(api, route):
    method, path = route
    api.cookies.clear()
    kw = {"data": {"user": "wren", "csrf": "x"}} if method == "POST" else {}
    r = api.request(method, concrete(path), follow_redirects=False, **kw)
    assert r.status_code == WEB[route]
    if r.status_code == 303 and method == "GET":
        assert r.headers["location"] == "/signin"


def test_keys_are_stored_hashed_and_never_logged(api, shared_home, caplog):
    home, keys = shared_home
    # A secret is token_urlsafe and may itself hold "_": split on the first two only, or a
    # short fragment of it would be searched for and found by chance.
    text = (home / "keys.json").read_text()
    for key in keys.values():
        assert key not in text and key.split("_", 2)[2] not in text
    with caplog.at_level(logging.DEBUG):
        api.get("/items", headers={"X-API-Key": keys["read"]})
        api.get("/items", headers={"X-API-Key": keys["read"] + "x"})
        api.get("/items", params={"api_key": keys["admin"]})
    # The server's records only: the test's HTTP client logs the URLs it requests.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "GET /items 200" in logged  # the access log did run
    assert all(k not in logged and k.split("_", 2)[2] not in logged for k in keys.values())


def test_a_revoked_key_stops_working_at_once(fresh):
    from roost.service import KeyStore

    store = KeyStore(fresh.home / "keys.json")
    key, record = store.create("read")
    assert fresh.get("/items", headers={"X-API-Key": key}).status_code == 200
    store.revoke(record.id)
    assert fresh.get("/items", headers={"X-API-Key": key}).status_code == 401


def test_open_without_keys_but_a_session_still_needs_csrf(template, tmp_path):
    from fastapi.testclient import TestClient
    from flutter_home import copy, wait_ready

    from roost.service import ServiceSettings, create_app

    home = copy(template, tmp_path / "home")
    with TestClient(create_app(ServiceSettings(home=home, open_access=True))) as c:
        wait_ready(c)
        assert c.get("/items").status_code == 200  # started open (loopback only)
        c.get("/signin")  # the session cookie now carries access (open mode)
        body = {"events": [{"user_id": "wren", "item_id": "song-4", "kind": "like"}]}
        r = c.post("/events", json=body, headers={"Idempotency-Key": "k1"})
        assert r.status_code == 403 and "X-Roost-CSRF" in r.json()["detail"]


# --- a service started closed never opens ---------------------------------------------------
# Anonymous writes that must stay refused however the keys file changes while serving.
WRITES = [
    ("POST", "/items", {"items": [{"id": "intruder", "title": "x"}]}),
    ("PUT", "/aliases/text", {"version": "collab"}),
    ("POST", "/events", {"events": [{"user_id": "wren", "item_id": "song-4", "kind": "like"}]}),
]


def _anonymous_writes(client) -> list[int]:
    return [
        client.request(m, p, json=body, headers={"Idempotency-Key": "k"}).status_code
        for m, p, body in WRITES
    ]


def _revoke_all(home):
    from roost.service import KeyStore

    store = KeyStore(home / "keys.json")
    for record in store.list():
        store.revoke(record.id)


def test_revoking_every_key_does_not_open_the_service(fresh, caplog):
    assert _anonymous_writes(fresh) == [401, 401, 401]
    key = fresh.keys["admin"]
    _revoke_all(fresh.home)
    with caplog.at_level(logging.WARNING, logger="roost.service"):
        assert _anonymous_writes(fresh) == [401, 401, 401]
        assert fresh.get("/items").status_code == 401
        assert fresh.get("/items", headers={"X-API-Key": key}).status_code == 401
    # The log says why, once, not once a request.
    said = [r.getMessage() for r in caplog.records if "no API keys" in r.getMessage()]
    assert len(said) == 1 and "every protected request is refused" in said[0]
    assert fresh.get("/items/intruder", headers={"X-API-Key": key}).status_code == 401


def test_deleting_the_keys_file_does_not_open_the_service(fresh):
    (fresh.home / "keys.json").unlink()
    assert _anonymous_writes(fresh) == [401, 401, 401]
    assert fresh.get("/recommend/wren").status_code == 401


def test_a_damaged_keys_file_refuses_without_naming_it(fresh, caplog):
    (fresh.home / "keys.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="roost.service"):
        codes = _anonymous_writes(fresh)
        with_key = fresh.get("/items", headers={"X-API-Key": fresh.keys["read"]})
    assert codes == [401, 401, 401]  # no credentials: nothing else is looked at
    assert with_key.status_code == 503
    assert str(fresh.home) not in with_key.text and "keys.json" not in with_key.text
    assert any("not a usable keys file" in r.getMessage() for r in caplog.records)


def test_a_session_ends_with_the_last_key(fresh):
    """A web session granted under keys stops acting once no key is left."""
    link = fresh.app.state.runtime.settings.web_token
    assert fresh.get(f"/signin?token={link}", follow_redirects=False).status_code == 303
    csrf = fresh.cookies  # the session cookie now carries access
    assert fresh.get("/items").status_code == 200 and csrf
    _revoke_all(fresh.home)
    assert fresh.get("/items").status_code == 401
    assert fresh.get("/", follow_redirects=False).headers["location"] == "/signin"


@pytest.mark.parametrize("route", sorted(r for r, need in MATRIX.items() if need != "public"))
@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"items": [{"id": NaN}]}', b"\xef\xbb\xbf{}", b'{"a": "\\ud800"}', b"[]" * 4000],
    ids=["garbage", "nan", "bom", "surrogate", "long"],
)
def test_anonymous_gets_401_whatever_the_body(api, route, body):
    """401 before any parsing: no body, header or parameter of a protected route is read
    for a caller without credentials (so no 422 listing the schema's fields)."""
    method, path = route
    r = api.request(method, concrete(path), content=body, follow_redirects=False,
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 401, (route, r.status_code, r.text[:200])
    assert r.json() == {"detail": "an API key is required (X-API-Key header or Authorization: Bearer)"}


def test_a_wrong_method_on_a_protected_path_is_401_for_anonymous(api):
    assert api.request("PATCH", "/items").status_code == 401
    assert api.request("PATCH", "/items", headers={"X-API-Key": api.keys["read"]}).status_code == 405
