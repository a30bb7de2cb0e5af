"""Ingest: files or tables in, validated rows stored in one transaction.

``on_error="fail"`` (the default) stores nothing of a file that has any bad row and raises
:class:`~roost.data.errors.IngestError` listing them; ``on_error="skip"`` stores the good
rows and writes the bad ones, with reasons, to a rejects file. Either way the whole file is
one transaction: a crash mid-way leaves the store as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from roost.data.errors import IngestError, RowError
from roost.data.readers import RawBatch, read_batches
from roost.data.schema import KINDS, RecordKind
from roost.data.validate import coerce_table, plan_columns
from roost.store.base import CatalogStore
from roost.types import EVENT_KINDS

OnError = Literal["fail", "skip"]
# In fail mode, stop reading after this many bad rows: the file needs fixing anyway.
MAX_ERRORS = 1000


@dataclass
class IngestReport:
    """What one ingest did."""

    source: str
    kind: str
    rows: int = 0  # data rows read
    stored: int = 0  # rows new to the store
    unchanged: int = 0  # rows already stored (re-ingest) or updated in place
    rejected: int = 0
    rejects_path: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def ingest_file(
    store: CatalogStore,
    kind: str,
    path: str | Path,
    *,
    format: str | None = None,
    mapping: dict[str, str] | None = None,
    event_kind: str | None = None,
    on_error: OnError = "fail",
    rejects_path: str | Path | None = None,
    tag_sep: str = "|",
    progress: bool = False,
) -> IngestReport:
    """Ingest one file of ``kind`` (items, users, events or follows).

    Parameters
    ----------
    mapping : canonical column name -> the file's column name (``{"item_id": "movieId"}``).
    event_kind : the event kind for every row, when the file has no ``kind`` column.
    rejects_path : where ``on_error="skip"`` writes refused rows (JSON lines).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from roost.store import open_store
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "items.csv").write_text("id,title\\na,Alpha\\n")
    >>> ingest_file(open_store(d / "home"), "items", d / "items.csv").stored
    1
    """
    path = Path(path)
    batches = read_batches(path, format)
    total = path.stat().st_size if path.exists() else None
    return _ingest(
        store, kind, batches, str(path), mapping=mapping, event_kind=event_kind,
        on_error=on_error, rejects_path=rejects_path, tag_sep=tag_sep,
        progress=progress, total_bytes=total,
    )


def ingest_table(
    store: CatalogStore,
    kind: str,
    table: pa.Table,
    *,
    source: str = "<table>",
    mapping: dict[str, str] | None = None,
    event_kind: str | None = None,
    on_error: OnError = "fail",
    rejects_path: str | Path | None = None,
    tag_sep: str = "|",
    progress: bool = False,
) -> IngestReport:
    """Ingest an in-memory Arrow table (dataset loaders, the HTTP API) with the same checks."""
    def batches() -> Iterator[RawBatch]:
        for off in range(0, max(table.num_rows, 1), 65_536):
            yield RawBatch(table.slice(off, 65_536), locate=lambda i, o=off: f"row {o + i}")

    return _ingest(
        store, kind, batches(), source, mapping=mapping, event_kind=event_kind,
        on_error=on_error, rejects_path=rejects_path, tag_sep=tag_sep, progress=progress,
        total_bytes=None,
    )


def _ingest(
    store: CatalogStore,
    kind_name: str,
    batches: Iterable[RawBatch],
    source: str,
    *,
    mapping: dict[str, str] | None,
    event_kind: str | None,
    on_error: OnError,
    rejects_path: str | Path | None,
    tag_sep: str,
    progress: bool,
    total_bytes: int | None,
) -> IngestReport:
    if kind_name not in KINDS:
        raise IngestError(source, message=f"unknown record kind {kind_name!r}; use one of {', '.join(KINDS)}")
    if on_error not in ("fail", "skip"):
        raise IngestError(source, message=f"on_error must be 'fail' or 'skip', not {on_error!r}")
    kind = KINDS[kind_name]
    if event_kind is not None and event_kind not in EVENT_KINDS:
        raise IngestError(source, message=f"--kind {event_kind!r}: expected one of {', '.join(EVENT_KINDS)}")
    rename = {v: k for k, v in (mapping or {}).items()}
    _check_mapping(kind, mapping or {}, source)
    constants = {"kind": event_kind} if event_kind and kind_name == "events" else {}
    report = IngestReport(source=source, kind=kind_name)
    errors: list[RowError] = []
    rejects: list[dict] = []
    seen: dict[tuple, str] = {}
    known_items = store.ids("items") if kind_name == "events" else None
    started = time.perf_counter()
    bar = tqdm(
        total=total_bytes, unit="B", unit_scale=True, desc=f"ingest {kind_name}",
        disable=not progress, leave=False,
    )
    with store.transaction() as writer:
        plan = None
        for raw in batches:
            bar.update(raw.nbytes)
            for e in raw.parse_errors:
                _refuse(errors, rejects, e, None)
            table = raw.table.rename_columns([rename.get(c, c) for c in raw.table.column_names])
            if plan is None and (table.num_columns or table.num_rows):
                plan = plan_columns(kind, table.column_names, source, constants)
            if table.num_rows == 0:
                continue
            present, extra = plan_columns(kind, table.column_names, source, constants)
            canon, bad = coerce_table(kind, table, present, extra, constants, tag_sep)
            _check_references(kind, canon, known_items, bad)
            _check_duplicates(kind, canon, raw, seen, bad)
            report.rows += table.num_rows
            for i, (field, why) in sorted(bad.items()):
                _refuse(errors, rejects, RowError(raw.locate(i), field, why), _row(table, i))
            if on_error == "fail" and errors:
                if len(errors) >= MAX_ERRORS:
                    break
                continue  # keep validating to report every bad row, but write nothing
            if bad:
                keep = np.ones(canon.num_rows, bool)
                keep[list(bad)] = False
                canon = canon.filter(pa.array(keep))
            report.stored += writer.write(kind_name, canon)
            _register_users(writer, kind_name, canon)
        bar.close()
        if plan is None and not errors:
            raise IngestError(source, message="no data rows (only a header, or nothing at all)")
        if on_error == "fail" and errors:
            raise IngestError(source, errors)
        report.rejected = len(errors)
        report.unchanged = report.rows - report.stored - report.rejected
        if rejects:
            report.rejects_path = str(_write_rejects(rejects_path, source, rejects))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _check_mapping(kind: RecordKind, mapping: dict[str, str], source: str) -> None:
    for target in mapping:
        if target not in kind.names:
            raise IngestError(
                source,
                message=f"--map {target}=...: {target!r} is not a {kind.name} column "
                f"(known: {', '.join(kind.names)})",
            )


def _refuse(errors: list[RowError], rejects: list[dict], e: RowError, row: dict | None) -> None:
    errors.append(e)
    rejects.append({"where": e.where, "field": e.field, "error": e.message, "row": row})


def _row(table: pa.Table, i: int) -> dict:
    return {k: v[0] for k, v in table.slice(i, 1).to_pydict().items()}


def _check_references(kind: RecordKind, canon: pa.Table, known_items: pa.Array | None, bad: dict) -> None:
    if known_items is None:
        return
    item = canon.column("item_id")
    unknown = ~np.asarray(pc.is_in(item, value_set=known_items).to_numpy(zero_copy_only=False), bool)
    unknown &= ~np.asarray(pc.is_null(item).to_numpy(zero_copy_only=False), bool)
    for i in np.flatnonzero(unknown):
        bad.setdefault(int(i), ("item_id", f"unknown item {item[int(i)].as_py()!r}: not in the catalog (ingest items first)"))


def _check_duplicates(kind: RecordKind, canon: pa.Table, raw: RawBatch, seen: dict, bad: dict) -> None:
    """Items, users and follows may appear once per file: a second row is ambiguous."""
    if kind.name == "events":
        return  # a repeated event is the same event: stored once, by its key
    keys = list(zip(*(canon.column(k).to_pylist() for k in kind.key), strict=True))
    for i, key in enumerate(keys):
        if i in bad or None in key:
            continue
        where = raw.locate(i)
        first = seen.setdefault(key, where)
        if first != where:
            bad[i] = (kind.key[0], f"duplicate {kind.name[:-1]} {'/'.join(key)!r} (first at {first})")


def _register_users(writer, kind_name: str, canon: pa.Table) -> None:
    """Users named by events, follows or item authors exist from then on."""
    cols = {"events": ("user_id",), "follows": ("follower", "followee"), "items": ("author",)}.get(kind_name, ())
    ids: set[str] = set()
    for c in cols:
        ids.update(x for x in pc.unique(canon.column(c)).to_pylist() if x is not None)
    if ids and hasattr(writer, "register_users"):
        writer.register_users(sorted(ids))


def _write_rejects(path: str | Path | None, source: str, rejects: list[dict]) -> Path:
    path = Path(path) if path else Path(source + ".rejects.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for r in rejects:
            f.write(orjson.dumps(r, default=str) + b"\n")
    return path
