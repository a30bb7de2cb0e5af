"""The Flutter web app: server-rendered pages over the engine, a little vanilla JS.

Signing in: with API keys configured, the browser first opens the sign-in link the server
printed at start (``/signin?token=...``, as a notebook server prints its token); that
grants the session (cookie signed by Starlette's SessionMiddleware, itsdangerous). Then
the visitor picks a bird. A service started with ``--open`` (loopback only) needs no link. The pages'
buttons call the JSON API with the session cookie and a CSRF token; the session acts as
its bird only (see :mod:`roost.service.deps`).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from roost.service import explorer
from roost.service.api_ops import readiness
from roost.service.api_versions import index_figures
from roost.service.config import ServiceSettings
from roost.service.deps import runtime
from roost.service.keys import KeysError
from roost.types import RoostError

WEB = Path(__file__).resolve().parents[1] / "web"
SESSION_COOKIE = "roost_session"
SHOWN_LIKES = 20  # the timeline's "your likes" list


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
    base = {"user": s.get("user") if _access(rt, s) else None, "csrf": s["csrf"],
            "role": s.get("role"), "engine_ready": rt.engine is not None,
            "engine_error": rt.engine_error, "loading": rt.loading}  # fmt: skip
    return templates.TemplateResponse(request, name, {**base, **ctx})


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


def install(app: FastAPI, settings: ServiceSettings) -> None:
    """Add the pages and the static files to ``app`` (:func:`install_session` adds the
    session)."""
    templates = Jinja2Templates(directory=str(WEB / "templates"))
    templates.env.filters["why"] = explain_line
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")

    def need_bird(request: Request) -> str | RedirectResponse:
        user = _signed_in(request)
        return user if user else RedirectResponse("/signin", status_code=303)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def timeline(request: Request):
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        recs, error = [], None
        if rt.engine is not None:
            try:
                recs = rt.engine.recommend(user, surface="home", k=20, explain=True).items
            except RoostError as e:
                error = str(e)
        rows = _items(rt, [r.id for r in recs])
        liked = _liked(rt, user)
        return _page(request, templates, "timeline.html", recs=recs, rows=rows, error=error,
                     liked=set(liked), liked_rows=_items(rt, liked))  # fmt: skip

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
                hits = rt.engine.search(q, mode=mode, k=20).items
            except RoostError as e:
                error = str(e)
        return _page(request, templates, "search.html", q=q, mode=mode, hits=hits, error=error,
                     rows=_items(rt, [h.id for h in hits]), liked=set(_liked(rt, user)))  # fmt: skip

    @app.get("/web/items/{item_id}", response_class=HTMLResponse, include_in_schema=False)
    def item_page(request: Request, item_id: str):
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        row = rt.store().get("items", (item_id,))
        if row is None:
            raise HTTPException(404, f"no item {item_id!r}")
        similar, error = [], None
        if rt.engine is not None:
            try:
                similar = rt.engine.similar(item_id, k=10).items
            except RoostError as e:
                error = str(e)
        return _page(request, templates, "item.html", item=row, similar=similar, error=error,
                     rows=_items(rt, [s.id for s in similar]), liked=set(_liked(rt, user)))  # fmt: skip

    @app.get("/web/explorer", response_class=HTMLResponse, include_in_schema=False)
    def explorer_page(request: Request, version: str | None = Query(None, max_length=256),
                      method: str = Query("pca", pattern="^(pca|umap|tsne)$"),
                      points: int = Query(2000, ge=10, le=20_000)):  # fmt: skip
        user = need_bird(request)
        if isinstance(user, RedirectResponse):
            return user
        rt = runtime(request)
        choices = explorer.item_versions(rt)
        svg, legend, error, chosen = None, [], None, None
        if choices:
            chosen = version or choices[0]["ref"]
            try:
                svg, legend = explorer.svg_map(rt, chosen, method, points)
            except RoostError as e:
                error = str(e)
        return _page(request, templates, "explorer.html", choices=choices, chosen=chosen, method=method,
                     methods=explorer.methods(), svg=svg, legend=legend, error=error, points=points)  # fmt: skip

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


_CHANNEL_WORDS = {
    "followed": "from a bird you follow",
    "popular": "popular right now",
    "fresh": "new",
    "cooccurrence": "liked together with what you liked",
    "cluster": "from a cluster of your tastes",
    "user_to_item": "matches your taste",
    "item_to_item": "similar to something you liked",
    "semantic": "matches the meaning of your search",
    "lexical": "matches the words of your search",
    "hybrid": "matches your search",
}


def explain_line(why: dict[str, Any]) -> str:
    """One reason of a result in words (Jinja filter ``why``)."""
    if "because_title" in why:
        return f"because you liked “{why['because_title']}”"
    if "shared_tags" in why:
        return "tags you like: " + ", ".join(why["shared_tags"])
    if "ranker_top_features" in why:
        feats = why["ranker_top_features"]
        return "ranked on " + ", ".join(f"{k} {v:+.2f}" for k, v in feats.items())
    if "channel" in why:
        kind = str(why["channel"]).split(":")[0]
        words = _CHANNEL_WORDS.get(kind, kind.replace("_", " "))
        if why.get("author"):
            words += f" ({why['author']})"
        return words
    return ", ".join(f"{k}: {v}" for k, v in why.items())
