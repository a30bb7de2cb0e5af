"""Dependencies every router uses: the runtime, the caller's role, the engine, caps.

Who may call: a request carries an API key (``X-API-Key: roost_...`` or ``Authorization:
Bearer roost_...``), or the web app's signed session cookie. Roles are ordered: ``read`` <
``admin``. A session may write only with the CSRF token of its pages (``X-Roost-CSRF``), so
another site cannot post on a signed-in bird's behalf.

Open or closed is decided once, at start: ``ServiceSettings.open_access`` (``roost serve
--open``, loopback only, see :func:`roost.cli.serve.serve_forever`) lets a caller without
credentials act as admin. Otherwise a protected route needs a valid key or session, whatever
happens to the keys file meanwhile: revoke every key, delete the file or damage it, and the
service refuses (401, or 503 for a file it cannot read) rather than opening.

The check runs before anything of the request is read (:class:`Authenticate`, a middleware
over the routes that :func:`require` guards): a caller without credentials gets 401 for any
body, header or parameter, and learns nothing of what the route would have accepted.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path

from roost.service.keys import KeysError
from roost.service.runtime import Runtime

log = logging.getLogger("roost.service")

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
    """The caller, or 401 (503 when the keys file cannot be read). An invalid key is
    refused even where a session exists.

    The dependencies here run on the event loop: a hop to the thread pool costs more than
    they do. The one slow step, deriving a key's hash the first time it is seen (and for
    every wrong key), goes to the thread pool so it never stalls other requests.
    """
    rt = runtime(request)
    given = key or (bearer.credentials if bearer else None)
    try:
        if given:
            record = rt.keys.verified(given) or await run_in_threadpool(rt.keys.check, given)
            if record is None:
                _say_why_refused(rt)
                raise _unauthorized("invalid API key")
            return Principal("key", record.role, name=record.id)
        session = request.scope.get("session") or {}
        # A session is access granted under this deployment's keys: it ends with the last key.
        if session.get("access") and (rt.open or rt.keys):
            if request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not secrets.compare_digest(
                    sent.encode(), str(session.get("csrf", "")).encode()
                ):
                    raise HTTPException(
                        403, f"a session's writes need the {CSRF_HEADER} header of its pages"
                    )
            return Principal("session", session.get("role", "read"), user=session.get("user"))
    except KeysError as e:
        # The message names a path on the server: the log gets it, the caller does not.
        rt.log_once("keys", f"API keys refused: {e}")
        raise HTTPException(
            503, "the API keys store cannot be read (see the service log)",
            headers={"Retry-After": "30"},
        ) from None  # fmt: skip
    if rt.open:
        return Principal("open", "admin")
    _say_why_refused(rt)
    raise _unauthorized("an API key is required (X-API-Key header or Authorization: Bearer)")


def _say_why_refused(rt: Runtime) -> None:
    """Log once (until it changes) when the keys store leaves no way in at all."""
    try:
        empty = not rt.keys
    except KeysError:
        return
    if empty:
        rt.log_once(
            "keys",
            f"no API keys in {rt.keys.path}: every protected request is refused "
            "(create one with `roost keys create --role admin`)",
        )


async def authorize(request: Request, role: str) -> Principal:
    """The caller if they hold ``role`` or above; 401/403 otherwise."""
    who = await principal(request, await _api_key(request), await _bearer(request))
    if RANK[who.role] < RANK[role]:
        raise HTTPException(403, f"this needs the {role} role; the caller has {who.role}")
    return who


def require(role: str) -> Callable[..., Principal]:
    """A dependency admitting callers of ``role`` or above (403 otherwise).

    Behind :class:`Authenticate` the caller was already checked before the request was
    read; the dependency hands that principal to the endpoint.
    """

    # The two schemes are read here, not declared as Security dependencies: FastAPI solves
    # each dependency anew on every request, and three of them cost more than the key
    # check itself. document_keys() puts the schemes back in the OpenAPI schema.
    async def check(request: Request) -> Principal:
        who = request.scope.get("state", {}).get(PRINCIPAL)
        if who is None or RANK[who.role] < RANK[role]:
            who = await authorize(request, role)
        return who

    check.__name__ = f"require_{role}"
    check.roost_role = role  # type: ignore[attr-defined] - found by document_keys()
    return check


PRINCIPAL = "roost_principal"  # where Authenticate leaves the caller, in the scope's state


def _required_role(dependant: Dependant) -> str | None:
    """The highest role any dependency of ``dependant`` requires, or None."""
    roles = [getattr(d.call, "roost_role", None) or _required_role(d) for d in dependant.dependencies]
    roles = [r for r in roles if r]
    return max(roles, key=RANK.__getitem__) if roles else None


class Authenticate:
    """Plain ASGI middleware: 401/403 for a guarded route before its body, headers or
    parameters are read (FastAPI parses the body before it solves any dependency).

    ``routes`` is :func:`guarded_routes` of the app. A path that one guarded route matches
    with another method is guarded too (read), so the 405 a wrong method earns tells a
    caller without credentials nothing.
    """

    def __init__(self, app, routes: list[tuple[re.Pattern, frozenset, str]]):
        self.app = app
        self._routes = routes

    def _role(self, method: str, path: str) -> str | None:
        found = None
        for pattern, methods, role in self._routes:
            if pattern.match(path):
                if method in methods:
                    return role
                found = found or "read"
        return found

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        role = self._role(scope["method"], scope["path"])
        if role is not None:
            request = Request(scope)
            try:
                scope.setdefault("state", {})[PRINCIPAL] = await authorize(request, role)
            except HTTPException as e:
                response = JSONResponse({"detail": e.detail}, e.status_code, headers=e.headers)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def guarded_routes(app: FastAPI) -> list[tuple[re.Pattern, frozenset, str]]:
    """``(path pattern, methods, role)`` of every route behind :func:`require`, in the
    order the router matches them."""
    out = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute):
            continue
        role = _required_role(route.dependant)
        if role is not None and RANK[role] > 0:
            methods = set(route.methods or ())
            if "GET" in methods:
                methods.add("HEAD")
            out.append((compile_path(route.path)[0], frozenset(methods), role))
    return out


def _needs_key(dependant: Dependant) -> bool:
    return _required_role(dependant) is not None


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
