"""One shape per concept across the API, checked over the OpenAPI schema: every GET route's
answer validates against the schema it declares (jsonschema-rs, the validator schemathesis
uses); ``fields`` is an object wherever it appears; only routes about a user answer with a
``user`` (search names its ``query``, more-like-this its ``item``)."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest

# A value for each path parameter of the Flutter home, and the query a route needs.
PATH_VALUES = {"user": "wren", "user_id": "wren", "item": "song-0", "item_id": "song-0",
               "ref": "text", "follower": "wren"}  # fmt: skip
QUERIES = {"/search": {"q": "fish in the river"}, "/versions/diff": {"a": "text", "b": "collab"}}


def _inline(node, components):
    """The schema with its ``$ref`` s to components replaced by what they name."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            return _inline(components[ref.rsplit("/", 1)[1]], components)
        return {k: _inline(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, components) for v in node]
    return node


def _properties(schema, path=()):
    """Every (name, subschema) of ``properties`` anywhere in ``schema``."""
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            yield name, sub
        for key, sub in schema.items():
            yield from _properties(sub, (*path, key))
    elif isinstance(schema, list):
        for sub in schema:
            yield from _properties(sub, path)


def _values(node, key):
    """Every value under ``key`` of a row (an object with an ``id``) in a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and "id" in node:
                yield v
            yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def _json_routes(spec):
    components = spec["components"]["schemas"]
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if op is None:
            continue
        content = op.get("responses", {}).get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema:
            yield path, _inline(schema, components)


@pytest.fixture(scope="module")
def spec(api):
    return api.get("/openapi.json").json()


def test_fields_is_an_object_and_user_only_where_a_user_is_asked(spec):
    routes = dict(_json_routes(spec))
    assert "/items" in routes and "/search" in routes and "/similar/{item}" in routes
    for path, schema in routes.items():
        for name, sub in _properties(schema):
            if name == "fields":
                kinds = {s.get("type") for s in sub.get("anyOf", [sub])}
                assert kinds <= {"object", "null"}, (path, sub)
            if name == "user":
                assert "{user}" in path, f"{path} answers with 'user' but is not about a user"


def test_every_get_route_answers_in_the_shape_it_declares(api, spec):
    headers = {"X-API-Key": api.keys["read"]}
    checked = []
    for path, schema in _json_routes(spec):
        url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m[1]], path)
        r = api.get(url, params=QUERIES.get(path, {}), headers=headers)
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        jsonschema_rs.validator_for(schema).validate(body)
        # and what the schema may leave open: the answer itself
        if isinstance(body, dict) and "{user}" not in path:
            assert "user" not in body, f"{path} answers with 'user'"
        for fields in _values(body, "fields"):
            assert fields is None or isinstance(fields, dict), (path, fields)
        checked.append(path)
    assert {"/items", "/items/{item_id}", "/users", "/search", "/similar/{item}",
            "/recommend/{user}"} <= set(checked)  # fmt: skip


def test_a_page_of_items_reads_like_one_item(fresh):
    api = fresh
    headers = {"X-API-Key": api.keys["admin"]}
    api.put("/items/shaped", json={"title": "Shaped", "fields": {"lang": "en"}}, headers=headers)
    page = api.get("/items", params={"limit": 100}, headers=headers).json()
    row = next(i for i in page["items"] if i["id"] == "shaped")
    assert row == api.get("/items/shaped", headers=headers).json()
    assert row["fields"] == {"lang": "en"}
    s = api.get("/search", params={"q": "fish", "mode": "lexical"}, headers=headers).json()
    assert (s["query"], s["mode"]) == ("fish", "lexical") and "user" not in s
    m = api.get("/similar/song-0", headers=headers).json()
    assert m["item"] == "song-0" and "user" not in m
