"""Categorical fields as one-hot, ordinal or indicator (multi-hot) features (scikit-learn's
``OneHotEncoder``, ``OrdinalEncoder`` and ``MultiLabelBinarizer``).

A sparse encoding like those of :mod:`roost.embed.encodings`, and like them it gives an
item without a value the id fallback (:class:`~roost.embed.encodings.SparseEncoding`).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.preprocessing import MultiLabelBinarizer, OneHotEncoder, OrdinalEncoder

from roost.data.frames import Catalog
from roost.embed.encodings import DEFAULT_FALLBACK_BUCKETS, SparseEncoding
from roost.types import RoostError

# --- categorical fields ---------------------------------------------------------------
MODES = ("onehot", "ordinal", "indicator")
_COLUMNS = ("category", "author", "tags")
_MISSING = "\x00missing"  # stands for "no value": never a category, so it encodes as unknown


def field_values(catalog: Catalog, field: str) -> list[list[str]]:
    """Per item, the values of a categorical field: ``category``, ``author``, ``tags`` or
    ``fields.KEY`` (a key of the items' ``fields`` JSON; a list value gives several)."""
    items = catalog.items
    if field in ("category", "author"):
        return [[v] if v else [] for v in items.column(field).to_pylist()]
    if field == "tags":
        col = pc.fill_null(items.column("tags"), pa.scalar([], pa.list_(pa.string())))
        return [[t for t in tags if t] for tags in col.to_pylist()]
    if not field.startswith("fields.") or len(field) <= len("fields."):
        raise RoostError(f"onehot: field must be one of {_COLUMNS} or 'fields.KEY', not {field!r}")
    key = field[len("fields.") :]
    out = []
    for item_id, raw in zip(
        items.column("id").to_pylist(), items.column("fields").to_pylist(), strict=True
    ):
        try:
            obj = json.loads(raw) if raw else {}
        except ValueError as e:
            raise RoostError(f"item {item_id!r}: fields is not valid JSON: {e}") from None
        v = obj.get(key) if isinstance(obj, dict) else None
        vals = v if isinstance(v, list) else [] if v is None else [v]
        out.append([json.dumps(x) if isinstance(x, dict | list) else str(x) for x in vals])
    return out


class OneHot(SparseEncoding):
    """A categorical field as one-hot, ordinal or indicator (multi-hot) features.

    Parameters
    ----------
    field : ``"category"``, ``"author"``, ``"tags"`` or ``"fields.KEY"`` (a key of the
        items' ``fields`` JSON).
    mode : ``"onehot"`` (one column per category; an item's first value), ``"ordinal"``
        (one column holding the category's code, -1 when missing or unknown: a feature for
        rankers and trees, not a similarity space) or ``"indicator"`` (multi-hot over all
        of an item's values, the natural choice for tags).
    max_categories : keep only the most frequent categories (ties by name); the rest
        encode like unseen ones.
    fallback, fallback_buckets : as in :class:`BagOfWords`: an item whose value is missing
        or unseen gets a 1 in one of ``fallback_buckets`` extra columns chosen by its id
        (``None``: a zero row). Not used in ordinal mode, which has one column.

    Unseen and missing values give no category column (``-1`` in ordinal mode), so new
    items are always accepted.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b", "c"], "category": ["x", "y", "x"]})
    >>> OneHot(fallback=None).fit(c).transform(c).tolist()
    [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    >>> OneHot(mode="ordinal").fit(c).transform(c).ravel().tolist()
    [0.0, 1.0, 0.0]
    """

    name = "onehot"
    metric = "cosine"
    choices = {**SparseEncoding.choices, "mode": MODES}

    def __init__(
        self,
        field: str = "category",
        mode: str = "onehot",
        max_categories: int | None = None,
        fallback: str | None = "id",
        fallback_buckets: int = DEFAULT_FALLBACK_BUCKETS,
    ) -> None:
        self.field = field
        self.mode = mode
        self.max_categories = max_categories
        self.fallback = fallback
        self.fallback_buckets = fallback_buckets

    def fit(self, catalog: Catalog) -> Self:
        """Learn the field's categories (sorted by name); returns ``self``."""
        self._check_params()
        if self.max_categories is not None and self.max_categories < 1:
            raise RoostError("onehot: max_categories must be >= 1 or None")
        self._check_items(catalog)
        values = self._values(catalog)
        counts = Counter(v for vals in values for v in vals)
        if not counts:
            raise RoostError(f"onehot: no item has a value in field {self.field!r}")
        kept = sorted(counts, key=lambda k: (-counts[k], k))[: self.max_categories]
        self.categories_ = sorted(kept)
        self._build()
        return self

    def _values(self, catalog: Catalog) -> list[list[str]]:
        values = field_values(catalog, self.field)
        if self.mode == "indicator":
            return values
        return [vals[:1] for vals in values]

    def _build(self) -> None:
        cats = np.array(self.categories_, dtype=object)
        if self.mode == "onehot":
            self._enc = OneHotEncoder(
                categories=[cats], handle_unknown="ignore", sparse_output=False, dtype=np.float32
            ).fit(cats.reshape(-1, 1))
        elif self.mode == "ordinal":
            self._enc = OrdinalEncoder(
                categories=[cats],
                handle_unknown="use_encoded_value",
                unknown_value=-1,
                dtype=np.float32,
            ).fit(cats.reshape(-1, 1))
        else:
            self._enc = MultiLabelBinarizer(classes=self.categories_).fit([])
        self._known = set(self.categories_)

    def _n_fallback(self) -> int:
        return 0 if self.mode == "ordinal" else super()._n_fallback()

    @property
    def dim(self) -> int:
        self._check_fitted()
        return 1 if self.mode == "ordinal" else len(self.categories_) + self._n_fallback()

    def transform(self, catalog: Catalog) -> np.ndarray:
        """float32 rows for ``catalog.items``; unseen and missing values get no category
        column (-1 in ordinal mode), and the fallback column where ``fallback="id"``."""
        self._check_fitted()
        values = self._values(catalog)
        width = len(self.categories_) if self.mode != "ordinal" else 1
        if self.mode == "indicator":
            # Unknown labels are dropped here: MultiLabelBinarizer would warn about each.
            kept = [[v for v in vals if v in self._known] for vals in values]
            out = self._enc.transform(kept) if kept else np.zeros((0, width))
        else:
            col = np.array([vals[0] if vals else _MISSING for vals in values], dtype=object)
            out = self._enc.transform(col.reshape(-1, 1)) if len(col) else np.zeros((0, width))
        out = sp.csr_matrix(np.asarray(out, dtype=np.float32))
        return self._add_fallback(out, catalog.item_ids).toarray()

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"categories": self.categories_}, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.categories_ = list(meta["categories"])
        self._build()
