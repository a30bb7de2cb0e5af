"""The Flutter web app: server-rendered pages over the engine, a little vanilla JS.

Signing in: with API keys configured, the browser first opens the sign-in link the server
printed at start (``/signin?token=...``, as a notebook server prints its token); that
grants the session (cookie signed by Starlette's SessionMiddleware, itsdangerous). Then
the visitor picks a bird. A service started with ``--open`` (loopback only) needs no link. The pages'
buttons call the JSON API with the session cookie and a CSRF token; the session acts as
its bird only (see :mod:`roost.service.deps`).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from roost.service import dashboard, explorer
from roost.service.api_ops import readiness
from roost.service.api_versions import index_figures
from roost.service.cards import cards, display_names, following
from roost.service.config import ServiceSettings
from roost.service.deps import runtime
from roost.service.keys import KeysError
from roost.types import RoostError

WEB = Path(__file__).resolve().parents[1] / "web"
SESSION_COOKIE = "roost_session"
SHOWN_LIKES = 20  # the timeline's "your likes" list
SHOWN = 20  # cards on a page
PAGES = ("/web/", "/signin", "/signout")  # and "/": where errors are pages, not JSON
log = logging.getLogger("roost.service")


def _session(request: Request) -> dict[str, Any]:
    s = request.session
    if "csrf" not in s:
        s["csrf"] = secrets.token_urlsafe(24)
    rt = runtime(request)
    if rt.open and not s.get("access"):
        s["access"], s["role"] = True, "admin"  # open mode (loopback): no link needed
    return s


def _access(rt, s: dict[str, Any]) -> bool:
    """Whether session ``s`` may act: granted, and the deployment still has a way in (a
    session granted under keys ends with the last key, as API calls do)."""
    if not s.get("access"):
        return False
    if rt.open:
        return True
    try:
        return bool(rt.keys)
    except KeysError:
        return False


def _signed_in(request: Request) -> str | None:
    s = _session(request)
    return s.get("user") if _access(runtime(request), s) else None


def _page(request: Request, templates: Jinja2Templates, name: str, **ctx: Any) -> HTMLResponse:
    s = _session(request)
    rt = runtime(request)
    user = s.get("user") if _access(rt, s) else None
    base = {"user": user, "csrf": s["csrf"], "role": s.get("role"),
            "engine_ready": rt.engine is not None, "engine_error": rt.engine_error,
            "loading": rt.loading, "path": request.url.path,
            "me_name": display_names(rt.store(), [user]).get(user, user) if user else None}  # fmt: skip
    return templates.TemplateResponse(request, name, {**base, **ctx},
                                      status_code=ctx.pop("status_code", 200))  # fmt: skip


def _liked(rt, user: str) -> list[str]:
    """The bird's recent likes, newest first, from the engine (live events included)."""
    if rt.engine is None:
        return []
    return [r.id for r in rt.engine.history(user, k=SHOWN_LIKES).items]


def _items(rt, ids: list[str]) -> dict[str, dict]:
    store = rt.store()
    return {i: row for i in ids if (row := store.get("items", (i,))) is not None}


def install_session(app: FastAPI, settings: ServiceSettings) -> None:
    """The signed session cookie of the web app (a middleware: the app factory places it)."""
    app.add_middleware(SessionMiddleware, secret_key=settings.session_key(), session_cookie=SESSION_COOKIE,
                       same_site="lax", https_only=False, max_age=14 * 86_400)  # fmt: skip


def is_page(request: Request) -> bool:
    """Whether an error here is shown as an HTML page (the web app's paths, or a browser
    asking for an unknown path) rather than JSON (the API)."""
    path = request.url.path
    if path == "/" or path.startswith(PAGES):
        return True
    routed = request.scope.get("route") is not None
    return not routed and "text/html" in request.headers.get("accept", "")


def install(app: FastAPI, settings: ServiceSettings) -> None:
    """Add the pages and the static files to ``app`` (:func:`install_session` adds the
    session)."""
    templates = Jinja2Templates(directory=str(WEB / "templates"))
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    json_http = app.exception_handlers.get(StarletteHTTPException)
    json_crash = app.exception_handlers.get(Exception)

    def error_page(request: Request, status: int, message: str) -> HTMLResponse:
        try:
            return _page(request, templates, "error.html", status_code=status, status=status,
                         message=message)  # fmt: skip
        except Exception:  # the page itself failed (the store is gone): plain words
            return HTMLResponse(f"<!DOCTYPE html><title>Error</title><h1>Error {status}</h1>"
                                "<p>Something went wrong.</p>", status_code=status)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        if is_page(request):
            words = e.detail if isinstance(e.detail, str) else "this request was refused"
            if e.status_code == 404 and request.scope.get("route") is None:
                words = f"there is no page at {request.url.path}"
            return error_page(request, e.status_code, words)
        if json_http is not None:
            return await json_http(request, e)
        return JSONResponse({"detail": e.detail}, status_code=e.status_code)

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception):
        if is_page(request):
            log.error("%s %s failed", request.method, request.url.path, exc_info=e)
            return error_page(request, 500, "something went wrong on the server (see its log)")
        return await json_crash(request, e)

    def need_bird(request: Request) -> str | RedirectResponse:
        user = _signed_in(request)
        return user if user else RedirectResponse("/signin", status_code=303)

    def deck(rt, user: str, results, *, explain: bool = True):
        """Cards of engine results for ``user`` (liked and follow state as stored)."""
        store = rt.store()
        rows = [(r.id, r.title, r.why if explain else None) for r in results]
        return cards(store, rows, user=user, liked=set(_liked(rt, user)),
                     follows=following(store, user))  # fmt: skip

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def timeline(request: Request):
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        recs, error = [], None
        if rt.engine is not None:
            try:
                recs = rt.engine.recommend(user, surface="home", k=SHOWN, explain=True).items
            except RoostError as e:
                error = str(e)
        store = rt.store()
        liked = _liked(rt, user)
        follows = following(store, user)
        names = display_names(store, follows)
        return _page(request, templates, "timeline.html", cards=deck(rt, user, recs), error=error,
                     likes=cards(store, [(i, None, None) for i in liked], user=user),
                     follows=sorted((names.get(b, b), b) for b in follows))  # fmt: skip

    @app.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    def signin(request: Request, token: str | None = Query(None, max_length=200)):
        s = _session(request)
        rt = runtime(request)
        if token is not None:
            if not secrets.compare_digest(token.encode(), rt.settings.web_token.encode()):
                raise HTTPException(
                    403,
                    "this sign-in link is not valid (the server prints a new one at each start)",
                )
            s["access"], s["role"] = True, "admin"
            return RedirectResponse("/signin", status_code=303)  # the token leaves the address bar
        access = _access(rt, s)
        birds = [] if not access else rt.store().ids("users").slice(0, 200).to_pylist()
        return _page(request, templates, "signin.html", birds=birds, access=access,
                     names=display_names(rt.store(), birds) if access else {},
                     sample=rt.store().sample_user() if access else None)  # fmt: skip

    @app.post("/signin", include_in_schema=False)
    def signin_post(
        request: Request,
        user: str = Form(..., max_length=256),
        csrf: str = Form(..., max_length=100),
    ):
        s = _session(request)
        if not _access(runtime(request), s) or not secrets.compare_digest(
            csrf.encode(), s["csrf"].encode()
        ):
            raise HTTPException(403, "open the sign-in link the server printed first")
        user = user.strip()
        if runtime(request).store().get("users", (user,)) is None:
            raise HTTPException(404, f"no bird {user!r} here")
        s["user"] = user
        return RedirectResponse("/", status_code=303)

    @app.post("/signout", include_in_schema=False)
    def signout(request: Request, csrf: str = Form(..., max_length=100)):
        s = _session(request)
        if secrets.compare_digest(csrf.encode(), s["csrf"].encode()):
            s.pop("user", None)
        return RedirectResponse("/signin", status_code=303)

    @app.get("/web/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, q: str = Query("", max_length=1000),
                    mode: str = Query("hybrid", pattern="^(semantic|lexical|hybrid)$")):  # fmt: skip
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        hits, error = [], None
        if q.strip() and rt.engine is not None:
            try:
                hits = rt.engine.search(q, mode=mode, k=SHOWN).items
            except RoostError as e:
                error = str(e)
        return _page(request, templates, "search.html", q=q, mode=mode, error=error,
                     cards=deck(rt, user, hits))  # fmt: skip

    @app.get("/web/items/{item_id}", response_class=HTMLResponse, include_in_schema=False)
    def item_page(request: Request, item_id: str):
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        if rt.store().get("items", (item_id,)) is None:
            raise HTTPException(404, f"no item {item_id!r}")
        similar, error = [], None
        if rt.engine is not None:
            try:
                similar = rt.engine.similar(item_id, k=10).items
            except RoostError as e:
                error = str(e)
        item = deck(rt, user, [_Plain(item_id)], explain=False)[0]
        return _page(request, templates, "item.html", item=item, cards=deck(rt, user, similar),
                     error=error)  # fmt: skip

    @app.get("/web/birds/{bird}", response_class=HTMLResponse, include_in_schema=False)
    def bird_page(request: Request, bird: str):
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        store = rt.store()
        if store.get("users", (bird,)) is None:
            raise HTTPException(404, f"no bird {bird!r} here")
        items = store.read("items").select(["id", "author", "created_at"])
        mine = items.filter(pc.equal(items.column("author"), bird))
        mine = mine.sort_by([("created_at", "descending")]).slice(0, SHOWN)
        posts = deck(rt, user, [_Plain(i) for i in mine.column("id").to_pylist()], explain=False)
        return _page(request, templates, "bird.html", bird=bird, cards=posts,
                     bird_name=display_names(store, [bird]).get(bird, bird),
                     followed=bird in following(store, user))  # fmt: skip

    @app.get("/web/following", response_class=HTMLResponse, include_in_schema=False)
    def following_page(request: Request):
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        store = runtime(request).store()
        follows = following(store, user)
        names = display_names(store, follows)
        return _page(request, templates, "following.html",
                     follows=sorted((names.get(b, b), b) for b in follows))  # fmt: skip

    @app.get("/web/explorer", response_class=HTMLResponse, include_in_schema=False)
    def explorer_page(request: Request, version: str | None = Query(None, max_length=256),
                      method: str = Query("pca", pattern="^(pca|umap|tsne)$"),
                      points: int = Query(2000, ge=10, le=20_000)):  # fmt: skip
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        choices = explorer.item_versions(rt)
        job, error, chosen = None, None, None
        if choices:
            try:
                chosen = explorer.resolve(rt, version or choices[0]["ref"])
                job = explorer.start(rt, chosen, method, points)
            except RoostError as e:
                error = str(e)
        return _page(request, templates, "explorer.html", choices=choices, chosen=chosen,
                     method=method, methods=explorer.methods(), job=job, error=error,
                     points=points)  # fmt: skip

    @app.get("/web/explorer/status", include_in_schema=False)
    def explorer_status(request: Request, version: str = Query("", max_length=256),
                        method: str = Query("pca", pattern="^(pca|umap|tsne)$"),
                        points: int = Query(2000, ge=10, le=20_000)):  # fmt: skip
        if not _signed_in(request):
            raise HTTPException(401, "sign in first")
        job = explorer.find(runtime(request), version, method, points)
        if job is None:
            raise HTTPException(404, "no such map is being drawn")
        return job.status()

    @app.get("/web/versions", response_class=HTMLResponse, include_in_schema=False)
    def versions_page(request: Request, a: str | None = Query(None, max_length=256),
                      b: str | None = Query(None, max_length=256)):  # fmt: skip
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        vs = rt.versions()
        infos = vs.list()
        recall = {i.id: index_figures(rt, i.id) for i in infos}
        diff, error = None, None
        if a and b:
            try:
                diff = vs.diff(a, b)
            except RoostError as e:
                error = str(e)
        ok, problems = readiness(rt)
        return _page(request, templates, "versions.html", infos=infos, aliases=vs.aliases(), recall=recall,
                     diff=diff, a=a, b=b, error=error, ready=ok, problems=problems)  # fmt: skip

    @app.get("/web/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_page(request: Request):
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        return _page(request, templates, "dashboard.html", **dashboard.figures(runtime(request)))


class _Plain:
    """An item shown without reasons (its own page, a bird's posts)."""

    def __init__(self, item_id: str):
        self.id, self.title, self.why = item_id, None, None
