"""Validation and type coercion: raw columns in, canonical columns and row errors out.

Every column is coerced with vectorised Arrow/pandas kernels; only when a kernel refuses
do we look value by value, to name the exact row and say why. Good data pays nothing for
the error reporting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from roost.data.errors import IngestError
from roost.data.frames import SCHEMAS
from roost.data.schema import KINDS, MAX_ID_CHARS, MAX_TEXT_CHARS, Column, RecordKind
from roost.types import EVENT_KINDS

# Epoch seconds of 0001-01-01 and 9999-12-31: times outside cannot be real dates.
MIN_TS, MAX_TS = -62_135_596_800, 253_402_300_799
# Beyond 2**53 a float64 no longer holds every integer: such a "value" has lost digits.
MAX_ABS_VALUE = float(2**53)


@dataclass
class Coerced:
    """One coerced column: the canonical array and the rows it refused, with reasons."""

    array: pa.Array
    bad: dict[int, str]


def plan_columns(
    kind: RecordKind, names: list[str], path: str, constants: dict[str, object] | None = None
) -> tuple[list[str], list[str]]:
    """Check the header: returns (canonical columns present, extra columns).

    Raises :class:`IngestError` naming a missing required column or, for closed kinds,
    an unknown one.
    """
    constants = constants or {}
    present = [n for n in names if n in kind.names]
    extra = [n for n in names if n not in kind.names]
    have = set(present) | set(constants)
    missing = [c for c in kind.required if c not in have]
    if missing:
        hint = f"; map it with --map {missing[0]}=COLUMN" if extra else ""
        if missing == ["kind"] and kind.name == "events":
            hint = "; give it with --kind KIND or map it with --map kind=COLUMN"
        raise IngestError(
            path,
            message=f"missing required column {missing[0]!r} (columns: {', '.join(names) or 'none'}){hint}",
        )
    if extra and not kind.open_fields:
        raise IngestError(
            path,
            message=f"unknown column {extra[0]!r} for {kind.name} "
            f"(known: {', '.join(kind.names)}); drop it or map it with --map",
        )
    return present, extra


def coerce_table(
    kind: RecordKind,
    table: pa.Table,
    present: list[str],
    extra: list[str],
    constants: dict[str, object] | None = None,
    tag_sep: str = "|",
) -> tuple[pa.Table, dict[int, tuple[str | None, str]]]:
    """Coerce a raw batch to the canonical schema of ``kind``.

    Returns the canonical table (bad rows still in it) and ``{row: (field, reason)}`` for
    the first problem of each bad row.
    """
    n = table.num_rows
    schema = SCHEMAS[kind.name]
    out: dict[str, pa.Array] = {}
    bad: dict[int, tuple[str | None, str]] = {}
    for col in kind.columns:
        if col.name in present:
            raw = table.column(col.name).combine_chunks()
        elif constants and col.name in constants:
            raw = pa.array([constants[col.name]] * n)
        elif col.type == "json" and extra:
            raw = None
        else:
            out[col.name] = pa.nulls(n, schema.field(col.name).type)
            continue
        if col.type == "json":
            res = _coerce_fields(table, raw, extra)
        else:
            res = COERCERS[col.type](raw, col, tag_sep)
        if col.required:
            for i in np.flatnonzero(pc.is_null(res.array).to_numpy(zero_copy_only=False)):
                res.bad.setdefault(int(i), "missing value")
        for i, why in res.bad.items():
            bad.setdefault(i, (col.name, why))
        out[col.name] = res.array
    arrays = [out[f.name].cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema), bad


# --- one coercer per column type -----------------------------------------------------------


def _as_text(raw: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Any scalar column as trimmed strings, '' as null; nested values are refused."""
    bad: dict[int, str] = {}
    if pa.types.is_dictionary(raw.type):
        raw = raw.dictionary_decode()
    if pa.types.is_floating(raw.type):
        vals = raw.to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(~np.isnan(vals) & (vals != np.round(vals))):
            bad[int(i)] = f"expected text or an integer, got {vals[i]!r}"
        raw = pc.cast(pc.round(raw), pa.int64(), safe=False)
    if pa.types.is_nested(raw.type) or pa.types.is_binary(raw.type):
        return pa.nulls(len(raw), pa.string()), {i: f"expected text, got {raw.type}" for i in range(len(raw))}
    s = pc.utf8_trim_whitespace(raw.cast(pa.string()))
    s = pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)
    # PostgreSQL text cannot hold NUL; refused on every backend, so both report the same.
    nul = pc.match_substring(s, "\x00").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(np.asarray(nul, dtype=bool)):
        bad.setdefault(int(i), "contains a NUL character (0x00), which text may not hold")
    return s, bad


def _coerce_str(limit: int) -> Callable[[pa.Array, Column, str], Coerced]:
    def coerce(raw: pa.Array, col: Column, tag_sep: str) -> Coerced:
        s, bad = _as_text(raw)
        too_long = pc.greater(pc.utf8_length(s), limit).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(np.asarray(too_long, dtype=bool)):
            bad[int(i)] = f"too long: {len(s[int(i)].as_py())} characters (limit {limit})"
        return Coerced(s, bad)

    return coerce


def _numbers(raw: pa.Array, what: str) -> tuple[np.ndarray, np.ndarray, dict[int, str], pd.Series | None]:
    """Parse a column as float64: (values with NaN where none, missing mask, bad rows, texts)."""
    if pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type):
        vals = np.array(raw.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False))
        missing = np.asarray(pc.is_null(raw).to_numpy(zero_copy_only=False), bool)
        return vals, missing, {}, None
    s, bad = _as_text(raw)
    texts = s.to_pandas()
    missing = texts.isna().to_numpy()
    vals = np.array(pd.to_numeric(texts, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    return vals, missing, bad, texts


def _coerce_float(raw: pa.Array, col: Column, tag_sep: str) -> Coerced:
    vals, missing, bad, texts = _numbers(raw, "number")
    for i in np.flatnonzero(np.isnan(vals) & ~missing):
        t = None if texts is None else texts.iat[i]
        if t is None or t.lower().lstrip("+-") == "nan":
            bad.setdefault(int(i), "must be a finite number, got NaN")
        else:
            bad.setdefault(int(i), f"not a number: {_show(t)}")
    for i in np.flatnonzero(np.isinf(vals)):
        bad.setdefault(int(i), "must be a finite number, got infinity")
    with np.errstate(invalid="ignore"):
        huge = np.isfinite(vals) & (np.abs(vals) > MAX_ABS_VALUE)
    for i in np.flatnonzero(huge):
        bad.setdefault(int(i), f"out of range: {vals[i]:.6g} (limit is 2**53 in magnitude)")
    return Coerced(pa.array(vals, pa.float64(), mask=~np.isfinite(vals)), bad)


def _coerce_time(raw: pa.Array, col: Column, tag_sep: str) -> Coerced:
    if pa.types.is_timestamp(raw.type) or pa.types.is_date(raw.type):
        raw = pc.cast(raw.cast(pa.timestamp("s")), pa.int64())
    secs, missing, bad, texts = _numbers(raw, "time")
    textual = np.isnan(secs) & ~missing
    if texts is not None and textual.any():
        idx = np.flatnonzero(textual)
        parsed = pd.to_datetime(texts.iloc[idx], errors="coerce", utc=True, format="ISO8601")
        ok = parsed.notna().to_numpy()
        if ok.any():
            ns = parsed[ok].to_numpy(dtype="datetime64[ns]").astype(np.int64)
            secs[idx[ok]] = ns // 10**9
        for i in idx[~ok]:
            bad.setdefault(int(i), f"not a time (epoch seconds or ISO 8601): {_show(texts.iat[i])}")
    with np.errstate(invalid="ignore"):
        out = ~np.isnan(secs) & ((secs < MIN_TS) | (secs > MAX_TS))
    for i in np.flatnonzero(out):
        bad.setdefault(int(i), f"time out of range (years 1 to 9999): {secs[i]:.6g}")
    for i in np.flatnonzero(np.isnan(secs) & ~missing):
        bad.setdefault(int(i), "not a time: NaN")
    good = ~np.isnan(secs) & ~out
    ints = np.where(good, np.floor(np.where(good, secs, 0)), 0).astype(np.int64)
    return Coerced(pa.array(ints, pa.int64(), mask=~good), bad)


def _coerce_tags(raw: pa.Array, col: Column, tag_sep: str) -> Coerced:
    if pa.types.is_list(raw.type) or pa.types.is_large_list(raw.type):
        values = raw.to_pylist()
        return Coerced(
            pa.array([None if v is None else [str(t).strip() for t in v if t is not None and str(t).strip()] for v in values], pa.list_(pa.string())),
            {},
        )
    s, bad = _as_text(raw)
    parts = pc.split_pattern(s, tag_sep)
    values = [None if v is None else [t.strip() for t in v if t.strip()] for v in parts.to_pylist()]
    return Coerced(pa.array(values, pa.list_(pa.string())), bad)


def _coerce_kind(raw: pa.Array, col: Column, tag_sep: str) -> Coerced:
    s, bad = _as_text(raw)
    s = pc.utf8_lower(s)
    known = pc.is_in(s, value_set=pa.array(EVENT_KINDS)).to_numpy(zero_copy_only=False)
    nulls = np.asarray(pc.is_null(s).to_numpy(zero_copy_only=False), bool)
    for i in np.flatnonzero(~np.asarray(known, bool) & ~nulls):
        bad.setdefault(int(i), f"unknown event kind {_show(s[int(i)].as_py())}; expected one of {', '.join(EVENT_KINDS)}")
    return Coerced(s, bad)


def _coerce_fields(table: pa.Table, raw: pa.Array | None, extra: list[str]) -> Coerced:
    """The free-form ``fields`` JSON: a given ``fields`` object merged with extra columns."""
    n = table.num_rows
    bad: dict[int, str] = {}
    base: list[dict | None] = [None] * n
    if raw is not None:
        for i, v in enumerate(raw.to_pylist()):
            if v is None or v == "":
                continue
            if isinstance(v, str):
                try:
                    v = orjson.loads(v)
                except orjson.JSONDecodeError:
                    bad[i] = f"not a JSON object: {_show(v)}"
                    continue
            if not isinstance(v, dict):
                bad[i] = "must be a JSON object"
                continue
            base[i] = v
    extras = {name: table.column(name).to_pylist() for name in extra}
    out = []
    for i in range(n):
        obj = dict(base[i] or {})
        for name, values in extras.items():
            v = values[i]
            if v is not None and v != "":
                obj[name] = v
        if obj:
            try:
                text = orjson.dumps(obj).decode()
            except TypeError as e:
                bad[i] = f"cannot store as JSON: {e}"
                text = None
            if text is not None and len(text) > MAX_TEXT_CHARS:
                bad[i] = f"fields too long: {len(text)} characters (limit {MAX_TEXT_CHARS})"
            out.append(text)
        else:
            out.append(None)
    return Coerced(pa.array(out, pa.string()), bad)


def _show(v: object, limit: int = 40) -> str:
    t = repr(v)
    return t if len(t) <= limit else t[: limit - 3] + "...'"


COERCERS: dict[str, Callable[[pa.Array, Column, str], Coerced]] = {
    "id": _coerce_str(MAX_ID_CHARS),
    "str": _coerce_str(MAX_TEXT_CHARS),
    "float": _coerce_float,
    "time": _coerce_time,
    "tags": _coerce_tags,
    "kind": _coerce_kind,
}

__all__ = ["KINDS", "coerce_table", "plan_columns"]
