"""The data model: items, users, events and follows, as column specifications.

One table of :class:`Column` per record kind drives validation, coercion, storage and the
docs, so the four kinds cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from roost.types import EVENT_KINDS

ColumnType = Literal["id", "str", "float", "time", "tags", "kind", "json"]

# Strings longer than this are refused: a 1 MB "title" is a broken export, not a title.
MAX_TEXT_CHARS = 100_000
MAX_ID_CHARS = 256


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class RecordKind:
    """One kind of record: its columns, its key, and what happens to unknown columns."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Unknown input columns go into the ``fields`` JSON column when True, else are an error.
    open_fields: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


ITEMS = RecordKind(
    "items",
    (
        Column("id", "id", True, "stable external item id"),
        Column("title", "str", help="short title"),
        Column("text", "str", help="body text"),
        Column("tags", "tags", help="list of tags; in CSV a '|' or ',' separated string"),
        Column("category", "str", help="one category"),
        Column("author", "id", help="external user id of the author (Flutter: the bird)"),
        Column("created_at", "time", help="creation time: epoch seconds or ISO 8601"),
        Column("fields", "json", help="free-form fields: every other input column lands here"),
    ),
    key=("id",),
    open_fields=True,
)

USERS = RecordKind(
    "users",
    (
        Column("id", "id", True, "stable external user id"),
        Column("name", "str", help="display name"),
        Column("fields", "json", help="free-form fields: every other input column lands here"),
    ),
    key=("id",),
    open_fields=True,
)

EVENTS = RecordKind(
    "events",
    (
        Column("user_id", "id", True, "external user id"),
        Column("item_id", "id", True, "external item id (must be in the catalog)"),
        Column("kind", "kind", True, "one of " + ", ".join(EVENT_KINDS)),
        Column("value", "float", help="strength or rating; 1.0 when absent"),
        Column("ts", "time", True, "event time: epoch seconds or ISO 8601"),
        Column("event_id", "id", help="optional id; re-ingesting the same id stores nothing new"),
    ),
    # Without an event id an event is the same event when user, item, kind and time agree.
    key=("user_id", "item_id", "kind", "ts"),
    open_fields=False,
)

FOLLOWS = RecordKind(
    "follows",
    (
        Column("follower", "id", True, "external user id of who follows"),
        Column("followee", "id", True, "external user id of who is followed"),
        Column("ts", "time", help="when the follow happened"),
    ),
    key=("follower", "followee"),
    open_fields=False,
)

KINDS: dict[str, RecordKind] = {k.name: k for k in (ITEMS, USERS, EVENTS, FOLLOWS)}
