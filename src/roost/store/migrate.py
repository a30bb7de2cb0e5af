"""``roost migrate``: copy an embedded home's database into a PostgreSQL server.

Everything the SQLite file holds (items, users, events, follows, the version catalog with
its numbering, aliases and their whole history) and what sits beside it (API keys from
``keys.json``, idempotency records from ``service.db``) is copied in one server
transaction, under the write lock, and checked by row counts before it commits. Only then
does the home switch: it records the server's URL and the SQLite files are renamed
``*.migrated`` (kept, not deleted). Vector and index files stay where they are: the
server's rows name them by version id, as the SQLite rows did.

Stop every process serving the home first: writes made to the SQLite file during the copy
would not be carried over.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tqdm import tqdm

from roost.store.home import Home
from roost.store.urls import redact, scheme
from roost.types import RoostError

_VERSION_COLS = ("seq, id, name, method, kind, dim, metric, count, users, created, parent, "
                 "fingerprint, manifest")  # fmt: skip


def copy_home(home: Home, to: str, *, progress: bool = False) -> dict[str, Any]:
    """Copy ``home``'s embedded database into the server database ``to`` and switch the
    home to it; returns what was copied. Refuses a target that holds Roost data already."""
    from roost.store import open_database
    from roost.store.keyfile import FileKeys
    from roost.store.postgres import WRITE_LOCK, PostgresKeys, _Writer
    from roost.store.sqlite import SQLiteDatabase, connect

    if scheme(to) != "postgresql":
        raise RoostError(f"roost migrate --to {redact(to)}: the target must be a postgresql:// URL")
    if not home.exists():
        raise RoostError(f"{home.path}: no Roost home here (run `roost init` first)")
    source = home.db()
    if not isinstance(source, SQLiteDatabase):
        raise RoostError(f"{home.path}: this home already uses {source.describe()}; "
                         "roost migrate copies an embedded (SQLite) home")  # fmt: skip
    target = open_database(to, home.path)
    target.migrate()
    with target.pool.connection() as conn:
        held = conn.execute("SELECT (SELECT count(*) FROM items) + (SELECT count(*) FROM events)"
                            " + (SELECT count(*) FROM versions) + (SELECT count(*) FROM api_keys)"
                            ).fetchone()[0]  # fmt: skip
    if held:
        raise RoostError(f"{target.describe()} already holds Roost data: migrate into an empty database")

    src = connect(source.path)
    copied: dict[str, int] = {}
    try:
        store = source.catalog(readonly=True)
        with target.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            writer = _Writer(conn, origin="migrate")
            kinds = ("items", "users", "events", "follows")
            for kind in tqdm(kinds, desc="copy catalog", disable=not progress, leave=False):
                table = store.read(kind)
                for off in range(0, table.num_rows, 100_000):
                    writer.write(kind, table.slice(off, 100_000))
                copied[kind] = table.num_rows
            copied["versions"] = _copy_rows(src, conn, "versions", _VERSION_COLS)
            copied["aliases"] = _copy_rows(src, conn, "aliases", "name, version, at")
            copied["alias_history"] = _copy_rows(src, conn, "alias_history",
                                                 "seq, name, version, at, undone_at")  # fmt: skip
            row = src.execute("SELECT seq FROM sqlite_sequence WHERE name = 'versions'").fetchone()
            if row:  # version numbers are never reused, deleted ones included
                conn.execute("SELECT setval('versions_seq', %s)", (row[0],))
            conn.execute("SELECT setval(pg_get_serial_sequence('alias_history', 'seq'), "
                         "(SELECT COALESCE(max(seq), 0) + 1 FROM alias_history), false)")  # fmt: skip
            copied["idempotency"] = _copy_idempotency(source, conn)
            for kind in kinds + ("versions", "aliases", "alias_history"):
                n = conn.execute(f"SELECT count(*) FROM {kind}").fetchone()[0]
                if n != copied[kind]:
                    raise RoostError(f"migrate: {kind}: {n} rows arrived of {copied[kind]}; nothing was kept")
        store.close()
        src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        src.close()
    keys = FileKeys(home.artifacts.keys).load() if home.artifacts.keys.exists() else []
    if keys:
        PostgresKeys(target).save(keys)
    copied["api_keys"] = len(keys)
    home.create(to)  # records the URL: from now on the home is the server's
    # The shared head counted the SQLite log's entries; the server's log starts afresh.
    home.artifacts.feed_head.unlink(missing_ok=True)
    for path in (home.artifacts.sqlite, home.artifacts.keys, home.artifacts.service_db):
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if p.exists():
                os.replace(p, p.with_name(p.name + ".migrated"))
    return {"home": str(home.path), "to": redact(to), "copied": copied}


def _copy_rows(src, conn, table: str, cols: str) -> int:
    rows = src.execute(f"SELECT {cols} FROM {table} ORDER BY 1").fetchall()
    if rows:
        marks = ", ".join(["%s"] * len(rows[0]))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
    return len(rows)


def _copy_idempotency(source, conn) -> int:
    path = source.artifacts.service_db
    if not path.exists():
        return 0
    from roost.store.sqlite import SQLiteIdempotency

    records = SQLiteIdempotency(path)
    try:
        rows = records.conn.execute("SELECT key, fingerprint, status, body, created FROM idempotency").fetchall()
    finally:
        records.close()
    from roost.store.postgres import _text_key

    rows = [(_text_key(k), *rest) for k, *rest in rows]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO idempotency (key, fingerprint, status, body, created) "
                        "VALUES (%s, %s, %s, %s, %s)", rows)  # fmt: skip
    return len(rows)
