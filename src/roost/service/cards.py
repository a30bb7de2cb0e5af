"""What a web page shows of an item: a :class:`Card` with the author's display name, a
human date, the year, whether the reader liked it or follows its author, and its reasons
in plain words (:mod:`roost.service.reasons`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow.compute as pc

from roost.service.reasons import plain_reasons

MINUTE, HOUR, DAY = 60, 3600, 86_400


@dataclass
class Card:
    id: str
    title: str
    text: str | None = None
    year: int | None = None
    author: str | None = None
    author_name: str | None = None
    when: str | None = None  # "3 h ago", "12 Mar 2013"
    when_iso: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    liked: bool = False
    following: bool = False
    mine: bool = False


def human_time(ts: Any, now: float | None = None) -> tuple[str | None, str | None]:
    """``(words, ISO date)`` for epoch seconds: "just now", "5 min ago", "3 h ago",
    "2 days ago" within a week, else the date ("12 Mar 2013")."""
    if ts is None:
        return None, None
    try:
        ts = float(ts)
    except (TypeError, ValueError):
        return None, None
    when = datetime.fromtimestamp(ts, UTC)
    age = (time.time() if now is None else now) - ts
    if 0 <= age < MINUTE:
        words = "just now"
    elif 0 <= age < HOUR:
        words = f"{int(age // MINUTE)} min ago"
    elif 0 <= age < DAY:
        words = f"{int(age // HOUR)} h ago"
    elif 0 <= age < 7 * DAY:
        n = int(age // DAY)
        words = f"{n} day{'s' if n > 1 else ''} ago"
    else:
        words = f"{when.day} {when:%b %Y}"
    return words, when.isoformat(timespec="minutes")


def display_names(store, ids) -> dict[str, str]:
    """``{user id: name}`` for the ids that have a user row with a name."""
    out = {}
    for u in {i for i in ids if i}:
        row = store.get("users", (u,))
        if row and row.get("name"):
            out[u] = row["name"]
    return out


def following(store, user: str | None) -> set[str]:
    """Whom ``user`` follows, as stored (what a reload shows)."""
    if not user:
        return set()
    t = store.read("follows")
    return set(t.filter(pc.equal(t.column("follower"), user)).column("followee").to_pylist())


def cards(
    store,
    rows: list[tuple[str, str | None, list[dict] | None]],
    *,
    user: str | None,
    liked: set[str] = frozenset(),
    follows: set[str] = frozenset(),
) -> list[Card]:
    """Cards for ``rows`` of ``(item id, title, why)``; items gone from the store are
    left out."""
    found = [(i, t, w, store.get("items", (i,))) for i, t, w in rows]
    found = [f for f in found if f[3] is not None]
    names = display_names(store, [f[3].get("author") for f in found] + [user])
    out = []
    for item_id, title, why, row in found:
        fields = row.get("fields") or {}
        year = fields.get("year") if isinstance(fields, dict) else None
        author = row.get("author")
        words, iso = human_time(row.get("created_at"))
        out.append(
            Card(
                id=item_id,
                title=title or row.get("title") or item_id,
                text=row.get("text"),
                year=year if isinstance(year, int) else None,
                author=author,
                author_name=names.get(author, author) if author else None,
                when=words,
                when_iso=iso,
                category=row.get("category"),
                tags=list(row.get("tags") or [])[:6],
                reasons=plain_reasons(why or [], user=user, name=names),
                liked=item_id in liked,
                following=author in follows,
                mine=author is not None and author == user,
            )
        )
    return out
