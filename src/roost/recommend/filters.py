"""Business rules over candidates: each says per row whether it may be shown."""

from __future__ import annotations

from typing import Any

import numpy as np

from roost.recommend.base import Filter
from roost.recommend.context import RecContext


class Seen(Filter):
    """Drop what the user already interacted with (live events included)."""

    name = "seen"

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        seen = ctx.seen(user)
        return [r not in seen for r in rows]


class Blocked(Filter):
    """Drop items and authors the user blocked, plus globally blocked ones."""

    name = "blocked"

    def __init__(self, items: list[str] = (), authors: list[str] = ()):
        self.items = list(items)
        self.authors = list(authors)

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        items = ctx.blocked_items.get(user, set()) | {ctx.index[i] for i in self.items if i in ctx.index}
        authors = ctx.blocked_authors.get(user, set()) | set(self.authors)
        return [r not in items and ctx.authors[r] not in authors for r in rows]


class Unsafe(Filter):
    """Drop items flagged ``unsafe`` in their fields."""

    name = "unsafe"

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        return [not ctx.unsafe[r] for r in rows]


class InStock(Filter):
    """Drop items whose fields say ``in_stock: false``."""

    name = "in_stock"

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        return [not ctx.out_of_stock[r] for r in rows]


class Category(Filter):
    """Allow only some categories, or deny some."""

    name = "category"

    def __init__(self, allow: list[str] | None = None, deny: list[str] = ()):
        self.allow = None if allow is None else set(allow)
        self.deny = set(deny)

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        cats = ctx.categories
        return [
            (self.allow is None or cats[r] in self.allow) and cats[r] not in self.deny for r in rows
        ]


class MaxAge(Filter):
    """Drop items older than ``days`` (items with no creation time pass)."""

    name = "max_age"

    def __init__(self, days: float):
        self.days = days

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        age = ctx.age_days(np.asarray(rows, np.int64))
        return [not (np.isfinite(a) and a > self.days) for a in age]


class FieldEquals(Filter):
    """A predicate over item fields: ``field`` must be one of ``values`` (or not, with
    ``negate``)."""

    name = "field"

    def __init__(self, field: str, values: list[Any], negate: bool = False):
        self.field = field
        self.values = list(values)
        self.negate = negate

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        vals = set(map(str, self.values))
        return [(str(ctx.fields[r].get(self.field)) in vals) != self.negate for r in rows]


FILTERS: dict[str, type[Filter]] = {
    c.name: c for c in (Seen, Blocked, Unsafe, InStock, Category, MaxAge, FieldEquals)
}
