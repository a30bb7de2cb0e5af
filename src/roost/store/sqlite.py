"""The embedded catalog store: one SQLite file in WAL mode, no server needed.

Schema changes are numbered migrations (:data:`MIGRATIONS`); opening a home applies the
missing ones inside a transaction, so an old home upgrades in place and a crash mid-way
leaves it at the old version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from roost.data.frames import SCHEMAS
from roost.store.base import CatalogStore, CatalogWriter
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

# Each entry upgrades the schema by one version. Later stages (the version store ...)
# append theirs here; never edit a released one.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [_V1, _V2_VERSIONS]

_COLUMNS = {kind: [f.name for f in schema] for kind, schema in SCHEMAS.items()}
_KEYS = {"items": ("id",), "users": ("id",), "follows": ("follower", "followee")}
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


class _Writer(CatalogWriter):
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def write(self, kind: str, table: pa.Table) -> int:
        cols = _COLUMNS[kind]
        rows = _rows(kind, table)
        before = self.conn.total_changes
        if kind == "events":
            sql = f"INSERT OR IGNORE INTO events ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            self.conn.executemany(sql, rows)
            return self.conn.total_changes - before
        keys = _KEYS[kind]
        n_before = self.conn.execute(f"SELECT COUNT(*) FROM {kind}").fetchone()[0]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
        sql = (
            f"INSERT INTO {kind} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
        self.conn.executemany(sql, rows)
        return self.conn.execute(f"SELECT COUNT(*) FROM {kind}").fetchone()[0] - n_before

    def register_users(self, ids: list[str]) -> int:
        before = self.conn.total_changes
        self.conn.executemany("INSERT OR IGNORE INTO users (id) VALUES (?)", ((i,) for i in ids))
        return self.conn.total_changes - before

    def delete(self, kind: str, keys: list[tuple[str, ...]]) -> int:
        key_cols = _KEYS.get(kind, ("event_id",))
        where = " AND ".join(f"{c} = ?" for c in key_cols)
        before = self.conn.total_changes
        self.conn.executemany(f"DELETE FROM {kind} WHERE {where}", keys)
        return self.conn.total_changes - before


def _rows(kind: str, table: pa.Table) -> Iterator[tuple]:
    """Canonical Arrow rows as Python tuples, fast (numpy's tolist beats to_pylist)."""
    columns = []
    for name in _COLUMNS[kind]:
        col = table.column(name)
        if name in ("tags",):
            values = [None if v is None else orjson.dumps(v).decode() for v in col.to_pylist()]
        elif col.null_count == 0 and pa.types.is_primitive(col.type):
            values = col.to_numpy().tolist()
        else:
            values = col.to_pylist()
        columns.append(values)
    return zip(*columns, strict=True)


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

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
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
        try:
            yield _Writer(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def read(self, kind: str) -> pa.Table:
        schema = SCHEMAS[kind]
        cols = _COLUMNS[kind]
        cur = self.conn.execute(f"SELECT {', '.join(cols)} FROM {kind} ORDER BY {_ORDER[kind]}")
        rows = cur.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in cols]
        arrays = []
        for field, values in zip(schema, columns, strict=True):
            if field.name == "tags":
                values = [None if v is None else orjson.loads(v) for v in values]
            arrays.append(pa.array(values, type=field.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def get(self, kind: str, key: tuple[str, ...]) -> dict[str, Any] | None:
        cols = _COLUMNS[kind]
        key_cols = _KEYS.get(kind, ("event_id",))
        where = " AND ".join(f"{c} = ?" for c in key_cols)
        row = self.conn.execute(f"SELECT {', '.join(cols)} FROM {kind} WHERE {where}", key).fetchone()
        if row is None:
            return None
        out = dict(zip(cols, row, strict=True))
        if "tags" in out and out["tags"] is not None:
            out["tags"] = orjson.loads(out["tags"])
        if out.get("fields") is not None:
            out["fields"] = orjson.loads(out["fields"])
        return out

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
