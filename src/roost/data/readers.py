"""Streaming readers for CSV, JSONL and Parquet files.

Each reader yields :class:`RawBatch` es: Arrow tables with the file's own column names
and a way to say where row ``i`` of the batch is in the file (line, or row group and
row), plus the rows the parser itself refused. Readers never coerce types: that is
validation's job (:mod:`roost.data.validate`), the same for every format.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from roost.data.errors import IngestError, RowError

FORMATS = ("csv", "tsv", "jsonl", "parquet")
CHUNK_ROWS = 65_536
_BOM = b"\xef\xbb\xbf"


@dataclass
class RawBatch:
    table: pa.Table
    locate: Callable[[int], str]
    # Rows the parser refused (wrong column count, not JSON ...), already located.
    parse_errors: list[RowError] = field(default_factory=list)
    nbytes: int = 0


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise IngestError(str(path), message=f"unknown format {fmt!r}; use one of {FORMATS}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes):
        s = s.lstrip(".")
        if s in ("csv", "tsv", "parquet"):
            return s
        if s in ("jsonl", "ndjson", "json"):
            return "jsonl"
        if s == "pq":
            return "parquet"
    raise IngestError(str(path), message="cannot tell the format from the name; pass --format")


def read_batches(path: str | Path, fmt: str | None = None) -> Iterator[RawBatch]:
    """Yield raw batches from ``path`` in its format (detected from the suffix if not given)."""
    path = Path(path)
    if not path.exists():
        raise IngestError(str(path), message="no such file")
    if path.is_dir():
        raise IngestError(str(path), message="is a directory, not a file")
    fmt = detect_format(path, fmt)
    reader = _READERS[fmt]
    return reader(path, delimiter="\t") if fmt == "tsv" else reader(path)


# --- CSV ----------------------------------------------------------------------------------


def _read_csv(path: Path, delimiter: str = ",") -> Iterator[RawBatch]:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not head.strip(b"\r\n\t " + _BOM):
        raise IngestError(str(path), message="empty file: expected a header line")
    first = head.removeprefix(_BOM).splitlines()[0]
    try:
        header = next(csv.reader([first.decode("utf-8")], delimiter=delimiter))
    except UnicodeDecodeError:
        raise IngestError(str(path), message="line 1: header is not valid UTF-8") from None
    names = [h.strip() for h in header]
    blank = [i + 1 for i, n in enumerate(names) if not n]
    if blank:
        raise IngestError(str(path), message=f"line 1: header column {blank[0]} has no name")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise IngestError(str(path), message=f"line 1: header repeats column {dup[0]!r}")

    parse_errors: list[RowError] = []
    line_of = _CsvLines(path, delimiter, len(names))
    n_invalid = 0

    def on_invalid(row) -> str:
        nonlocal n_invalid
        where = f"line {row.number}" if row.number is not None else line_of.invalid(n_invalid)
        n_invalid += 1
        parse_errors.append(
            RowError(where, None, f"expected {row.expected_columns} columns, got {row.actual_columns}")
        )
        return "skip"

    try:
        yield from _csv_batches(path, names, delimiter, on_invalid, parse_errors, line_of)
    except pa.ArrowInvalid as e:
        raise IngestError(str(path), [_diagnose_csv(path, delimiter, len(names), e)]) from None
    if parse_errors:
        yield RawBatch(pa.table({n: pa.array([], pa.string()) for n in names}), line_of, parse_errors)


def _csv_batches(path, names, delimiter, on_invalid, parse_errors, line_of) -> Iterator[RawBatch]:
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 23, column_names=names, skip_rows=1),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    offset = 0
    for batch in reader:
        yield RawBatch(
            pa.Table.from_batches([batch]),
            locate=lambda i, o=offset: line_of(o + i),
            parse_errors=parse_errors[:],
            nbytes=batch.nbytes,
        )
        parse_errors.clear()
        offset += batch.num_rows


class _CsvLines:
    """Maps a data-row index to its physical line, computed only when an error needs it.

    Arrow's parser counts records, not lines (a quoted value may span lines); Python's csv
    module knows the line of each record, so we replay it once, on the slow path.
    """

    def __init__(self, path: Path, delimiter: str, ncols: int):
        self.path, self.delimiter, self.ncols = path, delimiter, ncols

    @cache  # noqa: B019 - one instance per file read; freed with it
    def _scan(self) -> tuple[list[int], list[int]]:
        """(start line of each good record, start line of each refused record)."""
        csv.field_size_limit(2**31 - 1)  # a huge field is validation's to refuse, not ours
        starts: list[int] = []
        invalid: list[int] = []
        with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=self.delimiter)
            next(reader, None)
            line = reader.line_num
            for rec in reader:
                start, line = line + 1, reader.line_num
                if not rec or (len(rec) == 1 and not rec[0].strip() and self.ncols > 1):
                    continue  # Arrow skips empty lines
                if len(rec) != self.ncols:
                    invalid.append(start)  # refused by the parser, reported on its own
                    continue
                starts.append(start)
        return starts, invalid

    def __call__(self, row: int) -> str:
        starts = self._scan()[0]
        return f"line {starts[row]}" if row < len(starts) else f"data row {row + 1}"

    def invalid(self, k: int) -> str:
        bad = self._scan()[1]
        return f"line {bad[k]}" if k < len(bad) else "a row"


def _diagnose_csv(path: Path, delimiter: str, ncols: int, err: Exception) -> RowError:
    """Find the line behind an Arrow parse error (bad UTF-8 mostly), by a slow replay."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                text = raw.decode("utf-8", errors="replace")
                col = next(csv.reader([text], delimiter=delimiter), [])
                field = None
                pos = 0
                for j, val in enumerate(col):
                    pos += len(val.encode("utf-8", errors="replace")) + 1
                    if pos > e.start:
                        field = j
                        break
                return RowError(
                    f"line {n}", None if field is None else f"column {field + 1}",
                    f"not valid UTF-8 (byte {e.start + 1} of the line)",
                )
    return RowError("file", None, f"cannot parse CSV: {err}")


# --- JSONL --------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> Iterator[RawBatch]:
    if path.stat().st_size == 0:
        raise IngestError(str(path), message="empty file: expected one JSON object per line")
    rows: list[dict] = []
    lines: list[int] = []
    errors: list[RowError] = []
    nbytes = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if n == 1:
                raw = raw.removeprefix(_BOM)
            nbytes += len(raw)
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                errors.append(RowError(f"line {n}", None, f"invalid JSON: {e}"))
                continue
            if not isinstance(obj, dict):
                errors.append(RowError(f"line {n}", None, f"not a JSON object but {type(obj).__name__}"))
                continue
            rows.append(obj)
            lines.append(n)
            if len(rows) >= CHUNK_ROWS:
                yield _json_batch(rows, lines, errors, nbytes)
                rows, lines, errors, nbytes = [], [], [], 0
    if rows or errors:
        yield _json_batch(rows, lines, errors, nbytes)


def _json_batch(rows: list[dict], lines: list[int], errors: list[RowError], nbytes: int) -> RawBatch:
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    columns = {name: _to_arrow([r.get(name) for r in rows]) for name in names}
    # Rows that are all "{}" give a table with no columns: validation then names the
    # missing required columns.
    table = pa.table(columns)
    return RawBatch(table, locate=lambda i, ls=lines: f"line {ls[i]}", parse_errors=errors, nbytes=nbytes)


def _to_arrow(values: list) -> pa.Array:
    """Arrow array of JSON values; mixed types fall back to their text (validation decides)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        out = []
        for v in values:
            if v is None or isinstance(v, str):
                out.append(v)
            elif isinstance(v, list) and all(isinstance(x, str) for x in v):
                out.append("|".join(v))
            else:
                out.append(orjson.dumps(v).decode() if isinstance(v, dict | list) else str(v))
        return pa.array(out, pa.string())


# --- Parquet ------------------------------------------------------------------------------


def _read_parquet(path: Path) -> Iterator[RawBatch]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise IngestError(str(path), message=f"not a readable Parquet file: {e}") from None
    bounds = [0]
    for g in range(pf.metadata.num_row_groups):
        bounds.append(bounds[-1] + pf.metadata.row_group(g).num_rows)

    def where(row: int) -> str:
        for g in range(len(bounds) - 1):
            if row < bounds[g + 1]:
                return f"row group {g}, row {row - bounds[g]}"
        return f"row {row}"

    offset = 0
    try:
        for batch in pf.iter_batches(batch_size=CHUNK_ROWS):
            yield RawBatch(
                pa.Table.from_batches([batch]),
                locate=lambda i, o=offset: where(o + i),
                nbytes=batch.nbytes,
            )
            offset += batch.num_rows
    except (pa.ArrowInvalid, OSError) as e:
        raise IngestError(str(path), message=f"{where(offset)}: cannot read Parquet data: {e}") from None


_READERS: dict[str, Callable[..., Iterator[RawBatch]]] = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
}

__all__ = ["FORMATS", "RawBatch", "detect_format", "read_batches"]
