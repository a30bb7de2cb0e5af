"""The embedded backend: one SQLite file in WAL mode, no server needed (the default).

``sqlite:///<home>/roost.db`` holds the catalog, the version catalog with aliases and the
change log; idempotency records live in ``<home>/service.db`` (their writes never wait for
an ingest) and API keys in ``<home>/keys.json``. SQLite's write lock (``BEGIN IMMEDIATE``)
makes one writer at a time, which is what the change log's order relies on.

Schema changes are numbered migrations (:data:`MIGRATIONS`); opening a home applies the
missing ones inside a transaction, so an old home upgrades in place and a crash mid-way
leaves it at the old version.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from roost.data.frames import SCHEMAS, Catalog
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
from roost.store.urls import sqlite_path
from roost.types import RoostError

_V1 = """
CREATE TABLE items (
    id TEXT PRIMARY KEY, title TEXT, text TEXT, tags TEXT, category TEXT, author TEXT,
    created_at INTEGER, fields TEXT
);
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, fields TEXT);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    kind TEXT NOT NULL, value REAL, ts INTEGER NOT NULL, event_id TEXT
);
-- An event is the same event when its id agrees, or, without an id, when user, item,
-- kind and time agree: re-ingesting a file stores nothing twice.
CREATE UNIQUE INDEX events_by_id ON events(event_id) WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX events_by_key ON events(user_id, item_id, kind, ts) WHERE event_id IS NULL;
CREATE INDEX events_by_user ON events(user_id, ts);
CREATE TABLE follows (
    follower TEXT NOT NULL, followee TEXT NOT NULL, ts INTEGER,
    PRIMARY KEY (follower, followee)
) WITHOUT ROWID;
"""

# Embedding versions (roost.store.versions): the catalog of published version folders,
# aliases, and each alias's history (rollback pops it). IF NOT EXISTS: two processes
# opening one home at once may both run this step.
_V2_VERSIONS = """
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT,
    method TEXT NOT NULL, kind TEXT NOT NULL, dim INTEGER NOT NULL, metric TEXT NOT NULL,
    count INTEGER NOT NULL, users INTEGER, created TEXT NOT NULL, parent TEXT,
    fingerprint TEXT NOT NULL, manifest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT PRIMARY KEY, version TEXT NOT NULL REFERENCES versions(id), at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alias_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, version TEXT NOT NULL,
    at TEXT NOT NULL, undone_at TEXT
);
CREATE INDEX IF NOT EXISTS alias_history_by_name ON alias_history(name, seq);
"""

# The change log (roost.store.feed): one entry per write, in commit order.
_V3_CHANGES = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, kind TEXT NOT NULL,
    body TEXT NOT NULL, at REAL NOT NULL
);
"""

# Each entry upgrades the schema by one version; never edit a released one.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [_V1, _V2_VERSIONS, _V3_CHANGES]


_ORDER = {"items": "rowid", "users": "rowid", "events": "seq", "follows": "follower, followee"}


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with Roost's settings: WAL, foreign-key checks, explicit transactions."""
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across application crashes in WAL mode; FULL also survives
        # power loss: a 2xx from the service promises durability, so we pay for FULL.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply missing migrations; returns the schema version now in force."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise RoostError(
            f"this home was written by a newer Roost (schema {current}, "
            f"this one knows {len(MIGRATIONS)}): upgrade Roost"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        step = MIGRATIONS[version - 1]
        conn.execute("BEGIN IMMEDIATE")
        # Another process may have applied this step between our read of user_version and
        # taking the write lock (two first opens of a fresh home): read it again under it.
        if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
            conn.execute("COMMIT")
            continue
        try:
            if callable(step):
                step(conn)
            else:
                for stmt in _statements(step):
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> Iterator[str]:
    # executescript() would COMMIT our open transaction; split on ';' instead (our own
    # migration scripts hold no ';' inside literals).
    for stmt in script.split(";"):
        lines = [ln for ln in stmt.splitlines() if not ln.strip().startswith("--")]
        if "".join(lines).strip():
            yield "\n".join(lines)


def log_change(conn: Sql, origin: str, kind: str, body: dict[str, Any]) -> int:
    """Append one change log entry inside the caller's write transaction; returns its seq."""
    cur = conn.execute(
        "INSERT INTO changes (origin, kind, body, at) VALUES (?, ?, ?, ?)",
        (origin, kind, orjson.dumps(body).decode(), time.time()),
    )
    return cur.lastrowid


class _Writer(CatalogWriter):
    def __init__(self, conn: sqlite3.Connection, origin: str):
        self.conn = conn
        self.origin = origin
        self.head = 0  # the newest change logged by this transaction

    def _log(self, entry: tuple[str, dict] | None) -> None:
        if entry is not None:
            self.head = log_change(self.conn, self.origin, *entry)

    def write(self, kind: str, table: pa.Table) -> int:
        cols = COLUMNS[kind]
        rows = rows_of(kind, table)
        if kind == "events":
            before = self._max_event()
            changes = self.conn.total_changes
            sql = f"INSERT OR IGNORE INTO events ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            self.conn.executemany(sql, rows)
            stored = self.conn.total_changes - changes
            if stored:
                self._log(feed.events_body(before, self._max_event()))
            return stored
        keys = KEYS[kind]
        n_before = self.conn.execute(f"SELECT COUNT(*) FROM {kind}").fetchone()[0]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
        sql = (
            f"INSERT INTO {kind} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
        self.conn.executemany(sql, rows)
        if table.num_rows:
            self._log(feed.write_body(kind, table))
        return self.conn.execute(f"SELECT COUNT(*) FROM {kind}").fetchone()[0] - n_before

    def _max_event(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]

    def register_users(self, ids: list[str]) -> int:
        before = self.conn.total_changes
        self.conn.executemany("INSERT OR IGNORE INTO users (id) VALUES (?)", ((i,) for i in ids))
        return self.conn.total_changes - before

    def delete(self, kind: str, keys: list[tuple[str, ...]]) -> int:
        where = " AND ".join(f"{c} = ?" for c in KEYS[kind])
        before = self.conn.total_changes
        self.conn.executemany(f"DELETE FROM {kind} WHERE {where}", keys)
        removed = self.conn.total_changes - before
        if removed:
            self._log(feed.delete_body(kind, keys))
        return removed


def rows_of(kind: str, table: pa.Table) -> Iterator[tuple]:
    """Canonical Arrow rows as Python tuples, fast (numpy's tolist beats to_pylist)."""
    columns = []
    for name in COLUMNS[kind]:
        col = table.column(name)
        if name in ("tags",):
            values = [None if v is None else orjson.dumps(v).decode() for v in col.to_pylist()]
        elif col.null_count == 0 and pa.types.is_primitive(col.type):
            values = col.to_numpy().tolist()
        else:
            values = col.to_pylist()
        columns.append(values)
    return zip(*columns, strict=True)


def table_of(kind: str, rows: list[tuple]) -> pa.Table:
    """Rows read back (tags as JSON text) as a canonical Arrow table."""
    schema = SCHEMAS[kind]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        if field.name == "tags":
            values = [None if v is None else orjson.loads(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def row_dict(kind: str, row: tuple | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(zip(COLUMNS[kind], row, strict=True))
    if "tags" in out and out["tags"] is not None:
        out["tags"] = orjson.loads(out["tags"])
    if out.get("fields") is not None:
        out["fields"] = orjson.loads(out["fields"])
    return out


class SQLiteStore(CatalogStore):
    """Catalog store in ``<home>/roost.db``.

    Examples
    --------
    >>> import tempfile, pyarrow as pa
    >>> from roost.data.frames import Catalog
    >>> with SQLiteStore(tempfile.mkdtemp() + "/roost.db") as s:
    ...     with s.transaction() as w:
    ...         _ = w.write("items", Catalog.from_pydict(items={"id": ["a"]}).items)
    ...     s.counts()["items"]
    1
    """

    def __init__(self, path: str | Path, *, readonly: bool = False,
                 head: feed.FeedHead | None = None):  # fmt: skip
        self.path = Path(path)
        self.origin = uuid.uuid4().hex
        self._head = head
        if readonly and not self.path.exists():
            raise RoostError(f"{self.path}: no Roost store here (run `roost init`)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = connect(self.path, readonly=readonly)
            self.schema_version = (
                self.conn.execute("PRAGMA user_version").fetchone()[0]
                if readonly
                else migrate(self.conn)
            )
        except sqlite3.DatabaseError as e:
            raise RoostError(f"{self.path}: not a usable Roost store: {e}") from e

    @contextmanager
    def transaction(self) -> Iterator[_Writer]:
        self.conn.execute("BEGIN IMMEDIATE")
        writer = _Writer(self.conn, self.origin)
        try:
            yield writer
            if writer.head and self._head is not None:
                self._head.bump(writer.head)  # under the write lock: the head only grows
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def read(self, kind: str) -> pa.Table:
        cols = COLUMNS[kind]
        rows = self.conn.execute(f"SELECT {', '.join(cols)} FROM {kind} ORDER BY {_ORDER[kind]}").fetchall()
        return table_of(kind, rows)

    def snapshot(self) -> tuple[Catalog, int]:
        self.conn.execute("BEGIN")  # a WAL read transaction: one consistent view
        try:
            head = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
            tables = {k: self.read(k) for k in self.iter_kinds()}
        finally:
            self.conn.execute("COMMIT")
        return Catalog(**tables), head

    def events_between(self, after: int, upto: int) -> pa.Table:
        cols = COLUMNS["events"]
        rows = self.conn.execute(
            f"SELECT {', '.join(cols)} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
            (after, upto),
        ).fetchall()
        return table_of("events", rows)

    def get(self, kind: str, key: tuple[str, ...]) -> dict[str, Any] | None:
        where = " AND ".join(f"{c} = ?" for c in KEYS[kind])
        row = self.conn.execute(f"SELECT {', '.join(COLUMNS[kind])} FROM {kind} WHERE {where}", key).fetchone()
        return row_dict(kind, row)

    def ids(self, kind: str) -> pa.Array:
        rows = self.conn.execute(f"SELECT id FROM {kind}").fetchall()
        return pa.array([r[0] for r in rows], pa.string())

    def counts(self) -> dict[str, int]:
        return {
            k: self.conn.execute(f"SELECT COUNT(*) FROM {k}").fetchone()[0]
            for k in ("items", "users", "events", "follows")
        }

    def sample_user(self) -> str | None:
        row = self.conn.execute(
            "SELECT user_id FROM events GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def check(self) -> list[str]:
        rows = self.conn.execute("PRAGMA integrity_check").fetchall()
        return [] if rows == [("ok",)] else [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


class SQLiteVersions(VersionCatalog):
    """The version catalog in the home's SQLite file; the write lock is SQLite's."""

    def __init__(self, path: Path, head: feed.FeedHead | None = None):
        self.path = path
        self.origin = uuid.uuid4().hex
        self._head = head
        try:
            self.conn = connect(path)
            migrate(self.conn)
        except sqlite3.DatabaseError as e:
            raise RoostError(f"{path}: not a usable Roost store: {e}") from e
        self._logged = 0

    @contextmanager
    def write(self, *, wait: bool = True) -> Iterator[Sql | None]:
        if not wait:
            self.conn.execute("PRAGMA busy_timeout = 200")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            if wait:
                raise
            yield None
            return
        finally:
            if not wait:
                self.conn.execute("PRAGMA busy_timeout = 10000")
        self._logged = 0
        try:
            yield self.conn
            if self._logged and self._head is not None:
                self._head.bump(self._logged)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def read(self) -> Sql:
        return self.conn

    def next_seq(self, sql: Sql) -> int:
        # AUTOINCREMENT's counter never goes back, so a deleted version's number is not reused.
        row = sql.execute("SELECT seq FROM sqlite_sequence WHERE name = 'versions'").fetchone()
        return (row[0] if row else 0) + 1

    def log(self, sql: Sql, kind: str, body: dict[str, Any]) -> None:
        self._logged = log_change(sql, self.origin, kind, body)

    def close(self) -> None:
        self.conn.close()


class SQLiteChanges(ChangeLog):
    """The change log read from the SQLite file; waiting is a poll."""

    def __init__(self, path: Path):
        self.conn = connect(path, readonly=True)
        self._lock = threading.Lock()  # the background wait and request threads share it
        self._closed = False
        self._woken = threading.Event()

    def head(self) -> int:
        with self._lock:
            return self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]

    def since(self, seq: int, limit: int = 1000) -> list[Change]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT seq, origin, kind, body FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [Change(s, o, k, orjson.loads(b)) for s, o, k, b in rows]

    def wait(self, timeout: float) -> None:
        # SQLite cannot notify: look at the head every 50 ms (an index lookup) until it moves.
        deadline = time.monotonic() + timeout
        start = self.head()
        while (left := deadline - time.monotonic()) > 0:
            if self._woken.wait(min(0.05, left)):
                return
            if self.head() != start:
                return

    def interrupt(self) -> None:
        self._woken.set()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.conn.close()


_IDEMPOTENCY = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
    body BLOB NOT NULL, created REAL NOT NULL
)
"""


class SQLiteIdempotency(IdempotencyRecords):
    """Records in ``<home>/service.db``, a file of their own: a request's record never
    waits for the catalog's write lock (an ingest may hold it for long)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect(path)
        self.conn.execute(_IDEMPOTENCY)

    def get(self, key: str) -> tuple[str, int, bytes] | None:
        row = self.conn.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else (row[0], int(row[1]), bytes(row[2]))

    def put(self, key: str, fingerprint: str, status: int, body: bytes, created: float) -> None:
        try:
            self.conn.execute(
                "INSERT INTO idempotency (key, fingerprint, status, body, created) VALUES (?, ?, ?, ?, ?)",
                (key, fingerprint, status, body, created),
            )
        except sqlite3.IntegrityError:
            pass  # another process recorded it first: its answer stands

    def purge(self, before: float) -> int:
        return self.conn.execute("DELETE FROM idempotency WHERE created < ?", (before,)).rowcount

    def clear(self) -> None:
        self.conn.execute("DELETE FROM idempotency")

    def close(self) -> None:
        self.conn.close()


class SQLiteDatabase(Database):
    """``sqlite:///path/roost.db``: the embedded default."""

    scheme = "sqlite"

    def __init__(self, url: str, home: Path):
        super().__init__(url, home)
        self.path = sqlite_path(url)
        from roost.store.artifacts import Artifacts

        self.artifacts = Artifacts(home)

    def exists(self) -> bool:
        return self.path.exists()

    def migrate(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = connect(self.path)
            try:
                return migrate(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            raise RoostError(f"{self.path}: not a usable Roost store: {e}") from e

    def _head(self) -> feed.FeedHead:
        return feed.FeedHead(self.artifacts.feed_head)

    def catalog(self, *, readonly: bool = False) -> SQLiteStore:
        return SQLiteStore(self.path, readonly=readonly, head=self._head())

    def versions(self) -> SQLiteVersions:
        return SQLiteVersions(self.path, self._head())

    def idempotency(self) -> SQLiteIdempotency:
        return SQLiteIdempotency(self.artifacts.service_db)

    def keys(self) -> KeyRecords | None:
        return None  # the home's keys file (roost.store.keyfile)

    def changes(self) -> SQLiteChanges:
        return SQLiteChanges(self.path)
