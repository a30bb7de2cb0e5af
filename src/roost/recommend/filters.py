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
        return ctx.not_seen(user, np.asarray(rows, np.int64)).tolist()


class Blocked(Filter):
    """Drop items and authors the user blocked, plus globally blocked ones."""

    name = "blocked"

    def __init__(self, items: list[str] = (), authors: list[str] = ()):
        self.items = list(items)
        self.authors = list(authors)

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        items = ctx.blocked_items.get(user, set()) | {
            ctx.index[i] for i in self.items if i in ctx.index
        }
        authors = ctx.blocked_authors.get(user, set()) | set(self.authors)
        if not items and not authors:  # the usual case: nothing blocked
            return [True] * len(rows)
        return [r not in items and ctx.authors[r] not in authors for r in rows]


class Unsafe(Filter):
    """Drop items flagged ``unsafe`` in their fields."""

    name = "unsafe"

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        return (~ctx.unsafe[np.asarray(rows, np.int64)]).tolist()


class InStock(Filter):
    """Drop items whose fields say ``in_stock: false``."""

    name = "in_stock"

    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        return (~ctx.out_of_stock[np.asarray(rows, np.int64)]).tolist()


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


# Keys of a filter spec (request ``filters`` and a surface's ``where`` table).
SPEC_KEYS = (
    "category",
    "exclude_category",
    "max_age_days",
    "exclude_items",
    "exclude_authors",
    "fields",
    "exclude_fields",
)


def from_spec(spec: dict[str, Any] | None, *, where: str = "filters") -> list[Filter]:
    """Filters from a plain dict (a request's ``filters``, a surface's ``where``).

    Keys: ``category`` (allowed list), ``exclude_category``, ``max_age_days``,
    ``exclude_items``, ``exclude_authors``, ``fields`` (``{name: value or [values]}``,
    the item field must match) and ``exclude_fields`` (must not match). An unknown key
    or a value of the wrong type is a :class:`~roost.types.RoostError` naming it.

    Examples
    --------
    >>> [f.name for f in from_spec({"category": ["Drama"], "fields": {"lang": "en"}})]
    ['category', 'field']
    """
    from roost.types import RoostError

    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise RoostError(f"{where}: expected a table of filters, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise RoostError(f"{where}: unknown filter {unknown[0]!r}; known: {', '.join(SPEC_KEYS)}")

    def strings(key: str) -> list[str]:
        v = spec[key]
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
            raise RoostError(f"{where}.{key}: expected a list of strings, got {spec[key]!r}")
        return list(v)

    out: list[Filter] = []
    if "category" in spec or "exclude_category" in spec:
        allow = strings("category") if "category" in spec else None
        out.append(
            Category(
                allow=allow, deny=strings("exclude_category") if "exclude_category" in spec else ()
            )
        )
    if "max_age_days" in spec:
        days = spec["max_age_days"]
        if isinstance(days, bool) or not isinstance(days, int | float) or not days >= 0:
            raise RoostError(f"{where}.max_age_days: expected a number >= 0, got {days!r}")
        out.append(MaxAge(float(days)))
    if "exclude_items" in spec or "exclude_authors" in spec:
        out.append(
            Blocked(
                items=strings("exclude_items") if "exclude_items" in spec else (),
                authors=strings("exclude_authors") if "exclude_authors" in spec else (),
            )
        )
    for key, negate in (("fields", False), ("exclude_fields", True)):
        preds = spec.get(key, {})
        if not isinstance(preds, dict):
            raise RoostError(f"{where}.{key}: expected a table of field = value(s), got {preds!r}")
        for name, values in preds.items():
            vals = values if isinstance(values, list | tuple) else [values]
            if not all(isinstance(v, str | int | float | bool) for v in vals):
                raise RoostError(
                    f"{where}.{key}.{name}: values must be strings, numbers or booleans"
                )
            out.append(FieldEquals(name, list(vals), negate=negate))
    return out
