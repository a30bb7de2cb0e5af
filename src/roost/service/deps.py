"""Dependencies every router uses: the runtime, the caller's role, the engine, caps.

Who may call: a request carries an API key (``X-API-Key: roost_...`` or ``Authorization:
Bearer roost_...``), or the web app's signed session cookie. With no keys configured the
API is open (loopback only, see :func:`roost.cli.serve.serve_forever`). Roles are ordered:
``read`` < ``admin``. A session may write only with the CSRF token of its pages
(``X-Roost-CSRF``), so another site cannot post on a signed-in bird's behalf.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from roost.service.runtime import Runtime

RANK = {"public": 0, "read": 1, "admin": 2}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-Roost-CSRF"

_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key: roost_<id>_<secret>"
)
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``kind`` is key, session or open; ``user`` is a session's bird."""

    kind: str
    role: str
    name: str = ""
    user: str | None = None


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="roost"'})


async def principal(
    request: Request, key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, or 401. An invalid key is refused even where a session exists.

    The dependencies here run on the event loop: a hop to the thread pool costs more than
    they do. The one slow step, deriving a key's hash the first time it is seen (and for
    every wrong key), goes to the thread pool so it never stalls other requests.
    """
    rt = runtime(request)
    given = key or (bearer.credentials if bearer else None)
    if given:
        record = rt.keys.verified(given) or await run_in_threadpool(rt.keys.check, given)
        if record is None:
            raise _unauthorized("invalid API key")
        return Principal("key", record.role, name=record.id)
    session = request.scope.get("session") or {}
    if session.get("access"):
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not secrets.compare_digest(sent.encode(), str(session.get("csrf", "")).encode()):
                raise HTTPException(
                    403, f"a session's writes need the {CSRF_HEADER} header of its pages"
                )
        return Principal("session", session.get("role", "read"), user=session.get("user"))
    if not rt.keys:
        return Principal("open", "admin")
    raise _unauthorized("an API key is required (X-API-Key header or Authorization: Bearer)")


def require(role: str) -> Callable[..., Principal]:
    """A dependency admitting callers of ``role`` or above (403 otherwise)."""

    # The two schemes are read here, not declared as Security dependencies: FastAPI solves
    # each dependency anew on every request, and three of them cost more than the key
    # check itself. document_keys() puts the schemes back in the OpenAPI schema.
    async def check(request: Request) -> Principal:
        who = await principal(request, await _api_key(request), await _bearer(request))
        if RANK[who.role] < RANK[role]:
            raise HTTPException(403, f"this needs the {role} role; the caller has {who.role}")
        return who

    check.__name__ = f"require_{role}"
    check.roost_role = role  # type: ignore[attr-defined] - found by document_keys()
    return check


def _needs_key(dependant: Dependant) -> bool:
    return any(getattr(d.call, "roost_role", None) or _needs_key(d) for d in dependant.dependencies)


def document_keys(app: FastAPI) -> None:
    """List the key schemes in ``app``'s OpenAPI schema, and on every operation behind
    :func:`require`, as FastAPI would for ``Security`` dependencies."""
    schemes = {
        s.scheme_name: jsonable_encoder(s.model, by_alias=True, exclude_none=True)
        for s in (_api_key, _bearer)
    }
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; the additions below are idempotent
        paths = schema.get("paths", {})
        keyed = False
        # Route contexts, as the schema is made from: they carry the routers' dependencies.
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            if route.path_format in paths and _needs_key(route.dependant):
                keyed = True
                for method in route.methods:
                    op = paths[route.path_format].get(method.lower())
                    if op is not None:
                        op["security"] = [{name: []} for name in schemes]
        if keyed:
            schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def engine(request: Request):
    """The engine, or 503 while it loads or when it could not be opened."""
    rt = runtime(request)
    if rt.engine is None:
        why = (
            "the engine is loading"
            if rt.loading
            else f"the engine is not available ({rt.engine_error or 'not started'})"
        )
        raise HTTPException(503, why, headers={"Retry-After": "5"} if rt.loading else None)
    return rt.engine
