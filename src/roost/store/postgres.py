"""The server backend: PostgreSQL through psycopg 3 and psycopg_pool (``roost[postgres]``).

``postgresql://user:password@host:port/dbname`` holds the catalog, the version catalog with
aliases and history, API keys, idempotency records and the change log, so several serving
workers (on one machine or several, sharing the home's files) see one state. What SQLite
does with its one write lock, this backend does with a transaction-level advisory lock
(``pg_advisory_xact_lock``): one writer at a time, which keeps the change log in commit
order; an alias move also locks the alias row (``SELECT ... FOR UPDATE``).

Bulk writes go through ``COPY``: a batch of canonical rows is copied as CSV into a
temporary staging table, then inserted in one statement (``ON CONFLICT`` upserts items,
users and follows, and ignores repeated events), all inside the ingest's one transaction.
Every change is announced with ``NOTIFY roost_changes`` (delivered at commit), which wakes
the serving workers' ``LISTEN``.

Schema changes are numbered migrations (:data:`MIGRATIONS`) recorded in ``roost_schema``
and applied under an advisory lock, so two first opens of a database do not collide.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg_pool import ConnectionPool, PoolTimeout

from roost.data.frames import Catalog
from roost.store import feed
from roost.store.base import (
    COLUMNS,
    KEYS,
    CatalogStore,
    CatalogWriter,
    Change,
    ChangeLog,
    Database,
    IdempotencyRecords,
    KeyRecords,
    Sql,
    VersionCatalog,
)
from roost.store.sqlite import row_dict, table_of
from roost.store.urls import redact
from roost.types import RoostError

# Advisory lock keys (any 64-bit numbers, fixed for every Roost process on the database).
WRITE_LOCK = 0x526F6F7374_01  # catalog and version writes: one writer, like SQLite's lock
MIGRATE_LOCK = 0x526F6F7374_02
CHANNEL = "roost_changes"

_V1 = """
CREATE TABLE items (
    id TEXT PRIMARY KEY, title TEXT, text TEXT, tags TEXT, category TEXT, author TEXT,
    created_at BIGINT, fields TEXT, ord BIGSERIAL
);
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, fields TEXT, ord BIGSERIAL);
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    kind TEXT NOT NULL, value DOUBLE PRECISION, ts BIGINT NOT NULL, event_id TEXT
);
CREATE UNIQUE INDEX events_by_id ON events(event_id) WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX events_by_key ON events(user_id, item_id, kind, ts) WHERE event_id IS NULL;
CREATE INDEX events_by_user ON events(user_id, ts);
CREATE TABLE follows (
    follower TEXT NOT NULL, followee TEXT NOT NULL, ts BIGINT, PRIMARY KEY (follower, followee)
);
CREATE SEQUENCE versions_seq;
CREATE TABLE versions (
    seq BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT,
    method TEXT NOT NULL, kind TEXT NOT NULL, dim INTEGER NOT NULL, metric TEXT NOT NULL,
    count INTEGER NOT NULL, users INTEGER, created TEXT NOT NULL, parent TEXT,
    fingerprint TEXT NOT NULL, manifest TEXT NOT NULL
);
CREATE TABLE aliases (
    name TEXT PRIMARY KEY, version TEXT NOT NULL REFERENCES versions(id), at TEXT NOT NULL
);
CREATE TABLE alias_history (
    seq BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL,
    at TEXT NOT NULL, undone_at TEXT
);
CREATE INDEX alias_history_by_name ON alias_history(name, seq);
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY, origin TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
    body BYTEA NOT NULL, created DOUBLE PRECISION NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL, created TEXT NOT NULL,
    salt TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE api_keys_stamp (one BOOLEAN PRIMARY KEY DEFAULT TRUE, n BIGINT NOT NULL);
INSERT INTO api_keys_stamp (n) VALUES (0)
"""

# Each entry upgrades the schema by one version; never edit a released one.
MIGRATIONS: list[str] = [_V1]

_ORDER = {"items": "ord", "users": "ord", "events": "seq", "follows": "follower, followee"}
_TYPES = {"created_at": "BIGINT", "ts": "BIGINT", "value": "DOUBLE PRECISION"}
_POOLS: dict[tuple[int, str], ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()
_MIGRATED: set[tuple[int, str]] = set()


def pool(url: str) -> ConnectionPool:
    """This process's connection pool for ``url`` (one per process: psycopg pools are not
    fork-safe, and every store object of a process shares it)."""
    key = (os.getpid(), url)
    with _POOLS_LOCK:
        p = _POOLS.get(key)
        if p is None:
            try:  # one plain connection first: a wrong URL fails now, with the server's reason
                psycopg.connect(url, connect_timeout=10).close()
            except psycopg.Error as e:
                raise RoostError(f"{redact(url)}: cannot connect to the database ({e})") from None
            p = ConnectionPool(url, min_size=1, max_size=16, open=False,
                               kwargs={"autocommit": True}, name="roost")  # fmt: skip
            try:
                p.open(wait=True, timeout=15)
            except (PoolTimeout, psycopg.Error) as e:
                p.close()
                raise RoostError(f"{redact(url)}: cannot connect to the database ({e})") from None
            _POOLS[key] = p
    return p


def close_pools(url: str | None = None) -> None:
    """Close this process's pools (of ``url``, or all); a process's exit closes them anyway."""
    with _POOLS_LOCK:
        keys = [k for k in _POOLS if k[0] == os.getpid() and url in (None, k[1])]
        pools = [_POOLS.pop(k) for k in keys]
        _MIGRATED.difference_update(keys)
    quiet = logging.getLogger("psycopg.pool")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "couldn't stop thread within 0 seconds": they stop later
    try:
        for p in pools:
            p.close(timeout=0)
    finally:
        quiet.setLevel(level)


class _Tx:
    """Runs the shared ``?`` queries on one connection (inside a transaction)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def execute(self, query: str, args: Any = ()) -> psycopg.Cursor:
        return self.conn.execute(query.replace("?", "%s"), tuple(args) if args else None)

    def executemany(self, query: str, rows: Any) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(query.replace("?", "%s"), list(rows))


class _Rows:
    def __init__(self, rows: list, rowcount: int):
        self.rows, self.rowcount = rows, rowcount

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list:
        return self.rows

    def __iter__(self):
        return iter(self.rows)


class _PoolSql:
    """Runs a shared query on any free connection of the pool (reads outside writes)."""

    def __init__(self, p: ConnectionPool):
        self.pool = p

    def execute(self, query: str, args: Any = ()) -> _Rows:
        with self.pool.connection() as conn:
            cur = conn.execute(query.replace("?", "%s"), tuple(args) if args else None)
            return _Rows(cur.fetchall() if cur.description else [], cur.rowcount)

    def executemany(self, query: str, rows: Any) -> None:
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(query.replace("?", "%s"), list(rows))


def log_change(conn: psycopg.Connection, origin: str, kind: str, body: dict[str, Any]) -> int:
    seq = conn.execute(
        "INSERT INTO changes (origin, kind, body, at) VALUES (%s, %s, %s, %s) RETURNING seq",
        (origin, kind, orjson.dumps(body).decode(), time.time()),
    ).fetchone()[0]
    conn.execute(f"NOTIFY {CHANNEL}")
    return seq


def migrate(p: ConnectionPool) -> int:
    """Apply missing migrations under an advisory lock; returns the schema version."""
    with p.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS roost_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM roost_schema").fetchone()
        current = row[0] or 0
        if current > len(MIGRATIONS):
            raise RoostError(f"this database was written by a newer Roost (schema {current}, "
                             f"this one knows {len(MIGRATIONS)}): upgrade Roost")  # fmt: skip
        for version in range(current + 1, len(MIGRATIONS) + 1):
            for stmt in MIGRATIONS[version - 1].split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO roost_schema (version) VALUES (%s)", (version,))
    return len(MIGRATIONS)


def _csv(kind: str, table: pa.Table) -> bytes:
    """Canonical rows as the CSV that COPY reads (tags as JSON text; NULL unquoted)."""
    cols = []
    for name in COLUMNS[kind]:
        col = table.column(name)
        if name == "tags":
            col = pa.array([None if v is None else orjson.dumps(v).decode() for v in col.to_pylist()],
                           pa.string())  # fmt: skip
        cols.append(col)
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_arrays(cols, names=COLUMNS[kind]), buf,
                    pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))  # fmt: skip
    return buf.getvalue()


class _Writer(CatalogWriter):
    def __init__(self, conn: psycopg.Connection, origin: str):
        self.conn = conn
        self.origin = origin
        self.head = 0
        self._staged: set[str] = set()

    def _log(self, entry: tuple[str, dict] | None) -> None:
        if entry is not None:
            self.head = log_change(self.conn, self.origin, *entry)

    def _copy(self, table_name: str, kind: str, data: bytes) -> int:
        with self.conn.cursor() as cur:
            with cur.copy(f"COPY {table_name} ({', '.join(COLUMNS[kind])}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(data)
            return cur.rowcount

    def _stage(self, kind: str, data: bytes) -> str:
        """COPY the rows into this transaction's staging table; returns its name."""
        name = f"roost_stage_{kind}"
        if kind not in self._staged:
            cols = ", ".join(f"{c} {_TYPES.get(c, 'TEXT')}" for c in COLUMNS[kind])
            self.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} "
                              f"(n BIGINT GENERATED ALWAYS AS IDENTITY, {cols}) ON COMMIT DROP")  # fmt: skip
            self._staged.add(kind)
        else:
            self.conn.execute(f"TRUNCATE {name} RESTART IDENTITY")
        self._copy(name, kind, data)
        return name

    def write(self, kind: str, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        data = _csv(kind, table)
        before = self._max_event() if kind == "events" else 0
        # Fast path: COPY straight into the table, as a bulk load would. A row whose key is
        # stored already (a re-ingest, an update) aborts it at that row: the savepoint undoes
        # it and the rows go through staging and one INSERT ... ON CONFLICT instead.
        try:
            with self.conn.transaction():
                n = self._copy(kind, kind, data)
        except psycopg.errors.UniqueViolation:
            n = self._merge(kind, data)
        if kind == "events":
            if n:
                self._log(feed.events_body(before, self._max_event()))
        else:
            self._log(feed.write_body(kind, table))
        return n

    def _max_event(self) -> int:
        return self.conn.execute("SELECT COALESCE(max(seq), 0) FROM events").fetchone()[0]

    def _merge(self, kind: str, data: bytes) -> int:
        """Upsert (items, users, follows) or insert-once (events) through staging; returns
        how many rows were new."""
        stage = self._stage(kind, data)
        cols = ", ".join(COLUMNS[kind])
        if kind == "events":
            return self.conn.execute(
                f"WITH ins AS (INSERT INTO events ({cols}) SELECT {cols} FROM {stage} ORDER BY n "
                "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM ins"
            ).fetchone()[0]
        keys = KEYS[kind]
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[kind] if c not in keys)
        return self.conn.execute(
            f"WITH up AS (INSERT INTO {kind} ({cols}) SELECT {cols} FROM {stage} ORDER BY n "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates} RETURNING (xmax = 0) AS new) "
            "SELECT count(*) FILTER (WHERE new) FROM up"
        ).fetchone()[0]

    def register_users(self, ids: list[str]) -> int:
        if not ids:
            return 0
        # No ON CONFLICT: its speculative insertion took twice as long for 50k new users, and
        # the write lock this transaction holds keeps other Roost writers out meanwhile.
        with self.conn.cursor(binary=True) as cur:
            return cur.execute(
                "INSERT INTO users (id) SELECT u FROM unnest(%b::text[]) u "
                "WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = u)", (list(ids),),
            ).rowcount

    def delete(self, kind: str, keys: list[tuple[str, ...]]) -> int:
        where = " AND ".join(f"{c} = %s" for c in KEYS[kind])
        removed = 0
        with self.conn.cursor() as cur:
            for key in keys:
                removed += cur.execute(f"DELETE FROM {kind} WHERE {where}", key).rowcount
        if removed:
            self._log(feed.delete_body(kind, keys))
        return removed


class PostgresStore(CatalogStore):
    """The catalog on a PostgreSQL server (connections from the process's pool)."""

    def __init__(self, db: PostgresDatabase, *, head: feed.FeedHead | None = None):
        self.db = db
        self.pool = db.pool
        self.origin = uuid.uuid4().hex
        self.schema_version = len(MIGRATIONS)
        self._head = head

    @contextmanager
    def transaction(self) -> Iterator[_Writer]:
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                writer = _Writer(conn, self.origin)
                yield writer
                if writer.head and self._head is not None:
                    self._head.bump(writer.head)  # under the lock: the head only grows

    def _select(self, conn: psycopg.Connection, kind: str, where: str = "", args: Any = None) -> list:
        cols = ", ".join(COLUMNS[kind])
        return conn.execute(f"SELECT {cols} FROM {kind} {where} ORDER BY {_ORDER[kind]}", args).fetchall()

    def read(self, kind: str) -> pa.Table:
        with self.pool.connection() as conn:
            return table_of(kind, self._select(conn, kind))

    def snapshot(self) -> tuple[Catalog, int]:
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                head = conn.execute("SELECT COALESCE(max(seq), 0) FROM changes").fetchone()[0]
                tables = {k: table_of(k, self._select(conn, k)) for k in self.iter_kinds()}
        return Catalog(**tables), head

    def events_between(self, after: int, upto: int) -> pa.Table:
        with self.pool.connection() as conn:
            return table_of("events", self._select(conn, "events", "WHERE seq > %s AND seq <= %s",
                                                   (after, upto)))  # fmt: skip

    def get(self, kind: str, key: tuple[str, ...]) -> dict[str, Any] | None:
        where = " AND ".join(f"{c} = %s" for c in KEYS[kind])
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {', '.join(COLUMNS[kind])} FROM {kind} WHERE {where}",
                               tuple(key)).fetchone()  # fmt: skip
        return row_dict(kind, row)

    def ids(self, kind: str) -> pa.Array:
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT id FROM {kind}").fetchall()
        return pa.array([r[0] for r in rows], pa.string())

    def counts(self) -> dict[str, int]:
        with self.pool.connection() as conn:
            return {k: conn.execute(f"SELECT count(*) FROM {k}").fetchone()[0]
                    for k in ("items", "users", "events", "follows")}  # fmt: skip

    def sample_user(self) -> str | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT user_id FROM events GROUP BY user_id "
                               "ORDER BY count(*) DESC, user_id LIMIT 1").fetchone()  # fmt: skip
        return row[0] if row else None

    def check(self) -> list[str]:
        try:
            with self.pool.connection() as conn:
                version = conn.execute("SELECT max(version) FROM roost_schema").fetchone()[0]
        except psycopg.Error as e:
            return [f"{self.db.describe()}: {e}"]
        if version != len(MIGRATIONS):
            return [f"{self.db.describe()}: schema {version}, expected {len(MIGRATIONS)}"]
        return []

    def close(self) -> None:
        pass  # connections belong to the process's pool


class PostgresVersions(VersionCatalog):
    for_update = " FOR UPDATE"

    def __init__(self, db: PostgresDatabase, head: feed.FeedHead | None = None):
        self.pool = db.pool
        self.origin = uuid.uuid4().hex
        self._head = head
        self._logged = 0

    @contextmanager
    def write(self, *, wait: bool = True) -> Iterator[Sql | None]:
        with self.pool.connection() as conn:
            with conn.transaction():
                if wait:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                elif not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (WRITE_LOCK,)).fetchone()[0]:
                    yield None
                    return
                self._logged = 0
                yield _Tx(conn)
                if self._logged and self._head is not None:
                    self._head.bump(self._logged)

    def read(self) -> Sql:
        return _PoolSql(self.pool)

    def next_seq(self, sql: Sql) -> int:
        return sql.execute("SELECT nextval('versions_seq')").fetchone()[0]

    def log(self, sql: Sql, kind: str, body: dict[str, Any]) -> None:
        self._logged = log_change(sql.conn, self.origin, kind, body)

    def close(self) -> None:
        pass


class PostgresChanges(ChangeLog):
    """The change log; :meth:`wait` is a ``LISTEN`` on its own connection."""

    def __init__(self, db: PostgresDatabase):
        self.db = db
        self.pool = db.pool
        self._listen: psycopg.Connection | None = None

    def head(self) -> int:
        with self.pool.connection() as conn:
            return conn.execute("SELECT COALESCE(max(seq), 0) FROM changes").fetchone()[0]

    def since(self, seq: int, limit: int = 1000) -> list[Change]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT seq, origin, kind, body FROM changes WHERE seq > %s "
                                "ORDER BY seq LIMIT %s", (seq, limit)).fetchall()  # fmt: skip
        return [Change(s, o, k, orjson.loads(b)) for s, o, k, b in rows]

    def wait(self, timeout: float) -> None:
        if self._listen is None or self._listen.closed:
            self._listen = psycopg.connect(self.db.url, autocommit=True)
            self._listen.execute(f"LISTEN {CHANNEL}")
        for _ in self._listen.notifies(timeout=timeout, stop_after=1):
            pass

    def interrupt(self) -> None:
        if self._listen is not None:  # our own notification wakes the LISTEN (others' too:
            with self.pool.connection() as conn:  # they look, find nothing new, wait again)
                conn.execute(f"NOTIFY {CHANNEL}")

    def close(self) -> None:
        if self._listen is not None:
            self._listen.close()
            self._listen = None


def _text_key(key: str) -> str:
    """A key as PostgreSQL text, which cannot hold NUL (the service joins scope and key with
    one): escaped one-to-one, backslashes first."""
    return key.replace("\\", "\\\\").replace("\x00", "\\0")


class PostgresIdempotency(IdempotencyRecords):
    def __init__(self, db: PostgresDatabase):
        self.pool = db.pool

    def get(self, key: str) -> tuple[str, int, bytes] | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT fingerprint, status, body FROM idempotency WHERE key = %s",
                               (_text_key(key),)).fetchone()  # fmt: skip
        return None if row is None else (row[0], int(row[1]), bytes(row[2]))

    def put(self, key: str, fingerprint: str, status: int, body: bytes, created: float) -> None:
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO idempotency (key, fingerprint, status, body, created) "
                         "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                         (_text_key(key), fingerprint, status, body, created))  # fmt: skip

    def purge(self, before: float) -> int:
        with self.pool.connection() as conn:
            return conn.execute("DELETE FROM idempotency WHERE created < %s", (before,)).rowcount

    def clear(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM idempotency")

    def close(self) -> None:
        pass


_KEY_COLS = ("id", "role", "name", "created", "salt", "hash")


class PostgresKeys(KeyRecords):
    """API key records in the ``api_keys`` table; a counter row tells readers of a change."""

    def __init__(self, db: PostgresDatabase):
        self.pool = db.pool
        self.where = f"{db.describe()} (table api_keys)"

    def stamp(self) -> Any:
        with self.pool.connection() as conn:
            n, stamp = conn.execute("SELECT (SELECT count(*) FROM api_keys), n FROM api_keys_stamp").fetchone()
        return None if n == 0 and stamp == 0 else (n, stamp)

    def load(self) -> list[dict[str, str]]:
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {', '.join(_KEY_COLS)} FROM api_keys ORDER BY created, id").fetchall()
        return [dict(zip(_KEY_COLS, r, strict=True)) for r in rows]

    def save(self, records: list[dict[str, str]]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT n FROM api_keys_stamp FOR UPDATE")
            conn.execute("DELETE FROM api_keys")
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO api_keys ({', '.join(_KEY_COLS)}) VALUES "
                                f"({', '.join(['%s'] * len(_KEY_COLS))})",
                                [tuple(r[c] for c in _KEY_COLS) for r in records])  # fmt: skip
            conn.execute("UPDATE api_keys_stamp SET n = n + 1")


class PostgresDatabase(Database):
    """``postgresql://user:password@host:port/dbname``: the server backend."""

    scheme = "postgresql"

    def __init__(self, url: str, home: Path):
        super().__init__(url, home)
        from roost.store.artifacts import Artifacts

        self.artifacts = Artifacts(home)
        self._pool: ConnectionPool | None = None

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            self._pool = pool(self.url)
        return self._pool

    def exists(self) -> bool:
        with self.pool.connection() as conn:
            return conn.execute("SELECT to_regclass('roost_schema') IS NOT NULL").fetchone()[0]

    def migrate(self) -> int:
        key = (os.getpid(), self.url)
        if key not in _MIGRATED:  # once per process: every store open would take the lock
            migrate(self.pool)
            _MIGRATED.add(key)
        return len(MIGRATIONS)

    def _head(self) -> feed.FeedHead:
        return feed.FeedHead(self.artifacts.feed_head)

    def catalog(self, *, readonly: bool = False) -> PostgresStore:
        self.migrate()
        return PostgresStore(self, head=self._head())

    def versions(self) -> PostgresVersions:
        self.migrate()
        return PostgresVersions(self, self._head())

    def idempotency(self) -> PostgresIdempotency:
        self.migrate()
        return PostgresIdempotency(self)

    def keys(self) -> PostgresKeys:
        self.migrate()
        return PostgresKeys(self)

    def changes(self) -> PostgresChanges:
        self.migrate()
        return PostgresChanges(self)
