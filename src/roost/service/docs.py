"""The API docs (Swagger UI at ``/docs``, ReDoc at ``/redoc``) and the favicon, served from
installed files: the Swagger UI and ReDoc bundles come from the ``fastapi-offline``
package, so the docs render on a machine without internet (FastAPI's own pages load them
from a CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

FAVICON = Path(__file__).resolve().parents[1] / "web" / "static" / "favicon.svg"
ASSETS = "/docs-assets"  # not under /static, which the web app mounts first
# ReDoc's footer shows a logo from its CDN; served patched to our own icon, so the page
# fetches nothing from elsewhere.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _bundle() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").exists() else None


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and ``/favicon.ico`` to ``app`` (made with
    ``docs_url=None, redoc_url=None``)."""
    bundle = _bundle()
    if bundle is not None:
        app.mount(ASSETS, StaticFiles(directory=str(bundle)), name="docs-assets")

    def missing() -> HTMLResponse:
        return HTMLResponse(
            "<!DOCTYPE html><title>API docs</title><h1>API docs</h1><p>The docs pages need "
            "the <code>fastapi-offline</code> package (<code>pip install 'roost[serve]'</code>); "
            "the schema is at <a href='/openapi.json'>/openapi.json</a>.</p>",
            status_code=503,
        )

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        if bundle is None:
            return missing()
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            # no call to the public validator service: nothing leaves the machine
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    redoc_js: list[bytes] = []

    @app.get("/redoc.standalone.js", include_in_schema=False)
    def redoc_bundle() -> Response:
        if bundle is None:
            return missing()
        if not redoc_js:
            text = (bundle / "redoc.standalone.js").read_bytes()
            redoc_js.append(text.replace(REDOC_LOGO.encode(), b"/favicon.ico"))
        return Response(redoc_js[0], media_type="text/javascript",
                        headers={"Cache-Control": "max-age=86400"})  # fmt: skip

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        if bundle is None:
            return missing()
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            redoc_js_url="/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})  # fmt: skip
