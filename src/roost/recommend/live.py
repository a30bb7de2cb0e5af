"""Live writes: requests' events and items turned into rows that ingest validates.

Rows go through :func:`roost.data.ingest.ingest_table` (the same coercion, reference and
duplicate checks as a file ingest, in one transaction), so an event posted over HTTP and
one in a CSV file are held to the same rules. Values are passed as text and coerced by
ingest: a wrong type is then reported for its row and field rather than failing the
whole batch inside Arrow.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pyarrow as pa

from roost.data.ingest import ingest_table
from roost.data.schema import EVENTS, ITEMS
from roost.store.base import CatalogStore
from roost.types import RoostError

MAX_BATCH = 10_000


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def events_table(events: list[dict]) -> pa.Table:
    """Events as a text table with every column of the schema; ``ts`` defaults to now.

    Raises a RoostError naming the row for a row that is not an object or has a key the
    schema does not know.
    """
    if not isinstance(events, list) or not events:
        raise RoostError("add_events: expected a non-empty list of events")
    if len(events) > MAX_BATCH:
        raise RoostError(f"add_events: at most {MAX_BATCH} events per call, got {len(events)}")
    names = EVENTS.names
    now = str(int(time.time()))
    cols: dict[str, list] = {n: [] for n in names}
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise RoostError(f"add_events: row {i}: expected an object, got {type(e).__name__}")
        unknown = sorted(set(e) - set(names))
        if unknown:
            raise RoostError(
                f"add_events: row {i}, field {unknown[0]!r}: unknown field; known: {', '.join(names)}"
            )
        for n in names:
            v = e.get(n)
            cols[n].append(now if n == "ts" and v is None else _text(v))
    return pa.table({n: pa.array(v, pa.string()) for n, v in cols.items()})


def item_table(item: dict) -> pa.Table:
    """One item as a one-row table: schema columns as text, tags as a list, any other
    key into ``fields`` (as ingest does with extra columns)."""
    if not isinstance(item, dict):
        raise RoostError(f"put_item: expected an object, got {type(item).__name__}")
    if not item.get("id"):
        raise RoostError("put_item: field 'id': required")
    known = set(ITEMS.names)
    fields = dict(item.get("fields") or {}) if isinstance(item.get("fields"), dict) else {}
    if item.get("fields") is not None and not isinstance(item.get("fields"), dict):
        raise RoostError("put_item: field 'fields': expected an object")
    fields.update({k: v for k, v in item.items() if k not in known})
    cols: dict[str, pa.Array] = {}
    for n in ITEMS.names:
        if n == "fields":
            cols[n] = pa.array([orjson.dumps(fields).decode() if fields else None], pa.string())
        elif n == "tags":
            tags = item.get("tags")
            if tags is not None and not (
                isinstance(tags, list) and all(isinstance(t, str) for t in tags)
            ):
                raise RoostError("put_item: field 'tags': expected a list of strings")
            cols[n] = pa.array([tags], pa.list_(pa.string()))
        elif n == "created_at" and item.get(n) is None:
            cols[n] = pa.array([str(int(time.time()))], pa.string())
        else:
            cols[n] = pa.array([_text(item.get(n))], pa.string())
    return pa.table(cols)


def store_rows(store: CatalogStore, kind: str, table: pa.Table, source: str) -> int:
    """Validate and store ``table`` in one transaction; nothing is written on a bad row."""
    return ingest_table(store, kind, table, source=source).stored
