"""The bad-input corpus: every case gives a clear error naming where, and a failed
``fail``-mode ingest leaves the store exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from roost.data.errors import IngestError
from roost.data.ingest import ingest_file

ITEMS_OK = "id,title,tags\ni1,One,a|b\ni2,Two,b\ni3,Three,c\n"
EVENTS_HEAD = "user_id,item_id,kind,value,ts\n"


@dataclass
class Case:
    name: str
    kind: str
    filename: str
    content: bytes | str | None  # None: the writer below makes the file
    expect: tuple[str, ...]  # substrings the message must hold (besides the file name)
    kwargs: dict | None = None


def _parquet(table: pa.Table):
    def write(path: Path) -> None:
        pq.write_table(table, path)

    return write


def _truncated_parquet(path: Path) -> None:
    pq.write_table(pa.table({"id": ["x", "y"], "title": ["a", "b"]}), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CASES = [
    # columns
    Case("missing required column", "events", "e.csv", "user_id,item_id,kind\nu,i1,like\n", ("missing required column 'ts'",)),
    Case("extra column on a closed kind", "events", "e.csv", EVENTS_HEAD.strip() + ",mood\nu,i1,like,1,5,happy\n", ("unknown column 'mood'",)),
    Case("items without id", "items", "i.csv", "title\nOne\n", ("missing required column 'id'",)),
    Case("follows without followee", "follows", "f.csv", "follower\nu1\n", ("missing required column 'followee'",)),
    Case("header with an empty name", "items", "i.csv", "id,,title\na,b,c\n", ("line 1", "has no name")),
    Case("header repeats a column", "items", "i.csv", "id,title,title\na,b,c\n", ("line 1", "repeats column 'title'")),
    Case("map to an unknown column", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1,5\n", ("'bogus' is not a events column",), {"mapping": {"bogus": "value"}}),
    Case("kind option unknown", "events", "e.csv", "user_id,item_id,ts\nu,i1,5\n", ("--kind 'poke'",), {"event_kind": "poke"}),
    # empty and header-only
    Case("empty csv", "items", "i.csv", "", ("empty file",)),
    Case("whitespace-only csv", "items", "i.csv", "\n\n  \n", ("empty file",)),
    Case("header only", "items", "i.csv", "id,title\n", ("no data rows",)),
    Case("empty jsonl", "items", "i.jsonl", "", ("empty file",)),
    Case("blank-lines jsonl", "items", "i.jsonl", "\n\n", ("no data rows",)),
    # encodings and line endings
    Case("BOM keeps line numbers", "events", "e.csv", "\ufeff" + EVENTS_HEAD + "u,i1,like,1,5\nu,i1,like,oops,6\n", ("line 3", "'value'", "not a number")),
    Case("CRLF keeps line numbers", "events", "e.csv", EVENTS_HEAD.replace("\n", "\r\n") + "u,i1,like,1,5\r\nu,i2,like,1,bad\r\n", ("line 3", "'ts'", "not a time")),
    Case("invalid UTF-8", "items", "i.csv", b"id,title\na,ok\nb,ok\nc,\xff\xfebad\n", ("line 4", "UTF-8")),
    Case("invalid UTF-8 in JSONL", "items", "i.jsonl", b'{"id": "a"}\n{"id": "\xff"}\n', ("line 2", "invalid JSON")),
    Case("quoted newline keeps later line numbers", "events", "e.csv", EVENTS_HEAD + 'u,i1,like,1,5\n"u\nx",i1,like,1,6\nu,i2,like,x,7\n', ("line 5", "not a number")),
    # values
    Case("nan value", "events", "e.csv", EVENTS_HEAD + "u,i1,like,nan,5\n", ("line 2", "'value'", "NaN")),
    Case("inf value", "events", "e.csv", EVENTS_HEAD + "u,i1,like,inf,5\n", ("line 2", "'value'", "infinity")),
    Case("-inf value", "events", "e.csv", EVENTS_HEAD + "u,i1,like,-Infinity,5\n", ("line 2", "infinity")),
    Case("huge value", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1e30,5\n", ("line 2", "'value'", "out of range")),
    Case("huge integer time", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1,99999999999999999999999\n", ("line 2", "'ts'", "out of range")),
    Case("huge negative time", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1,-1e20\n", ("line 2", "'ts'", "out of range")),
    Case("nan time", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1,nan\n", ("line 2", "'ts'")),
    Case("unparseable time", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1,yesterday\n", ("line 2", "'ts'", "not a time")),
    Case("non-numeric value", "events", "e.csv", EVENTS_HEAD + "u,i1,like,abc,5\n", ("line 2", "not a number: 'abc'")),
    Case("missing time", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1,\n", ("line 2", "'ts'", "missing value")),
    Case("missing user", "events", "e.csv", EVENTS_HEAD + " ,i1,like,1,5\n", ("line 2", "'user_id'", "missing value")),
    Case("empty id", "items", "i.csv", "id,title\n,Nameless\n", ("line 2", "'id'", "missing value")),
    Case("unknown event kind", "events", "e.csv", EVENTS_HEAD + "u,i1,poke,1,5\n", ("line 2", "'kind'", "unknown event kind 'poke'")),
    Case("unknown item", "events", "e.csv", EVENTS_HEAD + "u,nope,like,1,5\n", ("line 2", "'item_id'", "unknown item 'nope'")),
    Case("1 MB field", "items", "i.csv", "id,title\nbig," + "x" * 1_000_000 + "\n", ("line 2", "'title'", "too long")),
    Case("over-long id", "items", "i.csv", "id,title\n" + "k" * 300 + ",t\n", ("line 2", "'id'", "too long")),
    # duplicates
    Case("duplicate item ids", "items", "i.csv", "id,title\na,A\nb,B\na,A again\n", ("line 4", "duplicate item 'a'", "first at line 2")),
    Case("duplicate user ids in JSONL", "users", "u.jsonl", '{"id": "u1"}\n{"id": "u1"}\n', ("line 2", "duplicate user 'u1'")),
    Case("duplicate follows", "follows", "f.csv", "follower,followee\na,b\na,b\n", ("line 3", "duplicate follow")),
    # row shape
    Case("too many fields in a row", "items", "i.csv", "id,title\na,A\nb,B,extra\n", ("line 3", "expected 2 columns, got 3")),
    Case("too few fields in a row", "events", "e.csv", EVENTS_HEAD + "u,i1,like,1,5\nu,i1\n", ("line 3", "expected 5 columns, got 2")),
    Case("tsv with a short row", "items", "i.tsv", "id\ttitle\na\n", ("line 2", "expected 2 columns, got 1")),
    # JSONL shapes
    Case("JSONL line is an array", "items", "i.jsonl", '{"id": "a"}\n["b"]\n', ("line 2", "not a JSON object but list")),
    Case("JSONL line is a number", "items", "i.jsonl", '{"id": "a"}\n42\n', ("line 2", "not a JSON object but int")),
    Case("JSONL invalid JSON", "items", "i.jsonl", '{"id": "a"}\n{"id": "b"}\n{"id": \n', ("line 3", "invalid JSON")),
    Case("JSONL fields not an object", "items", "i.jsonl", '{"id": "a", "fields": 5}\n', ("line 1", "'fields'", "JSON object")),
    Case("JSONL mixed-type value", "events", "e.jsonl", '{"user_id": "u", "item_id": "i1", "kind": "like", "value": 1, "ts": 5}\n{"user_id": "u", "item_id": "i2", "kind": "like", "value": "x", "ts": 6}\n', ("line 2", "'value'", "not a number")),
    Case("CSV fields column not JSON", "items", "i.csv", "id,fields\na,{oops\n", ("line 2", "'fields'", "not a JSON object")),
    # Parquet
    Case("truncated Parquet", "items", "i.parquet", None, ("not a readable Parquet file",)),
    Case("zero-filled Parquet", "items", "i.parquet", b"\0" * 4096, ("not a readable Parquet file",)),
    Case("Parquet fractional id", "items", "i.parquet", None, ("row group 0, row 1", "'id'", "expected text or an integer")),
    Case("Parquet nested title", "items", "i.parquet", None, ("row group 0, row 0", "'title'", "expected text")),
    # files
    Case("unknown format", "items", "i.xml", "<items/>", ("cannot tell the format",)),
    # PostgreSQL text cannot hold NUL: refused on every backend with the same report
    Case("NUL in a title", "items", "i.csv", "id,title\ni9,bad\x00title\n", ("line 2", "'title'", "NUL character")),
]

WRITERS = {
    "truncated Parquet": _truncated_parquet,
    "Parquet fractional id": _parquet(pa.table({"id": [1.0, 1.5], "title": ["a", "b"]})),
    "Parquet nested title": _parquet(pa.table({"id": ["a"], "title": [{"x": 1}]})),
}


def snapshot(store) -> dict:
    return {k: store.read(k).to_pylist() for k in ("items", "users", "events", "follows")}


@pytest.fixture
def home(db_home):
    """The corpus runs on each backend (the SQLite file, a PostgreSQL server)."""
    return db_home


@pytest.fixture
def seeded(store, tmp_path):
    (tmp_path / "seed_items.csv").write_text(ITEMS_OK)
    (tmp_path / "seed_events.csv").write_text(EVENTS_HEAD + "u0,i1,like,1,100\nu0,i2,view,1,101\n")
    (tmp_path / "seed_follows.csv").write_text("follower,followee\nu0,u9\n")
    ingest_file(store, "items", tmp_path / "seed_items.csv")
    ingest_file(store, "events", tmp_path / "seed_events.csv")
    ingest_file(store, "follows", tmp_path / "seed_follows.csv")
    return store


def test_corpus_is_big_enough():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(case, seeded, tmp_path):
    path = tmp_path / case.filename
    if case.content is None:
        WRITERS[case.name](path)
    else:
        path.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode())
    before = snapshot(seeded)
    with pytest.raises(IngestError) as err:
        ingest_file(seeded, case.kind, path, **(case.kwargs or {}))
    message = str(err.value)
    assert str(path) in message
    for needle in case.expect:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert "Traceback" not in message
    assert snapshot(seeded) == before
    assert seeded.check() == []


def test_missing_file_and_directory(seeded, tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        ingest_file(seeded, "items", tmp_path / "absent.csv")
    with pytest.raises(IngestError, match="is a directory"):
        ingest_file(seeded, "items", tmp_path)


def test_every_bad_row_is_reported_not_just_the_first(seeded, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(EVENTS_HEAD + "u,i1,like,x,5\nu,i1,like,1,5\nu,i1,like,1,never\n")
    with pytest.raises(IngestError) as err:
        ingest_file(seeded, "events", path)
    assert [e.where for e in err.value.errors] == ["line 2", "line 4"]
