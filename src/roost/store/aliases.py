"""Aliases of embedding versions and their history: the SQL behind alias and rollback.

Each alias has a stack of targets in ``alias_history``. Pointing it at a new version
pushes one; :func:`pop` (what ``rollback`` does) marks the top entry undone, so that the
entry beneath becomes the target again. Undone entries stay, for the record. Callers hold
a write transaction around every change (:meth:`roost.store.base.VersionCatalog.write`);
the queries run on every backend, and a move reads the alias row with ``for_update`` (a
server's row lock; SQLite's write lock covers the file).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from roost.store.base import Sql
from roost.store.manifest import UnknownVersionError, VersionError

LATEST = "latest"
SEQ_RE = re.compile(r"v(\d+)")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def now() -> str:
    """UTC time in ISO 8601 with milliseconds, as stored in the catalog."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_name(name: str) -> str:
    """Refuse alias names that could be mistaken for a version reference."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise VersionError(
            f"alias name {name!r}: use letters, digits, '_', '.', '-' (up to 64, "
            "starting with a letter or '_')"
        )
    if name == LATEST or SEQ_RE.match(name):
        raise VersionError(f"alias name {name!r} is reserved for version references")
    return name


def current(conn: Sql) -> dict[str, str]:
    """Alias name -> the version it points to."""
    return dict(conn.execute("SELECT name, version FROM aliases ORDER BY name").fetchall())


def stack(conn: Sql, name: str, n: int) -> list[tuple[int, str]]:
    """The top ``n`` live entries of an alias's stack, newest first: (seq, version)."""
    return conn.execute(
        "SELECT seq, version FROM alias_history WHERE name = ? AND undone_at IS NULL"
        " ORDER BY seq DESC LIMIT ?", (name, n),
    ).fetchall()


def rollback_targets(conn: Sql) -> set[str]:
    """The versions that ``rollback`` of some alias would return to."""
    return {rows[1][1] for name in current(conn) if len(rows := stack(conn, name, 2)) == 2}


def point(conn: Sql, name: str, version: str, for_update: str = "") -> None:
    """Point alias ``name`` at ``version``, pushing it on the alias's stack."""
    row = conn.execute(f"SELECT version FROM aliases WHERE name = ?{for_update}", (name,)).fetchone()
    if row is not None and row[0] == version:
        return  # no new entry: a rollback must never "return" to the same target
    at = now()
    conn.execute(
        "INSERT INTO aliases (name, version, at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET version = excluded.version, at = excluded.at",
        (name, version, at),
    )
    conn.execute("INSERT INTO alias_history (name, version, at) VALUES (?, ?, ?)", (name, version, at))


def pop(conn: Sql, name: str, exists: Callable[[str], bool], for_update: str = "") -> str:
    """Return alias ``name`` to its previous target; returns that version id."""
    conn.execute(f"SELECT version FROM aliases WHERE name = ?{for_update}", (name,)).fetchall()
    rows = stack(conn, name, 2)
    if not rows:
        raise UnknownVersionError(f"no alias {name!r}")
    if len(rows) < 2:
        raise VersionError(f"alias {name!r} has no previous target to roll back to")
    prev = rows[1][1]
    if not exists(prev):
        raise VersionError(
            f"alias {name!r}: its previous target {prev} was deleted; "
            f"point it with `roost alias {name} VERSION`"
        )
    at = now()
    conn.execute("UPDATE alias_history SET undone_at = ? WHERE seq = ?", (at, rows[0][0]))
    conn.execute("UPDATE aliases SET version = ?, at = ? WHERE name = ?", (prev, at, name))
    return prev


def remove(conn: Sql, name: str) -> None:
    """Drop an alias; its history entries are marked undone."""
    if conn.execute("DELETE FROM aliases WHERE name = ?", (name,)).rowcount == 0:
        raise UnknownVersionError(f"no alias {name!r}")
    conn.execute(
        "UPDATE alias_history SET undone_at = ? WHERE name = ? AND undone_at IS NULL",
        (now(), name),
    )


def history(conn: Sql, name: str) -> list[dict[str, Any]]:
    """Every target an alias has had, oldest first (``undone_at`` set when rolled back)."""
    rows = conn.execute(
        "SELECT version, at, undone_at FROM alias_history WHERE name = ? ORDER BY seq", (name,)
    ).fetchall()
    return [{"version": v, "at": at, "undone_at": u} for v, at, u in rows]
