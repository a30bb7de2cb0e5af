"""Errors at the HTTP edge: a Roost error becomes a 4xx naming what was wrong.

Unknown ids are 404. Other :class:`~roost.types.RoostError` s are 422 in FastAPI's own
validation shape (``{"detail": [{"loc", "msg", "type"}]}``), so a client reads one shape for
every refused input; ingest row errors keep their row and field in ``loc``. Anything else
is a 500 whose body says nothing internal; the traceback goes to the log (never a header,
so never a key).
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from roost.types import RoostError, UnknownIdError

log = logging.getLogger("roost.service")
_ROW = re.compile(r"row (\d+)")


def _not_found(e: Exception) -> bool:
    if isinstance(e, UnknownIdError):
        return True
    try:
        from roost.store.manifest import UnknownVersionError
    except ImportError:  # pragma: no cover - the store always ships it
        return False
    return isinstance(e, UnknownVersionError)


def roost_error_body(e: RoostError, where: tuple = ("body",)) -> list[dict]:
    """``e`` as validation entries; row errors (ingest) one entry each, with row and field."""
    rows = getattr(e, "errors", None)
    if rows:
        out = []
        for r in rows:
            m = _ROW.search(str(getattr(r, "where", "")))
            loc = [*where, int(m[1]) if m else str(getattr(r, "where", ""))]
            if getattr(r, "field", None):
                loc.append(r.field)
            out.append({"loc": loc, "msg": str(r), "type": "roost"})
        return out
    return [{"loc": list(where), "msg": str(e), "type": "roost"}]


def install(app: FastAPI) -> None:
    @app.exception_handler(RoostError)
    async def _roost(request: Request, e: RoostError) -> JSONResponse:
        if _not_found(e):
            return JSONResponse({"detail": str(e)}, status_code=404)
        return JSONResponse({"detail": roost_error_body(e)}, status_code=422)

    @app.exception_handler(Exception)
    async def _crash(request: Request, e: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=e)
        return JSONResponse({"detail": "internal error (see the service log)"}, status_code=500)
