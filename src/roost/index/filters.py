"""Search filters: allow or deny id sets and ``field in values`` predicates over metadata.

A :class:`Filter` is evaluated once per search call into a boolean mask over the index's
internal rows; backends push that mask down to the library where it can take one (faiss
``IDSelectorBitmap``, hnswlib's filter callable) and otherwise over-fetch and post-filter.
Metadata columns are factorised once (pandas), so a predicate costs one table look-up per
row rather than a comparison of Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from roost.types import RoostError


@dataclass(frozen=True)
class Filter:
    """Which rows a search may return.

    Parameters
    ----------
    allow : ids the results must come from (``None``: any id). Unknown ids match nothing.
    deny : ids the results must not include. Unknown ids are ignored.
    where : ``{column: values}``; a row passes when its value in every named metadata
        column is one of ``values`` (a scalar means a one-element list). Missing values
        (null) never pass.

    Examples
    --------
    >>> f = Filter(deny={"seen-1"}, where={"category": ["Drama", "Comedy"]})
    >>> sorted(f.where)
    ['category']
    """

    allow: Iterable[str] | None = None
    deny: Iterable[str] = ()
    where: Mapping[str, Any] = field(default_factory=dict)


class Metadata:
    """Per-row metadata columns of an index, kept as an Arrow table and factorised codes."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._codes: dict[str, tuple[np.ndarray, pd.Index]] = {}

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any] | None, n: int) -> Metadata:
        """Columns (name -> sequence of length ``n``) as metadata; ``None`` gives none."""
        if not columns:
            return cls(_empty_rows(n))
        arrays = {}
        for name, values in columns.items():
            if name == "id":
                raise RoostError("metadata column name 'id' is reserved for the external ids")
            try:
                arr = pa.array(values.tolist() if isinstance(values, np.ndarray) else list(values))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
                raise RoostError(f"metadata column {name!r}: values of mixed types ({e})") from e
            if len(arr) != n:
                raise RoostError(f"metadata column {name!r} has {len(arr)} values for {n} ids")
            arrays[str(name)] = arr
        return cls(pa.table(arrays))

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    def __len__(self) -> int:
        return self.table.num_rows

    def concat(self, other: Metadata) -> Metadata:
        """Rows of ``self`` then ``other``; a column missing on one side is null there."""
        names = list(dict.fromkeys(self.columns + other.columns))
        if not names:
            return Metadata(_empty_rows(len(self) + len(other)))
        parts = []
        for part in (self, other):
            cols = {}
            for c in names:
                if c in part.columns:
                    cols[c] = part.table.column(c)
                else:
                    other_type = (self if part is other else other).table.schema.field(c).type
                    cols[c] = pa.nulls(len(part), type=other_type)
            parts.append(pa.table(cols))
        try:
            return Metadata(pa.concat_tables(parts, promote_options="permissive"))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise RoostError(f"metadata of added rows does not match the index's: {e}") from e

    def codes(self, name: str) -> tuple[np.ndarray, pd.Index]:
        if name not in self._codes:
            if name not in self.columns:
                known = ", ".join(self.columns) or "none"
                raise RoostError(f"unknown metadata column {name!r}; columns: {known}")
            values = self.table.column(name).to_pandas()
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            self._codes[name] = (codes, pd.Index(uniques))
        return self._codes[name]


def _empty_rows(n: int) -> pa.Table:
    # A table with n rows and no columns (built from a placeholder column: Arrow keeps
    # the row count of a table whose columns were all dropped).
    return pa.table({"_": pa.nulls(n)}).drop(["_"])


def filter_mask(flt: Filter, n: int, labels_of, metadata: Metadata) -> np.ndarray:
    """The rows (``bool``, length ``n``) that ``flt`` lets through.

    ``labels_of(ids)`` gives the internal row of each external id (``-1`` if unknown).
    """
    if flt.allow is not None:
        mask = np.zeros(n, dtype=bool)
        rows = labels_of(_as_list(flt.allow))
        mask[rows[rows >= 0]] = True
    else:
        mask = np.ones(n, dtype=bool)
    deny = _as_list(flt.deny)
    if deny:
        rows = labels_of(deny)
        mask[rows[rows >= 0]] = False
    for name, wanted in flt.where.items():
        codes, uniques = metadata.codes(name)
        if isinstance(wanted, str | bytes) or not isinstance(wanted, Iterable):
            wanted = [wanted]
        # One extra False slot at the end: the null code -1 indexes it.
        lut = np.zeros(len(uniques) + 1, dtype=bool)
        hit = uniques.get_indexer(list(wanted))
        lut[hit[hit >= 0]] = True
        mask &= lut[codes]
    return mask


def _as_list(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str):
        return [ids]
    return [str(i) for i in ids]
