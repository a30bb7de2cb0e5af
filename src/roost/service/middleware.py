"""Plain ASGI middleware: the body limit, per-endpoint latency and counts, an access log.

Plain ASGI rather than ``BaseHTTPMiddleware``: nothing is buffered, and a body is counted
as it streams, so a client lying in ``Content-Length`` (or sending none) is cut off too.
"""

from __future__ import annotations

import logging
import time

import orjson

from roost.service.runtime import Runtime

access = logging.getLogger("roost.service.access")


async def _send_json(send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a request body over ``limit`` bytes, declared or streamed."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"request body over the limit of {self.limit} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await _send_json(send, 400, "bad Content-Length")
                if declared > self.limit:
                    return await _send_json(send, 413, message)
        seen = 0
        started = refused = False

        async def counted():
            # Over the limit: answer 413 now and tell the app the client left (raising
            # here would be caught by the framework's body parser and become a 400).
            nonlocal seen, refused
            msg = await receive()
            if msg["type"] == "http.request" and not refused:
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    refused = True
                    if not started:
                        await _send_json(send, 413, message)
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg):
            nonlocal started
            if refused:
                return  # the 413 is already sent
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise


class Metrics:
    """Times every request into the runtime's endpoint histograms (by route template, so
    ``/items/{item_id}`` is one series however many items), counts them by status, and
    writes one access-log line: method, path (never the query string, never a header:
    keys and sign-in tokens stay out of logs), status, milliseconds."""

    def __init__(self, app, runtime: Runtime):
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def send_wrapper(msg):
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            name = f"{scope['method']} {path}"
            self.runtime.http.record(name, seconds)
            self.runtime.count(path, scope["method"], status)
            access.info(
                "%s %s %d %.1fms", scope["method"], scope.get("path", ""), status, seconds * 1e3
            )
