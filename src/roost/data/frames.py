"""In-memory views of a home's data that every later stage reads.

:class:`Catalog` holds the four record kinds as Arrow tables with canonical columns (see
:mod:`roost.data.schema`); :class:`Interactions` is the user-item matrix view that
collaborative methods, splits and metrics work on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

ITEMS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("category", pa.string()),
        ("author", pa.string()),
        ("created_at", pa.int64()),
        ("fields", pa.string()),
    ]
)
USERS_SCHEMA = pa.schema([("id", pa.string()), ("name", pa.string()), ("fields", pa.string())])
EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("kind", pa.string()),
        ("value", pa.float64()),
        ("ts", pa.int64()),
        ("event_id", pa.string()),
    ]
)
FOLLOWS_SCHEMA = pa.schema([("follower", pa.string()), ("followee", pa.string()), ("ts", pa.int64())])
SCHEMAS: dict[str, pa.Schema] = {
    "items": ITEMS_SCHEMA,
    "users": USERS_SCHEMA,
    "events": EVENTS_SCHEMA,
    "follows": FOLLOWS_SCHEMA,
}


def empty_table(kind: str) -> pa.Table:
    return SCHEMAS[kind].empty_table()


def table_fingerprint(*tables: pa.Table) -> str:
    """A stable sha256 over the content of Arrow tables (order-sensitive), 16 hex chars."""
    h = hashlib.sha256()
    for t in tables:
        h.update(str(t.schema).encode())
        h.update(str(t.num_rows).encode())
        for col in t.columns:
            for chunk in col.chunks:
                for buf in chunk.buffers():
                    if buf is not None:
                        h.update(memoryview(buf))
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Catalog:
    """Items, users, events and follows as Arrow tables with the canonical schemas.

    Examples
    --------
    >>> import pyarrow as pa
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["A", "B"]},
    ...                         events={"user_id": ["u"], "item_id": ["a"], "kind": ["like"],
    ...                                 "value": [1.0], "ts": [0]})
    >>> c.interactions().to_csr().shape
    (1, 2)
    """

    items: pa.Table = field(default_factory=lambda: empty_table("items"))
    users: pa.Table = field(default_factory=lambda: empty_table("users"))
    events: pa.Table = field(default_factory=lambda: empty_table("events"))
    follows: pa.Table = field(default_factory=lambda: empty_table("follows"))

    @classmethod
    def from_pydict(cls, **tables: dict) -> Catalog:
        """Build from plain dicts of columns; missing columns are null."""
        out = {}
        for kind, cols in tables.items():
            schema = SCHEMAS[kind]
            n = len(next(iter(cols.values()))) if cols else 0
            arrays = [
                pa.array(cols[f.name], type=f.type) if f.name in cols else pa.nulls(n, f.type)
                for f in schema
            ]
            out[kind] = pa.Table.from_arrays(arrays, schema=schema)
        return cls(**out)

    @cached_property
    def fingerprint(self) -> str:
        return table_fingerprint(self.items, self.events, self.follows)

    @cached_property
    def item_ids(self) -> np.ndarray:
        return np.asarray(self.items.column("id").to_pylist(), dtype=object)

    def item_texts(self, fields: tuple[str, ...] = ("title", "text", "tags")) -> list[str]:
        """One string per item (catalog order) joining the chosen text fields."""
        parts = []
        for f in fields:
            col = self.items.column(f)
            if f == "tags":
                col = pc.binary_join(pc.fill_null(col, pa.scalar([], pa.list_(pa.string()))), " ")
            parts.append(pc.fill_null(col, ""))
        if not parts:
            return [""] * self.items.num_rows
        joined = pc.binary_join_element_wise(*parts, " ")
        return [s.strip() for s in joined.to_pylist()]

    def interactions(
        self, kinds: tuple[str, ...] | None = None, min_value: float | None = None
    ) -> Interactions:
        """The events as a user-item view over every catalog item (catalog order)."""
        ev = self.events
        if kinds is not None:
            ev = ev.filter(pc.is_in(ev.column("kind"), pa.array(list(kinds), pa.string())))
        if min_value is not None:
            ev = ev.filter(pc.greater_equal(pc.fill_null(ev.column("value"), 1.0), min_value))
        # The Arrow columns go in as they are: ids are mapped by Arrow compute, with no
        # Python object per event.
        return Interactions.from_arrays(
            ev.column("user_id"),
            ev.column("item_id"),
            values=pc.fill_null(ev.column("value"), 1.0).to_numpy(),
            ts=ev.column("ts").to_numpy(),
            item_ids=self.items.column("id"),
        )


@dataclass(frozen=True)
class Interactions:
    """Events as row indices into ``user_ids`` and ``item_ids``, with values and times.

    ``user_ids`` and ``item_ids`` are the id maps (index -> external id); the rest are
    aligned per-event arrays. Row numbers never leave this object: use the id maps.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray  # int32 index into user_ids
    items: np.ndarray  # int32 index into item_ids
    values: np.ndarray  # float32
    ts: np.ndarray  # int64 epoch seconds

    @classmethod
    def from_arrays(cls, users, items, values=None, ts=None, item_ids=None) -> Interactions:
        """Build from aligned per-event external user and item ids.

        ``users``, ``items`` and ``item_ids`` may be sequences, numpy arrays or Arrow
        (chunked) arrays; ids that are not strings are compared as their ``str``.
        ``item_ids`` fixes the item universe and its order (the catalog's, so that items with
        no events still get a column); events naming items outside it are dropped, as are
        events with a null user or item. Without it the universe is the sorted distinct
        items of the events. Users are the sorted distinct users of the kept events.

        Examples
        --------
        >>> inter = Interactions.from_arrays(["v", "u", "v"], ["b", "a", "x"], item_ids=["a", "b"])
        >>> inter.user_ids.tolist(), inter.users.tolist(), inter.items.tolist()
        (['u', 'v'], [1, 0], [1, 0])
        """
        u = _string_array(users)
        i = _string_array(items)
        n = len(u)
        if len(i) != n:
            raise ValueError(f"{n} users for {len(i)} items: per-event arrays must align")
        vals = np.ones(n, np.float32) if values is None else np.asarray(values, np.float32)
        times = np.zeros(n, np.int64) if ts is None else np.asarray(ts, np.int64)
        # Ids are mapped with Arrow compute (hash lookups in C++): a Python dict lookup per
        # event cost about 30 ms per 100,000 events, most of ALS's overhead over implicit.
        if item_ids is None:
            universe = pc.unique(i.drop_null()).sort()
        else:
            universe = _string_array(item_ids)
        item_idx = pc.index_in(i, value_set=universe)
        keep = pc.and_(pc.is_valid(item_idx), pc.is_valid(u))
        if not pc.all(keep).as_py():
            mask = keep.to_numpy(zero_copy_only=False)
            u, item_idx = u.filter(keep), item_idx.filter(keep)
            vals, times = vals[mask], times[mask]
        user_universe = pc.unique(u).sort()
        user_idx = pc.index_in(u, value_set=user_universe)
        return cls(
            user_ids=_object_ids(user_universe),
            item_ids=_object_ids(universe),
            users=_indices(user_idx),
            items=_indices(item_idx),
            values=vals,
            ts=times,
        )

    def __len__(self) -> int:
        return len(self.users)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.user_ids), len(self.item_ids))

    def subset(self, mask: np.ndarray) -> Interactions:
        """The events where ``mask`` holds, keeping both id maps (so matrices stay aligned)."""
        return Interactions(
            self.user_ids, self.item_ids, self.users[mask], self.items[mask],
            self.values[mask], self.ts[mask],
        )

    def to_csr(self, binary: bool = True) -> sp.csr_matrix:
        """users x items sparse matrix; duplicates summed (or 1.0 when ``binary``)."""
        data = np.ones(len(self), np.float32) if binary else self.values
        m = sp.csr_matrix((data, (self.users, self.items)), shape=self.shape, dtype=np.float32)
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def sequences(self) -> list[np.ndarray]:
        """Per user (index order), the item indices in time order (stable for ties)."""
        order = np.lexsort((self.ts, self.users))
        users, items = self.users[order], self.items[order]
        bounds = np.searchsorted(users, np.arange(len(self.user_ids) + 1))
        return [items[bounds[j] : bounds[j + 1]] for j in range(len(self.user_ids))]


def _string_array(x) -> pa.Array:
    """Ids as one Arrow string array (Arrow input is cast, Python objects converted)."""
    if isinstance(x, pa.ChunkedArray):
        x = x.combine_chunks()
    if isinstance(x, pa.Array):
        return x if x.type == pa.string() else pc.cast(x, pa.string())
    arr = np.asarray(x, dtype=object).reshape(-1)
    try:
        return pa.array(arr, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers or other objects: their str
        return pa.array(arr.astype(str), type=pa.string())


def _object_ids(ids: pa.Array) -> np.ndarray:
    return np.asarray(ids.to_pylist(), dtype=object).reshape(-1)


def _indices(idx: pa.Array) -> np.ndarray:
    return idx.to_numpy(zero_copy_only=False).astype(np.int32).reshape(-1)
