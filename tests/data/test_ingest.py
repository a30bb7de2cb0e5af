"""Ingest behaviour: formats, mapping, skip mode, idempotence, crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from roost.data.errors import IngestError
from roost.data.ingest import ingest_file, ingest_table

ITEMS = "id,title,tags,category,created_at,year\ni1,One,a|b,x,2013-03-01T00:00:00Z,1999\ni2,Two,b,y,1362096000,\n"


@pytest.fixture
def home(db_home):
    """Every test of this module runs on each backend (the SQLite file, a PostgreSQL server)."""
    return db_home


@pytest.fixture
def items_file(tmp_path):
    p = tmp_path / "items.csv"
    p.write_text(ITEMS)
    return p


def test_items_csv_canonical(store, items_file):
    r = ingest_file(store, "items", items_file)
    assert (r.rows, r.stored, r.rejected) == (2, 2, 0)
    rows = {row["id"]: row for row in store.read("items").to_pylist()}
    assert rows["i1"]["tags"] == ["a", "b"]
    assert rows["i1"]["created_at"] == rows["i2"]["created_at"] == 1362096000
    assert json.loads(rows["i1"]["fields"]) == {"year": "1999"}
    assert rows["i2"]["fields"] is None


def test_same_data_in_every_format_gives_the_same_store(tmp_path):
    from roost.store import open_store

    table = pa.table({
        "user_id": ["u1", "u2"], "item_id": ["i1", "i2"], "kind": ["like", "rating"],
        "value": [1.0, 7.0], "ts": [10, 20],
    })
    (tmp_path / "ev.csv").write_text("user_id,item_id,kind,value,ts\nu1,i1,like,1,10\nu2,i2,rating,7,20\n")
    (tmp_path / "ev.jsonl").write_text("\n".join(json.dumps(r) for r in table.to_pylist()) + "\n")
    pq.write_table(table, tmp_path / "ev.parquet")
    results = []
    for name in ("ev.csv", "ev.jsonl", "ev.parquet"):
        (tmp_path / f"items-{name}.csv").write_text(ITEMS)
        s = open_store(tmp_path / f"home-{name}")
        ingest_file(s, "items", tmp_path / f"items-{name}.csv")
        ingest_file(s, "events", tmp_path / name)
        results.append(s.read("events").to_pylist())
        s.close()
    assert results[0] == results[1] == results[2]
    assert results[0][1]["value"] == 7.0


def test_mapping_and_kind_option(store, items_file, tmp_path):
    ingest_file(store, "items", items_file)
    p = tmp_path / "ratings.csv"
    p.write_text("userId,movieId,rating,timestamp\n7,i1,4.5,100\n")
    r = ingest_file(
        store, "events", p, event_kind="rating",
        mapping={"user_id": "userId", "item_id": "movieId", "value": "rating", "ts": "timestamp"},
    )
    assert r.stored == 1
    ev = store.read("events").to_pylist()[0]
    assert (ev["user_id"], ev["kind"], ev["value"], ev["ts"]) == ("7", "rating", 4.5, 100)
    assert store.get("users", ("7",)) is not None  # users named by events exist


def test_reingest_stores_nothing_twice(store, items_file, tmp_path):
    ingest_file(store, "items", items_file)
    p = tmp_path / "e.csv"
    p.write_text("user_id,item_id,kind,ts,event_id\nu,i1,like,1,\nu,i1,like,1,\nu,i2,view,2,ev-9\n")
    first = ingest_file(store, "events", p)
    second = ingest_file(store, "events", p)
    again_items = ingest_file(store, "items", items_file)
    assert first.stored == 2  # the repeated row inside the file is the same event
    assert second.stored == 0 and second.unchanged == 3
    assert again_items.stored == 0
    assert store.counts()["events"] == 2 and store.counts()["items"] == 2


def test_item_update_keeps_one_row(store, items_file, tmp_path):
    ingest_file(store, "items", items_file)
    p = tmp_path / "upd.csv"
    p.write_text("id,title\ni1,One (restored)\n")
    ingest_file(store, "items", p)
    assert store.get("items", ("i1",))["title"] == "One (restored)"
    assert store.counts()["items"] == 2


def test_skip_mode_stores_good_rows_and_writes_rejects(store, items_file, tmp_path):
    ingest_file(store, "items", items_file)
    p = tmp_path / "e.csv"
    p.write_text("user_id,item_id,kind,value,ts\nu,i1,like,1,5\nu,i1,like,nan,6\nu,zz,like,1,7\nu,i2,like,2,8\n")
    rejects = tmp_path / "out" / "rejects.jsonl"
    r = ingest_file(store, "events", p, on_error="skip", rejects_path=rejects)
    assert (r.stored, r.rejected) == (2, 2)
    lines = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(x["where"], x["field"]) for x in lines] == [("line 3", "value"), ("line 4", "item_id")]
    assert lines[0]["row"]["value"] == "nan"


def test_fail_mode_stores_nothing_of_a_file_with_one_bad_row(store, items_file, tmp_path):
    ingest_file(store, "items", items_file)
    p = tmp_path / "e.csv"
    rows = "".join(f"u{i},i1,like,1,{i}\n" for i in range(200_000))
    p.write_text("user_id,item_id,kind,value,ts\n" + rows + "u,i1,like,1,later\n")
    with pytest.raises(IngestError, match="line 200002"):
        ingest_file(store, "events", p)
    assert store.counts()["events"] == 0


def test_ingest_table_names_rows(store):
    with pytest.raises(IngestError, match="row 1, field 'id': missing value"):
        ingest_table(store, "items", pa.table({"id": ["a", None]}), source="api")
    assert store.counts()["items"] == 0


def test_unknown_record_kind(store, items_file):
    with pytest.raises(IngestError, match="unknown record kind"):
        ingest_file(store, "flits", items_file)


def test_follows_and_authors_register_users(store, tmp_path):
    p = tmp_path / "items.csv"
    p.write_text("id,title,author\nf1,hello,robin\n")
    ingest_file(store, "items", p)
    f = tmp_path / "follows.csv"
    f.write_text("follower,followee,ts\nwren,robin,5\n")
    ingest_file(store, "follows", f)
    assert {u["id"] for u in store.read("users").to_pylist()} == {"robin", "wren"}
    assert store.read("follows").to_pylist() == [{"follower": "wren", "followee": "robin", "ts": 5}]


_KILL_SCRIPT = """
import sys
from roost.store import open_store
from roost.data.ingest import ingest_file
s = open_store(sys.argv[1])
print("ready", flush=True)
ingest_file(s, "events", sys.argv[2])
print("done", flush=True)
"""


@pytest.mark.parametrize("delay", [0.3, 0.9])
def test_sigkill_mid_ingest_leaves_none_or_all(home, backend, delay):
    from roost.store import open_store

    tmp_path = home.parent
    items = tmp_path / "items.csv"
    items.write_text("id\n" + "".join(f"i{i}\n" for i in range(100)))
    s = open_store(home)
    ingest_file(s, "items", items)
    s.close()
    n = 600_000
    events = tmp_path / "events.csv"
    with open(events, "w") as f:
        f.write("user_id,item_id,kind,ts\n")
        for i in range(n):
            f.write(f"u{i % 5000},i{i % 100},view,{i}\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(home), str(events)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rest = proc.stdout.read()
    proc.stdout.close()
    assert "done" not in rest, "the ingest finished before the kill: make the file bigger"
    if backend == "sqlite":
        conn = sqlite3.connect(home / "roost.db")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    s = open_store(home)  # and it opens cleanly afterwards
    assert s.counts()["events"] in (0, n) and s.counts()["items"] == 100
    assert s.check() == []
    with s.transaction() as w:  # the killed writer's lock is gone: a new write goes through
        w.register_users(["after-the-kill"])
    s.close()
