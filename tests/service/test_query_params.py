"""The query routes read their parameters in one step and answer plain JSON: what a client
sees must be what FastAPI's own parameter handling and response model would give."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import Field

from roost.service.api_queries import FILTERS, filter_spec
from roost.service.queryparams import QueryParser
from roost.service.schemas import Recommendations, SearchResults, SimilarItems

PARAMS = [
    ("surface", Literal["home", "explore"], Query("home")),
    ("k", int, Query(10, ge=1, le=100, description="how many")),
    ("explain", bool, True),
    ("q", str, Query(..., min_length=1, max_length=1000, pattern=r"\S")),
    ("version", str | None, Query(None, min_length=1, max_length=256)),
    *FILTERS,
]
QUERIES = [
    {"q": "x"},
    {"q": "x", "k": "5", "explain": "false", "surface": "explore"},
    {"q": "x", "category": ["a", "b"], "exclude_items": "i1", "max_age_days": "2.5"},
    {"q": "x", "field": ["colour=red", "colour=blue", "size="], "exclude_field": "a=b"},
    {"q": "x", "version": "v1", "exclude_category": "c", "exclude_authors": ["u"]},
    {"q": "x", "unknown": "ignored", "k": "100"},
    {},  # q missing
    {"q": ""},
    {"q": "   "},
    {"q": "x", "k": "0"},
    {"q": "x", "k": "101"},
    {"q": "x", "k": "ten"},
    {"q": "x", "explain": "maybe"},
    {"q": "x", "surface": "nope"},
    {"q": "x", "max_age_days": "-1"},
    {"q": "x", "max_age_days": "soon"},
    {"q": "x", "field": ["colour=red", "colour"]},
    {"q": "x", "version": ""},
    {"k": "0", "field": "=x", "explain": "?"},  # several errors at once, in order
]


@pytest.fixture(scope="module")
def both():
    """One app with the parser, one declaring the same parameters the usual way."""
    parser = QueryParser("Probe", PARAMS)
    fast = FastAPI()

    @fast.get("/p", openapi_extra=parser.openapi)
    async def fast_route(p=Depends(parser)) -> dict:
        return p.model_dump()

    usual = FastAPI()

    @usual.get("/p")
    async def usual_route(
        surface: Literal["home", "explore"] = Query("home"),
        k: int = Query(10, ge=1, le=100, description="how many"),
        explain: bool = True,
        q: str = Query(..., min_length=1, max_length=1000, pattern=r"\S"),
        version: str | None = Query(None, min_length=1, max_length=256),
        category: list[str] | None = Query(None, description="only these categories"),
        exclude_category: list[str] | None = Query(None, description="not these categories"),
        max_age_days: float | None = Query(
            None, ge=0, le=1e6, description="only items at most this old"
        ),
        exclude_items: list[str] | None = Query(None),
        exclude_authors: list[str] | None = Query(None),
        field: list[Annotated[str, Field(pattern="^[^=]+=")]] | None = Query(
            None, description="NAME=VALUE: the item's field NAME must be VALUE (repeat for several)"
        ),
        exclude_field: list[Annotated[str, Field(pattern="^[^=]+=")]] | None = Query(
            None, description="NAME=VALUE: the item's field NAME must not be VALUE"
        ),
    ) -> dict:
        return dict(locals())

    return TestClient(fast), TestClient(usual)


@pytest.mark.parametrize("params", QUERIES)
def test_same_values_and_errors_as_fastapi(both, params):
    fast, usual = both
    got, want = fast.get("/p", params=params), usual.get("/p", params=params)
    assert (got.status_code, got.json()) == (want.status_code, want.json())


def test_same_schema_as_fastapi(both):
    fast, usual = both
    got = fast.app.openapi()["paths"]["/p"]["get"]
    want = usual.app.openapi()["paths"]["/p"]["get"]
    assert got["parameters"] == want["parameters"]
    assert got["responses"]["422"] == want["responses"]["422"]  # the 422 stays documented


def test_nothing_given_is_the_defaults():
    parser = QueryParser("Probe", FILTERS)
    assert parser.default is not None and filter_spec(parser.default) is None
    assert QueryParser("Probe", PARAMS).default is None  # q is required: always validated


def test_filter_spec():
    p = QueryParser("Probe", FILTERS).validate(
        {"category": ["a"], "max_age_days": "3", "field": ["lang=en", "lang=fr", "x=a=b"],
         "exclude_field": ["mood="]}
    )  # fmt: skip
    assert filter_spec(p) == {
        "category": ["a"],
        "max_age_days": 3.0,
        "fields": {"lang": ["en", "fr"], "x": ["a=b"]},
        "exclude_fields": {"mood": [""]},
    }


def read(c):
    return {"X-API-Key": c.keys["read"]}


@pytest.mark.parametrize(
    "path,params",
    [
        ("/recommend/wren", {"k": 5}),
        ("/recommend/wren", {"explain": "false", "category": "fish"}),
        ("/users/wren/history", {}),
        ("/similar/fish-0", {"k": 4}),
        ("/search", {"q": "salmon leaping", "mode": "semantic"}),
        ("/search", {"q": "salmon leaping", "mode": "lexical"}),
        ("/search", {"q": "salmon leaping", "mode": "hybrid", "k": 3}),
    ],
)
def test_answers_are_what_the_response_model_gives(api, path, params):
    r = api.get(path, params=params, headers=read(api))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = orjson.loads(r.content)
    assert body["items"]
    # What FastAPI answered before: the result validated by the response model, dumped.
    model = {"/search": SearchResults}.get(path) or (
        SimilarItems if path.startswith("/similar") else Recommendations
    )
    assert body == model.model_validate(body).model_dump(mode="json")


def test_openapi_documents_every_query_parameter(api):
    paths = api.app.openapi()["paths"]
    names = {
        p: [x["name"] for x in paths[p]["get"]["parameters"]]
        for p in ("/recommend/{user}", "/similar/{item}", "/search", "/users/{user}/history")
    }
    filters = [f[0] for f in FILTERS]
    assert names["/recommend/{user}"] == ["user", "surface", "k", "explain", *filters]
    assert names["/similar/{item}"] == ["item", "k", "version", *filters]
    assert names["/search"] == ["q", "mode", "k", *filters]
    assert names["/users/{user}/history"] == ["user", "k"]
    assert all("422" in paths[p]["get"]["responses"] for p in names)


def test_openapi_documents_the_key_schemes(api):
    schema = api.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    ops = schema["paths"]
    keyed = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    assert ops["/search"]["get"]["security"] == keyed
    assert ops["/items/{item_id}"]["put"]["security"] == keyed  # an admin route
    assert ops["/metrics"]["get"]["security"] == keyed  # required in the endpoint itself
    assert "security" not in ops["/health/live"]["get"]  # public


def test_auth_and_loading_come_before_parameters(template, tmp_path):
    from flutter_home import copy, make_keys

    from roost.service import ServiceSettings, create_app

    home = copy(template, tmp_path / "home")
    keys = make_keys(home)
    with TestClient(create_app(ServiceSettings(home=home, load_engine=False))) as c:
        bad = {"k": "0", "max_age_days": "-1"}
        assert c.get("/recommend/wren", params=bad).status_code == 401
        r = c.get("/recommend/wren", params=bad, headers={"X-API-Key": keys["read"]})
        assert r.status_code == 503 and "not available" in r.json()["detail"]
        r = c.get("/search", params=bad, headers={"X-API-Key": keys["read"]})
        assert r.status_code == 503
