"""Items, users and follows: create, read, update, delete.

Writes that change what the recommender sees (items, follows) go through the engine, which
stores them and applies them live; with no engine (a home without versions) they go to the
store alone. Users go to the store: nothing live depends on a user's name.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pyarrow.compute as pc
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response

from roost.data.ingest import ingest_table
from roost.service.config import ServiceSettings
from roost.service.deps import Principal, require, runtime
from roost.service.rows import arrow_table, canonical
from roost.service.runtime import Runtime
from roost.service.schemas import (
    Follow,
    FollowIn,
    Item,
    ItemFields,
    ItemIn,
    ItemPage,
    User,
    UserFields,
    UserIn,
    UserPage,
)


def live_engine(rt: Runtime):
    """The engine for a live write; None when there is none to tell (store only); 503
    while it loads (a write now would be missed by the catalog it is reading)."""
    if rt.engine is not None:
        return rt.engine
    if rt.loading:
        raise HTTPException(503, "the engine is loading", headers={"Retry-After": "5"})
    return None


def _store_rows(rt: Runtime, kind: str, rows: list[dict[str, Any]]) -> None:
    ingest_table(rt.store(), kind, arrow_table(kind, rows), source=f"{kind} request")


def _page(table, offset: int, limit: int) -> dict[str, Any]:
    """A page of rows with ``fields`` as an object, as a single row reads."""
    rows = table.slice(offset, limit).to_pylist()
    for row in rows:
        if isinstance(row.get("fields"), str):
            row["fields"] = orjson.loads(row["fields"])
    return {"total": table.num_rows, "offset": offset, "limit": limit, "items": rows}


def _own(who: Principal, user: str | None, what: str) -> None:
    """A web session acts as its bird only."""
    if who.kind == "session" and user != who.user:
        raise HTTPException(403, f"signed in as {who.user!r}: cannot {what} as {user!r}")


# An id in a path where the item or user is written: it must hold a non-blank character.
def path_id() -> Any:
    return Path(..., max_length=256, pattern=r"\S")


def router(settings: ServiceSettings) -> APIRouter:
    r = APIRouter()
    read, admin = Depends(require("read")), require("admin")
    offset_q = Query(0, ge=0, le=10**9)
    limit_q = Query(
        50, ge=1, le=settings.max_page, description=f"page size (at most {settings.max_page})"
    )

    # --- items ---------------------------------------------------------------------------
    def put_item(request: Request, who: Principal, item: dict[str, Any]) -> dict[str, Any]:
        rt = runtime(request)
        if item.get("created_at") is None:
            item["created_at"] = int(time.time())
        if who.kind == "session":
            item["author"] = item.get("author") or who.user
            _own(who, item["author"], "post")
        row = canonical("items", [item])[0]
        eng = live_engine(rt)
        if eng is not None:
            eng.put_item(row)
        else:
            _store_rows(rt, "items", [item])
        return rt.store().get("items", (row["id"],)) or row

    @r.get("/items", response_model=ItemPage, tags=["items"], dependencies=[read])
    def list_items(request: Request, offset: int = offset_q, limit: int = limit_q,
                   category: str | None = Query(None, max_length=1000)) -> dict:  # fmt: skip
        """Items in catalog order, a page at a time (optionally of one category)."""
        t = runtime(request).store().read("items")
        if category is not None:
            t = t.filter(pc.equal(t.column("category"), category))
        return _page(t, offset, limit)

    @r.post("/items", response_model=Item, status_code=201, tags=["items"])
    def create_item(request: Request, body: ItemIn, who: Principal = Depends(admin)) -> dict:
        """Add an item (a flit): stored, then live (searchable, recommendable) at once.
        409 when the id exists (use PUT to replace)."""
        item_id = canonical("items", [{"id": body.id}])[0]["id"]  # as stored: trimmed
        if runtime(request).store().get("items", (item_id,)) is not None:
            raise HTTPException(409, f"item {item_id!r} exists; PUT /items/{{id}} replaces it")
        return put_item(request, who, body.model_dump())

    @r.get("/items/{item_id}", response_model=Item, tags=["items"], dependencies=[read])
    def get_item(request: Request, item_id: str) -> dict:
        row = runtime(request).store().get("items", (item_id,))
        if row is None:
            raise HTTPException(404, f"no item {item_id!r}")
        return row

    @r.put("/items/{item_id}", response_model=Item, tags=["items"])
    def replace_item(request: Request, item_id: str = path_id(), body: ItemFields = Body(),
                     who: Principal = Depends(admin)) -> dict:  # fmt: skip
        """Create or replace an item."""
        if who.kind == "session":
            old = runtime(request).store().get("items", (item_id,))
            if old is not None:
                _own(who, old.get("author"), "edit another bird's item")
        return put_item(request, who, {**body.model_dump(), "id": item_id})

    @r.delete("/items/{item_id}", status_code=204, tags=["items"])
    def delete_item(request: Request, item_id: str, who: Principal = Depends(admin)) -> Response:
        rt = runtime(request)
        old = rt.store().get("items", (item_id,))
        if old is None:
            raise HTTPException(404, f"no item {item_id!r}")
        if who.kind == "session":
            _own(who, old.get("author"), "delete another bird's item")
        eng = live_engine(rt)
        if eng is not None:
            eng.delete_item(item_id)
        else:
            with rt.store().transaction() as w:
                w.delete("items", [(item_id,)])
        return Response(status_code=204)

    # --- users ---------------------------------------------------------------------------
    @r.get("/users", response_model=UserPage, tags=["users"], dependencies=[read])
    def list_users(request: Request, offset: int = offset_q, limit: int = limit_q) -> dict:
        return _page(runtime(request).store().read("users"), offset, limit)

    @r.post(
        "/users",
        response_model=User,
        status_code=201,
        tags=["users"],
        dependencies=[Depends(admin)],
    )
    def create_user(request: Request, body: UserIn) -> dict:
        rt = runtime(request)
        row = canonical("users", [body.model_dump()])[0]
        if rt.store().get("users", (row["id"],)) is not None:
            raise HTTPException(409, f"user {row['id']!r} exists; PUT /users/{{id}} replaces it")
        _store_rows(rt, "users", [row])
        return rt.store().get("users", (row["id"],))

    @r.get("/users/{user_id}", response_model=User, tags=["users"], dependencies=[read])
    def get_user(request: Request, user_id: str) -> dict:
        row = runtime(request).store().get("users", (user_id,))
        if row is None:
            raise HTTPException(404, f"no user {user_id!r}")
        return row

    @r.put("/users/{user_id}", response_model=User, tags=["users"], dependencies=[Depends(admin)])
    def replace_user(request: Request, user_id: str = path_id(), body: UserFields = Body()) -> dict:
        rt = runtime(request)
        row = canonical("users", [{**body.model_dump(), "id": user_id}])[0]
        _store_rows(rt, "users", [row])
        return rt.store().get("users", (row["id"],))

    @r.delete("/users/{user_id}", status_code=204, tags=["users"], dependencies=[Depends(admin)])
    def delete_user(request: Request, user_id: str) -> Response:
        rt = runtime(request)
        with rt.store().transaction() as w:
            if not w.delete("users", [(user_id,)]):
                raise HTTPException(404, f"no user {user_id!r}")
        return Response(status_code=204)

    # --- follows -------------------------------------------------------------------------
    @r.get(
        "/users/{user_id}/follows",
        response_model=list[Follow],
        tags=["follows"],
        dependencies=[read],
    )
    def follows_of(request: Request, user_id: str) -> list[dict]:
        """Whom ``user_id`` follows."""
        t = runtime(request).store().read("follows")
        return t.filter(pc.equal(t.column("follower"), user_id)).to_pylist()

    @r.put("/follows", response_model=Follow, tags=["follows"])
    def follow(request: Request, body: FollowIn, who: Principal = Depends(admin)) -> dict:
        """``follower`` follows ``followee`` (live: their items reach the follower's timeline)."""
        _own(who, body.follower, "follow")
        rt = runtime(request)
        row = canonical("follows", [{**body.model_dump(), "ts": int(time.time())}])[0]
        eng = live_engine(rt)
        if eng is not None:
            eng.put_follow(row["follower"], row["followee"])
        else:
            _store_rows(rt, "follows", [row])
        return rt.store().get("follows", (row["follower"], row["followee"])) or row

    @r.delete("/follows/{follower}/{followee}", status_code=204, tags=["follows"])
    def unfollow(
        request: Request, follower: str, followee: str, who: Principal = Depends(admin)
    ) -> Response:
        """``follower`` stops following ``followee`` (live: their items leave the timeline)."""
        _own(who, follower, "unfollow")
        rt = runtime(request)
        eng = live_engine(rt)
        if eng is not None:
            removed = eng.delete_follow(follower, followee)
        else:
            with rt.store().transaction() as w:
                removed = w.delete("follows", [(follower, followee)])
        if not removed:
            raise HTTPException(404, f"{follower!r} does not follow {followee!r}")
        return Response(status_code=204)

    return r
