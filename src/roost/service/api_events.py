"""POST /events: a batch of interactions, durable before the answer, safe to retry.

The batch is validated with the ingest rules and written in one transaction by the engine,
then applied live (seen filter, popularity, the user's folded-in vector); a 2xx is sent
only after that commit. One bad row refuses the whole batch (422 naming the row and the
field) and stores nothing. The ``Idempotency-Key`` header makes a retry return the first
answer (see :mod:`roost.service.idempotency`).
"""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import Response

from roost.data.ingest import ingest_table
from roost.service.api_catalog import live_engine
from roost.service.config import ServiceSettings
from roost.service.deps import Principal, require, runtime
from roost.service.idempotency import MAX_KEY_CHARS, KeyConflict, derived_event_id, fingerprint
from roost.service.rows import arrow_table
from roost.service.schemas import EventsIn, EventsOut, Message
from roost.types import RoostError

REPLAYED = "Idempotent-Replayed"


def router(settings: ServiceSettings) -> APIRouter:
    r = APIRouter(tags=["events"])
    cap = settings.max_page

    @r.post(
        "/events",
        response_model=EventsOut,
        status_code=201,
        responses={409: {"model": Message}},
    )
    def post_events(
        request: Request,
        body: EventsIn,
        idempotency_key: str = Header(
            ...,
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_KEY_CHARS,
            description="a unique key per batch (a UUID); a retry with the same key and body "
            "returns the first answer, with another body 422",
        ),
        who: Principal = Depends(require("admin")),
    ) -> Response:
        """Store a batch of events (at most ``max_page``); 201 means they are durable."""
        rt = runtime(request)
        if len(body.events) > cap:
            raise RoostError(f"events: {len(body.events)} in one batch, the limit is {cap}")
        events = [e.model_dump() for e in body.events]
        for e in events:
            if who.kind == "session" and e["user_id"] != who.user:
                raise HTTPException(
                    403, f"signed in as {who.user!r}: cannot send events as {e['user_id']!r}"
                )
        scope = f"{who.kind}:{who.name or who.user or ''}"
        key = f"{scope}\0{idempotency_key}"
        fp = fingerprint(events)
        first = rt.idempotency.get(key)
        if first is not None:
            if first.fingerprint != fp:
                raise RoostError(
                    "Idempotency-Key: this key was used with another body; use a new key per batch"
                )
            return Response(first.body, status_code=first.status, media_type="application/json",
                            headers={REPLAYED: "true"})  # fmt: skip
        try:
            with rt.idempotency.claim(key):
                now = int(time.time())
                for i, e in enumerate(events):
                    if e["ts"] is None:
                        e["ts"] = now
                    if e["event_id"] is None:
                        e["event_id"] = derived_event_id(scope, idempotency_key, i)
                eng = live_engine(rt)
                if eng is not None:
                    stored = eng.add_events(events)
                else:
                    stored = ingest_table(rt.store(), "events", arrow_table("events", events),
                                          source="events request").stored  # fmt: skip
                payload = orjson.dumps(EventsOut(received=len(events), stored=stored).model_dump())
                rt.idempotency.put(key, fp, 201, payload)
        except KeyConflict:
            raise HTTPException(
                409, "a request with this Idempotency-Key is still running"
            ) from None
        return Response(payload, status_code=201, media_type="application/json")

    return r
