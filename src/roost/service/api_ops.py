"""Health and metrics: /health/live, /health/ready, /metrics (Prometheus text)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from roost.service.deps import require, runtime
from roost.service.runtime import Runtime
from roost.service.schemas import Health


def router() -> APIRouter:
    r = APIRouter(tags=["health"])

    @r.get("/health/live", response_model=Health)
    def live() -> Health:
        """The process answers (no dependency is checked); ``worker`` is its process id
        (``roost serve --workers N`` runs several behind one port)."""
        return Health(ok=True, worker=os.getpid())

    @r.get("/health/ready", response_model=Health, responses={503: {"model": Health}})
    def ready(request: Request):
        """Ready to serve: the engine is loaded and its store and versions check out.

        503 while the engine loads, when it could not be opened, or when a check fails.
        """
        rt = runtime(request)
        ok, problems = readiness(rt)
        body = Health(ok=ok, problems=problems, worker=os.getpid())
        return body if ok else JSONResponse(body.model_dump(), status_code=503)

    @r.get("/metrics", tags=["ops"], response_class=Response,
           responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})  # fmt: skip
    def metrics(request: Request, _=Depends(require("read"))) -> Response:
        """Prometheus text: latency histograms per endpoint (``roost_http_*``) and per
        pipeline stage (``roost_stage_*``), request counts by status, errors, result cache
        hits and misses, catalog sizes."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(
            generate_latest(request.app.state.prometheus), media_type=CONTENT_TYPE_LATEST
        )

    return r


def readiness(rt: Runtime) -> tuple[bool, list[str]]:
    if rt.loading:
        return False, ["the engine is loading"]
    problems: list[str] = []
    if rt.engine is not None:
        ok, found = rt.engine.ready()
        problems.extend(found)
        if not ok and not found:
            problems.append("the engine reports not ready")
    else:
        if rt.settings.load_engine:
            problems.append(f"the engine is not available ({rt.engine_error or 'not started'})")
        problems.extend(f"store: {p}" for p in rt.store().check())
    return not problems, problems


def prometheus_registry(rt: Runtime):
    """A per-app prometheus registry reading the runtime at each scrape."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from roost.monitor.latency import prometheus_collector

    reg = CollectorRegistry(auto_describe=False)
    reg.register(prometheus_collector(rt.http, "roost_http"))

    class Stages:
        def collect(self):
            if rt.engine is not None:
                yield from prometheus_collector(rt.engine.latency, "roost_stage").collect()

    class Counts:
        def collect(self):
            with rt.counts_lock:
                counts = dict(rt.counts)
            total = CounterMetricFamily(
                "roost_http_requests",
                "HTTP requests by route, method and status",
                labels=["route", "method", "status"],
            )
            errors = CounterMetricFamily(
                "roost_http_errors", "HTTP requests answered with a 5xx", labels=["route", "method"]
            )
            err: dict[tuple[str, str], int] = {}
            for (route, method, status), n in sorted(counts.items()):
                total.add_metric([route, method, str(status)], n)
                if status >= 500:
                    err[(route, method)] = err.get((route, method), 0) + n
            for (route, method), n in sorted(err.items()):
                errors.add_metric([route, method], n)
            yield total
            yield errors
            up = GaugeMetricFamily("roost_engine_ready", "1 when the engine is loaded")
            up.add_metric([], 1.0 if rt.engine is not None else 0.0)
            yield up
            if rt.engine is not None:
                cache = rt.engine.cache.stats()
                looked = CounterMetricFamily(
                    "roost_cache_lookups", "Result cache lookups by outcome", labels=["outcome"]
                )
                looked.add_metric(["hit"], cache["hits"])
                looked.add_metric(["miss"], cache["misses"])
                yield looked
            sizes = GaugeMetricFamily("roost_catalog_rows", "Rows in the catalog", labels=["kind"])
            for kind, n in rt.store().counts().items():
                sizes.add_metric([kind], n)
            yield sizes

    reg.register(Stages())
    reg.register(Counts())
    return reg
