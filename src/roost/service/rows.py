"""Request rows -> canonical catalog rows, checked with the ingest rules.

The HTTP API accepts the same records as files do, so it validates them with the same
code (:mod:`roost.data.validate`): a bad row is refused with its row number and field,
exactly as a bad line of a file is.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from roost.data.errors import IngestError, RowError
from roost.data.schema import KINDS
from roost.data.validate import coerce_table, plan_columns

_TIME_COLUMNS = {"created_at", "ts"}


def arrow_table(kind: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table whose columns ingest reads: fields as JSON text, times as
    text (a batch may mix epoch seconds and ISO 8601), absent columns left out."""
    names = [c.name for c in KINDS[kind].columns]
    columns: dict[str, list] = {}
    for name in names:
        values = [r.get(name) for r in rows]
        if all(v is None for v in values):
            continue
        if name == "fields":
            try:
                values = [None if v is None else orjson.dumps(v).decode() for v in values]
            except orjson.JSONEncodeError as e:
                raise IngestError("request", message=f"fields: cannot store as JSON: {e}") from None
        elif name in _TIME_COLUMNS:
            values = [None if v is None else str(v) for v in values]
        columns[name] = values
    try:
        return pa.table(columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise IngestError("request", message=f"rows do not form a table: {e}") from None


def canonical(
    kind: str, rows: list[dict[str, Any]], source: str = "request"
) -> list[dict[str, Any]]:
    """Validated canonical rows (tags as lists, fields as dicts, times as epoch seconds).

    Raises :class:`~roost.data.errors.IngestError` listing every bad row as ``row i``.
    """
    table = arrow_table(kind, rows)
    spec = KINDS[kind]
    present, extra = plan_columns(spec, table.column_names, source)
    canon, bad = coerce_table(spec, table, present, extra)
    if bad:
        errors = [RowError(f"row {i}", f, why) for i, (f, why) in sorted(bad.items())]
        raise IngestError(source, errors)
    out = canon.to_pylist()
    for r in out:
        if isinstance(r.get("fields"), str):
            r["fields"] = orjson.loads(r["fields"])
    return out
