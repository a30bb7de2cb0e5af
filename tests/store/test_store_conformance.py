"""The storage contracts, on every backend: the embedded SQLite file and a real PostgreSQL
server (scripts/pgserver.py). Each test runs once per backend (the ``backend`` fixture)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from roost.data.frames import Catalog
from roost.data.ingest import ingest_table
from roost.service.idempotency import IdempotencyStore
from roost.service.keys import KeyStore
from roost.store import Home, open_store
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet, RoostError

CATALOG = Catalog.from_pydict(
    items={"id": ["b", "a", "c"], "title": ["Bee", "Ant", "Cat"], "tags": [["x", "y"], None, []],
           "category": ["k", None, "k"], "created_at": [5, 6, None], "author": ["u1", None, None]},
    users={"id": ["u1", "u2"], "name": ["One", None]},
    events={"user_id": ["u1", "u2", "u1", "u1"], "item_id": ["a", "b", "c", "a"],
            "kind": ["like", "view", "rating", "like"], "value": [1.0, None, 4.5, 1.0],
            "ts": [10, 11, 12, 13], "event_id": [None, "e-2", None, None]},
    follows={"follower": ["u1", "u2"], "followee": ["u2", "u1"], "ts": [1, None]},
)  # fmt: skip


def es(seed: int = 0, n: int = 6) -> EmbeddingSet:
    x = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    return EmbeddingSet(ids=np.array([f"i{j}" for j in range(n)], dtype=object), vectors=x,
                        method="als", params={}, fingerprint=f"f{seed}")  # fmt: skip


def fill(store) -> None:
    for kind in ("items", "users", "events", "follows"):
        ingest_table(store, kind, getattr(CATALOG, kind))


@pytest.fixture
def store(db_home):
    s = open_store(db_home)
    yield s
    s.close()


def test_every_kind_round_trips_in_order(store):
    fill(store)
    assert store.read("items").to_pylist() == CATALOG.items.to_pylist()
    assert store.read("items").schema == CATALOG.items.schema
    assert store.read("events").to_pylist() == CATALOG.events.to_pylist()
    # users: the two stored, then the authors and event users registered on the way
    assert [u["id"] for u in store.read("users").to_pylist()] == ["u1", "u2"]
    assert store.read("follows").to_pylist() == CATALOG.follows.sort_by("follower").to_pylist()
    assert store.counts() == {"items": 3, "users": 2, "events": 4, "follows": 2}
    assert store.get("items", ("b",))["tags"] == ["x", "y"] and store.get("items", ("z",)) is None
    assert sorted(store.ids("items").to_pylist()) == ["a", "b", "c"]
    assert store.sample_user() == "u1"
    assert store.check() == []


def test_upserts_count_new_rows_and_repeated_events_are_ignored(store):
    fill(store)
    changed = Catalog.from_pydict(items={"id": ["a", "d"], "title": ["Ant 2", "Dog"]})
    assert ingest_table(store, "items", changed.items).stored == 1
    assert store.get("items", ("a",))["title"] == "Ant 2"
    assert [r["id"] for r in store.read("items").to_pylist()] == ["b", "a", "c", "d"]
    again = ingest_table(store, "events", CATALOG.events)
    assert (again.stored, again.unchanged) == (0, 4)
    assert store.counts()["events"] == 4


def test_a_failed_transaction_stores_nothing(store):
    fill(store)
    before = {k: store.read(k).to_pylist() for k in store.iter_kinds()}
    with pytest.raises(ZeroDivisionError):
        with store.transaction() as w:
            w.write("items", Catalog.from_pydict(items={"id": ["new"]}).items)
            w.delete("follows", [("u1", "u2")])
            raise ZeroDivisionError("midway")
    assert {k: store.read(k).to_pylist() for k in store.iter_kinds()} == before


def test_deletes_by_key(store):
    fill(store)
    with store.transaction() as w:
        assert w.delete("follows", [("u1", "u2"), ("u9", "u1")]) == 1
        assert w.delete("items", [("c",)]) == 1
    assert store.counts()["follows"] == 1 and store.get("items", ("c",)) is None


def test_the_change_log_names_each_write_in_commit_order(store, db_home):
    fill(store)
    with store.transaction() as w:
        w.delete("items", [("c",)])
    log = Home.at(db_home).db().changes()
    entries = log.since(0)
    assert [c.kind for c in entries] == ["items", "events", "follows", "items"]
    assert entries[0].body == {"ids": ["b", "a", "c"]} and entries[-1].body == {"deleted": ["c"]}
    assert {c.origin for c in entries} == {store.origin}
    events = store.events_between(entries[1].body["after"], entries[1].body["upto"])
    assert events.to_pylist() == CATALOG.events.to_pylist()
    catalog, head = store.snapshot()
    assert head == log.head() == entries[-1].seq and catalog.items.num_rows == 2
    assert [c.seq for c in log.since(entries[1].seq)] == [c.seq for c in entries[2:]]
    log.close()


def test_wait_returns_once_a_change_commits(store, db_home):
    log = Home.at(db_home).db().changes()
    log.wait(0.01)  # on PostgreSQL this LISTENs from now on
    done = threading.Event()

    def waiter():
        log.wait(30)
        done.set()

    t = threading.Thread(target=waiter)
    t.start()
    ingest_table(store, "items", Catalog.from_pydict(items={"id": ["x"]}).items)
    t.join()
    assert done.is_set() and log.since(0)[-1].kind == "items"
    log.close()


def test_versions_aliases_history_and_numbers_never_reused(db_home):
    with VersionStore(db_home) as vs:
        a = vs.put(es(0), alias="production")
        b = vs.put(es(1))
        vs.alias("production", b.id)
        assert vs.aliases() == {"production": b.id}
        assert vs.rollback("production").id == a.id
        assert [h["version"] for h in vs.history("production")] == [a.id, b.id]
        assert vs.history("production")[1]["undone_at"] is not None
        assert vs.resolve("v2") == b.id and vs.resolve("latest") == b.id
        vs.delete(b.id)
        c = vs.put(es(2))
        assert c.seq == 3 and c.id.startswith("v0003-")
        np.testing.assert_array_equal(vs.get(c.id).vectors, es(2).vectors)
        assert vs.verify() == []
        assert [i.id for i in vs.list()] == [a.id, c.id]


def test_concurrent_alias_moves_keep_one_consistent_history(db_home):
    with VersionStore(db_home) as vs:
        ids = [vs.put(es(s)).id for s in range(4)]
    errors = []

    def mover(k):
        try:
            with VersionStore(db_home) as mine:
                for i in range(6):
                    mine.alias("live", ids[(k + i) % 4])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=mover, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with VersionStore(db_home) as vs:
        history = [h["version"] for h in vs.history("live")]
        assert history[-1] == vs.aliases()["live"]
        assert all(x != y for x, y in zip(history, history[1:], strict=False))  # no repeats


def test_idempotency_records_first_answer_stands(db_home):
    records = Home.at(db_home).db().idempotency()
    idem = IdempotencyStore(records)
    idem.put("k", "fp", 201, b'{"ok":1}')
    idem.put("k", "other", 500, b"late")
    got = idem.get("k")
    assert (got.fingerprint, got.status, got.body) == ("fp", 201, b'{"ok":1}')
    assert idem.get("absent") is None
    assert records.purge(time.time() + 1) == 1 and idem.get("k") is None
    idem.close()


def test_key_records_revoke_at_once_everywhere(db_home):
    from roost.service import ServiceSettings

    open_store(db_home).close()
    settings = ServiceSettings.from_env(db_home)
    one, two = KeyStore(settings.key_records()), KeyStore(settings.key_records())
    key, record = one.create("admin", name="ops")
    assert two.check(key).role == "admin" and bool(two)
    one.revoke(record.id)
    assert two.check(key) is None and not two


def test_migrations_are_versioned_and_a_newer_schema_is_refused(db_home, backend):
    db = Home.at(db_home).db()
    assert db.migrate() == db.migrate()  # idempotent
    assert db.exists()
    if backend == "sqlite":
        from roost.store.sqlite import connect

        conn = connect(db.path)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
    else:
        from roost.store.postgres import close_pools

        with db.pool.connection() as conn:
            conn.execute("INSERT INTO roost_schema (version) VALUES (99)")
        close_pools()  # a new process would migrate afresh
    with pytest.raises(RoostError, match="newer Roost"):
        open_store(db_home)


def test_a_missing_driver_names_the_extra():
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "from roost.store import backend_class\n"
            "try:\n    backend_class('postgresql')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.startswith("RoostError") and "pip install 'roost[postgres]'" in out


def test_urls_are_checked_and_passwords_never_printed(tmp_path):
    with pytest.raises(RoostError, match="unknown scheme 'mysql'"):
        Home.at(tmp_path, "mysql://u:secret@h/db")
    with pytest.raises(RoostError) as err:
        open_store(Home.at(tmp_path / "h", "postgresql://u:secret@127.0.0.1:1/db"))
    assert "secret" not in str(err.value) and "u:***@127.0.0.1:1" in str(err.value)
    home = Home.at(tmp_path / "plain")
    assert home.url == f"sqlite://{tmp_path / 'plain' / 'roost.db'}"


def test_arrow_tables_with_awkward_text_round_trip(store):
    text = ['quote " and, comma', "new\nline", "NULL", "tab\tand \\ backslash", "émoji 🐦"]
    items = Catalog.from_pydict(items={"id": [f"i{j}" for j in range(5)], "title": text,
                                       "tags": [["a,b"], ['"q"'], ["x y"], None, ["🐦"]]}).items  # fmt: skip
    ingest_table(store, "items", items)
    back = store.read("items")
    assert back.column("title").to_pylist() == text
    assert back.column("tags").to_pylist() == [["a,b"], ['"q"'], ["x y"], None, ["🐦"]]
    assert pa.compute.all(pa.compute.equal(back.column("id"), items.column("id"))).as_py()
