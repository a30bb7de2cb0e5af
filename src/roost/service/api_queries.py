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

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from roost.service.config import ServiceSettings
from roost.service.deps import engine, require, runtime
from roost.service.schemas import EmbedIn, EmbedOut, Recommendations
from roost.types import RoostError


class FilterParams(BaseModel):
    """The filter query parameters shared by recommend, similar and search."""

    category: list[str] | None = None
    exclude_category: list[str] | None = None
    max_age_days: float | None = None
    exclude_items: list[str] | None = None
    exclude_authors: list[str] | None = None
    field: list[str] | None = None
    exclude_field: list[str] | None = None

    def spec(self) -> dict[str, Any] | None:
        """The dict :func:`roost.recommend.filters.from_spec` reads."""
        out: dict[str, Any] = {}
        for name in ("category", "exclude_category", "exclude_items", "exclude_authors"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        if self.max_age_days is not None:
            out["max_age_days"] = self.max_age_days
        for name, key in (("field", "fields"), ("exclude_field", "exclude_fields")):
            preds: dict[str, list[str]] = {}
            for pair in getattr(self, name) or ():
                k, _, v = pair.partition("=")
                preds.setdefault(k, []).append(v)
            if preds:
                out[key] = preds
        return out or None


async def filter_params(
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
) -> FilterParams:
    return FilterParams(category=category, exclude_category=exclude_category, max_age_days=max_age_days,
                        exclude_items=exclude_items, exclude_authors=exclude_authors, field=field,
                        exclude_field=exclude_field)  # fmt: skip


def surface_names(settings: ServiceSettings) -> list[str]:
    """The surfaces with channels that the engine will serve (from the same config)."""
    from roost.recommend import surfaces

    path = settings.surfaces or settings.home / "surfaces.toml"
    try:
        found = surfaces.load(path) if path.exists() else surfaces.default()
    except RoostError:
        return []  # the engine refuses it too; /health/ready says why
    return sorted(n for n, s in found.items() if s.channels)


def router(settings: ServiceSettings) -> APIRouter:
    r = APIRouter(tags=["queries"], dependencies=[Depends(require("read"))])
    k_q = Query(10, ge=1, le=settings.max_k, description=f"how many (at most {settings.max_k})")

    names = surface_names(settings)
    Surface = Literal[tuple(names)] if names else str  # noqa: N806 - a type built at start

    @r.get("/recommend/{user}", response_model=Recommendations)
    async def recommend(
        request: Request,
        user: str,
        surface: Surface = Query("home" if "home" in names else (names[0] if names else "home")),
        k: int = k_q,
        explain: bool = True,
        f: FilterParams = Depends(filter_params),
        eng=Depends(engine),
    ) -> dict:
        """Recommendations for ``user`` on ``surface``, each with why (when ``explain``)."""
        result = await runtime(request).query(
            eng.recommend, user, surface=surface, k=k, explain=explain, filters=f.spec()
        )
        return result.to_dict()

    @r.get("/users/{user}/history", response_model=Recommendations)
    async def history(request: Request, user: str, k: int = k_q, eng=Depends(engine)) -> dict:
        """What ``user`` engaged with most recently (likes and other positive events,
        newest first, live events included)."""
        result = await runtime(request).query(eng.history, user, k=k)
        return result.to_dict()

    @r.get("/similar/{item}", response_model=Recommendations)
    async def similar(
        request: Request,
        item: str,
        k: int = k_q,
        version: str | None = Query(None, min_length=1, max_length=256),
        f: FilterParams = Depends(filter_params),
        eng=Depends(engine),
    ) -> dict:
        """More like ``item`` (404 for an unknown item or version)."""
        rt = runtime(request)

        def run():
            if version is not None:
                rt.versions().resolve(version)  # an unknown one is a 404
            return eng.similar(item, k=k, version=version, filters=f.spec()).to_dict()

        return await rt.query(run)

    @r.get("/search", response_model=Recommendations)
    async def search(
        request: Request,
        q: str = Query(..., min_length=1, max_length=1000, pattern=r"\S"),
        mode: str = Query("hybrid", pattern="^(semantic|lexical|hybrid)$"),
        k: int = k_q,
        f: FilterParams = Depends(filter_params),
        eng=Depends(engine),
    ) -> dict:
        """Search item text: ``semantic`` (vectors), ``lexical`` (BM25) or ``hybrid`` (fused)."""
        result = await runtime(request).query(eng.search, q, mode=mode, k=k, filters=f.spec())
        return result.to_dict()

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
