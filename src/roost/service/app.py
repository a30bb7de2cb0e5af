"""The app factory: :func:`create_app` wires settings, runtime, middleware and routers."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from roost import __version__
from roost.service import (
    api_catalog,
    api_events,
    api_ops,
    api_queries,
    api_versions,
    deps,
    docs,
    errors,
    web,
)
from roost.service.config import ServiceSettings
from roost.service.middleware import BodyLimit, Metrics
from roost.service.runtime import Runtime
from roost.service.schemas import Message

# Documented on every API route: a client (and schemathesis) knows each can happen.
COMMON = {code: {"model": Message} for code in (401, 403, 404, 409, 413, 503)}


SETTINGS_ENV = "ROOST_SERVE_SETTINGS"


def app_from_env() -> FastAPI:
    """The app of one worker of ``roost serve --workers N``: the parent resolved the
    settings once and hands them down as JSON in ``ROOST_SERVE_SETTINGS`` (one web token,
    one open/closed decision for every worker)."""
    import os

    return create_app(ServiceSettings.from_json(os.environ[SETTINGS_ENV]))


def create_app(settings: ServiceSettings | str | Path | None = None) -> FastAPI:
    """The Roost HTTP service and web app for one home.

    Parameters
    ----------
    settings : :class:`ServiceSettings`, or a home path (other settings from the
        environment and defaults).

    Examples
    --------
    >>> import tempfile
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(ServiceSettings(home=tempfile.mkdtemp(), load_engine=False))
    >>> with TestClient(app) as client:
    ...     client.get("/health/live").json()["ok"]
    True
    """
    if not isinstance(settings, ServiceSettings):
        settings = ServiceSettings.from_env(settings)
    settings = settings.with_(home=Path(settings.home).expanduser().absolute())
    rt = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt.start()
        try:
            yield
        finally:
            rt.close()

    app = FastAPI(
        title="Roost",
        version=__version__,
        description="Recommendations, more-like-this and search over one Roost home. "
        "Send an API key as `X-API-Key` (or `Authorization: Bearer`); roles: read, admin.",
        lifespan=lifespan,
        responses=COMMON,
        docs_url=None,  # served from installed files by roost.service.docs, not a CDN
        redoc_url=None,
    )
    app.state.runtime = rt
    app.state.prometheus = api_ops.prometheus_registry(rt)
    errors.install(app)
    app.include_router(api_ops.router())
    # The queries before the catalog: routes are matched in order, and recommend and search
    # are most of the traffic (no two routers share a path, so only the docs' order moves).
    app.include_router(api_queries.router(settings))
    app.include_router(api_catalog.router(settings))
    app.include_router(api_events.router(settings))
    app.include_router(api_versions.router())
    web.install(app, settings)
    docs.install(app)
    deps.document_keys(app)
    # Innermost first; metrics (outermost) see every answer, including 401 and 413.
    app.add_middleware(BodyLimit, limit=settings.max_body)
    # Inside the session (a session may authenticate), outside the body limit and every
    # router: a caller without credentials gets 401 before anything of the request is read.
    app.add_middleware(deps.Authenticate, routes=deps.guarded_routes(app))
    web.install_session(app, settings)
    if settings.cors_origins:  # outside authentication: a preflight carries no key
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(Metrics, runtime=rt)
    return app
