"""Queries: /recommend/{user}, /users/{user}/history, /similar/{item}, /search, /embed.
Thin: each calls the engine.

Filters come as query parameters (``category`` and the others, repeatable) and/or as one
``filters`` parameter holding the JSON form that
:func:`roost.recommend.filters.from_spec` reads (``{"fields": {"lang": "en"}}``); the engine
refuses an unknown key by name.
"""

# No `from __future__ import annotations`: the surface type is built when the router is,
# and FastAPI must see it as an object, not as a name to look up in this module.
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from roost.service.config import ServiceSettings
from roost.service.deps import engine, require, runtime
from roost.service.queryparams import QueryParser
from roost.service.schemas import EmbedIn, EmbedOut, Recommendations, SearchResults, SimilarItems
from roost.store.artifacts import Artifacts
from roost.types import RoostError

# The filter query parameters shared by recommend, similar and search, as an endpoint would
# declare them: (name, type, Query). Read by one QueryParser per route (queryparams.py).
FILTERS: list[tuple[str, Any, Any]] = [
    ("category", list[str] | None, Query(None, description="only these categories")),
    ("exclude_category", list[str] | None, Query(None, description="not these categories")),
    ("max_age_days", float | None,
     Query(None, ge=0, le=1e6, description="only items at most this old")),
    ("exclude_items", list[str] | None, Query(None)),
    ("exclude_authors", list[str] | None, Query(None)),
    ("field", list[Annotated[str, Field(pattern="^[^=]+=")]] | None, Query(
        None, description="NAME=VALUE: the item's field NAME must be VALUE (repeat for several)")),
    ("exclude_field", list[Annotated[str, Field(pattern="^[^=]+=")]] | None,
     Query(None, description="NAME=VALUE: the item's field NAME must not be VALUE")),
]  # fmt: skip


def filter_spec(p: Any) -> dict[str, Any] | None:
    """The dict :func:`roost.recommend.filters.from_spec` reads, from parsed parameters."""
    out: dict[str, Any] = {}
    for name in ("category", "exclude_category", "exclude_items", "exclude_authors"):
        if getattr(p, name):
            out[name] = list(getattr(p, name))
    if p.max_age_days is not None:
        out["max_age_days"] = p.max_age_days
    for name, key in (("field", "fields"), ("exclude_field", "exclude_fields")):
        preds: dict[str, list[str]] = {}
        for pair in getattr(p, name) or ():
            k, _, v = pair.partition("=")
            preds.setdefault(k, []).append(v)
        if preds:
            out[key] = preds
    return out or None


def json_response(payload: Any) -> Response:
    """``payload`` (plain JSON values: a result's ``to_dict()``) as a JSON response.

    Returning a Response skips FastAPI's validation of the route's response model (still
    declared, for the schema) against our own output, and its second encoding pass; orjson
    writes what pydantic would (NaN and infinities as null, UTF-8, shortest floats).
    """
    return Response(orjson.dumps(payload, default=_plain), media_type="application/json")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar that reached a reason
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def surface_names(settings: ServiceSettings) -> list[str]:
    """The surfaces with channels that the engine will serve (from the same config)."""
    from roost.recommend import surfaces

    path = settings.surfaces or Artifacts(settings.home).surfaces
    try:
        found = surfaces.load(path) if path.exists() else surfaces.default()
    except RoostError:
        return []  # the engine refuses it too; /health/ready says why
    return sorted(n for n, s in found.items() if s.channels)


def router(settings: ServiceSettings) -> APIRouter:
    r = APIRouter(tags=["queries"], dependencies=[Depends(require("read"))])
    k_q = ("k", int, Query(10, ge=1, le=settings.max_k,
                           description=f"how many (at most {settings.max_k})"))  # fmt: skip

    names = surface_names(settings)
    Surface = Literal[tuple(names)] if names else str  # noqa: N806 - a type built at start
    default_surface = "home" if "home" in names else (names[0] if names else "home")
    # One parser per route. Each endpoint calls the engine dependency, then its parser,
    # itself: FastAPI costs tens of microseconds per dependency it solves on a request, and
    # this order keeps what clients saw (401/403 first, then 503 while loading, then 422).
    rec_q = QueryParser("RecommendQuery", [
        ("surface", Surface, Query(default_surface)), k_q, ("explain", bool, True), *FILTERS])  # fmt: skip
    history_q = QueryParser("HistoryQuery", [k_q])
    similar_q = QueryParser("SimilarQuery", [
        k_q, ("version", str | None, Query(None, min_length=1, max_length=256)), *FILTERS])  # fmt: skip
    search_q = QueryParser("SearchQuery", [
        ("q", str, Query(..., min_length=1, max_length=1000, pattern=r"\S")),
        ("mode", str, Query("hybrid", pattern="^(semantic|lexical|hybrid)$")), k_q, *FILTERS,
    ])  # fmt: skip

    @r.get("/recommend/{user}", response_model=Recommendations, openapi_extra=rec_q.openapi)
    async def recommend(request: Request, user: str) -> Response:
        """Recommendations for ``user`` on ``surface``, each with why (when ``explain``)."""
        eng, p = await engine(request), await rec_q(request)
        asked = {"surface": p.surface, "k": p.k, "explain": p.explain, "filters": filter_spec(p)}
        # a cached answer is a dictionary lookup: served here on the event loop; only a
        # miss waits for the query thread
        result = eng.recommend(user, **asked, cache_only=True)
        if result is None:
            result = await runtime(request).query(eng.recommend, user, **asked)
        return json_response(result.to_dict())

    @r.get("/users/{user}/history", response_model=Recommendations,
           openapi_extra=history_q.openapi)  # fmt: skip
    async def history(request: Request, user: str) -> Response:
        """What ``user`` engaged with most recently (likes and other positive events,
        newest first, live events included)."""
        eng, p = await engine(request), await history_q(request)
        result = await runtime(request).query(eng.history, user, k=p.k)
        return json_response(result.to_dict())

    @r.get("/similar/{item}", response_model=SimilarItems, openapi_extra=similar_q.openapi)
    async def similar(request: Request, item: str) -> Response:
        """More like ``item`` (404 for an unknown item or version)."""
        eng, p = await engine(request), await similar_q(request)
        rt = runtime(request)
        version = p.version

        def run():
            if version is not None:
                rt.versions().resolve(version)  # an unknown one is a 404
            return eng.similar(item, k=p.k, version=version, filters=filter_spec(p)).to_dict()

        out = await rt.query(run)
        out["item"] = out.pop("user")  # the result's subject is the item
        return json_response(out)

    @r.get("/search", response_model=SearchResults, openapi_extra=search_q.openapi)
    async def search(request: Request) -> Response:
        """Search item text: ``semantic`` (vectors), ``lexical`` (BM25) or ``hybrid`` (fused)."""
        eng, p = await engine(request), await search_q(request)
        asked = {"mode": p.mode, "k": p.k, "filters": filter_spec(p)}
        result = eng.search(p.q, **asked, cache_only=True)  # as /recommend does
        if result is None:
            result = await runtime(request).query(eng.search, p.q, **asked)
        out = result.to_dict()
        del out["user"]  # the query, which the answer names as such
        return json_response({"query": p.q, "mode": p.mode, **out})

    @r.post("/embed", response_model=EmbedOut)
    async def embed(request: Request, body: EmbedIn, eng=Depends(engine)) -> dict:
        """Vectors of ``texts`` from a content version (default: alias ``text``)."""
        rt = runtime(request)
        cap = rt.settings.max_page
        if len(body.texts) > cap:
            raise RoostError(f"texts: {len(body.texts)} in one request, the limit is {cap}")

        def run():
            if body.version is not None:
                rt.versions().resolve(body.version)  # an unknown one is a 404
            return eng.embed(body.texts, version=body.version)

        vectors = await rt.query(run)
        return {
            "version": body.version or "text",
            "dim": int(vectors.shape[1]),
            "vectors": vectors.tolist(),
        }

    return r
