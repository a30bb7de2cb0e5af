"""Sparse encodings: one-hot/ordinal/indicator for categorical fields, bag of words, TF-IDF, BM25.

All of them are scikit-learn underneath (``OneHotEncoder``, ``OrdinalEncoder``,
``MultiLabelBinarizer``, ``CountVectorizer``, ``TfidfTransformer``). Text is analysed once
per call by scikit-learn's analyser (lowercase, ``token_pattern``, n-grams, stop words)
and counted by a ``CountVectorizer`` over the token lists, so that BM25 also sees each
document's full length. ``transform`` gives dense float32 rows as the contract asks;
``max_features`` bounds their width (``n_items x max_features x 4`` bytes).
``transform_sparse`` gives the same rows as scipy CSR, which is what lexical search wants.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import MultiLabelBinarizer, OneHotEncoder, OrdinalEncoder

from roost.data.frames import Catalog
from roost.embed.base import Embedder
from roost.embed.compose import check_fields
from roost.types import RoostError

DEFAULT_MAX_FEATURES = 4096
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default: words of two or more characters


def _passthrough(tokens: list[str]) -> list[str]:
    return tokens  # documents reach the CountVectorizer already analysed


class TextEncoding(Embedder):
    """Shared machinery of the text encodings: analyse, count, weigh (``_weigh``)."""

    supports_new_items = True
    fields: tuple[str, ...]
    max_features: int | None
    min_df: float
    max_df: float
    ngram_range: tuple[int, int]
    stop_words: str | None
    lowercase: bool

    # --- subclass hooks -------------------------------------------------------------------
    def _fit_weights(self, counts: sp.csr_matrix, lengths: np.ndarray) -> None:
        """Learn weighting state from the fit catalog's counts (default: none)."""

    def _weigh(self, counts: sp.csr_matrix, lengths: np.ndarray) -> sp.csr_matrix:
        return counts

    def _weight_state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_weight_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_fit_weights` learned."""

    # --- fit / transform -----------------------------------------------------------------
    def _analyse(self, texts: Sequence[str]) -> list[list[str]]:
        analyser = CountVectorizer(
            lowercase=self.lowercase,
            token_pattern=TOKEN_PATTERN,
            ngram_range=tuple(self.ngram_range),
            stop_words=self.stop_words,
        ).build_analyzer()
        return [analyser(t or "") for t in texts]

    def _texts(self, catalog: Catalog) -> list[str]:
        return catalog.item_texts(check_fields(self.fields, self.name))

    def fit(self, catalog: Catalog) -> Self:
        """Learn the vocabulary (and weights) from the catalog's item text; returns ``self``."""
        if catalog.items.num_rows == 0:
            raise RoostError(f"{self.name}: the catalog has no items")
        docs = self._analyse(self._texts(catalog))
        counter = CountVectorizer(
            analyzer=_passthrough,
            max_features=self.max_features,
            min_df=self.min_df,
            max_df=self.max_df,
            dtype=np.float32,
        )
        try:
            counts = counter.fit_transform(docs).tocsr()
        except ValueError as e:  # empty vocabulary, or min_df/max_df leave no term
            raise RoostError(
                f"{self.name}: no usable terms in the items' {'/'.join(self.fields)} ({e})"
            ) from None
        self.vocabulary_ = [str(t) for t in counter.get_feature_names_out()]
        self._counter = counter
        self._fit_weights(counts, _lengths(docs))
        return self

    @property
    def dim(self) -> int:
        self._check_fitted()
        return len(self.vocabulary_)

    def _encode(self, docs: list[list[str]]) -> sp.csr_matrix:
        if not docs:  # scikit-learn refuses zero samples; the batch of none is empty
            return sp.csr_matrix((0, self.dim), dtype=np.float32)
        counts = self._counter.transform(docs).tocsr().astype(np.float32)
        out = self._weigh(counts, _lengths(docs)).tocsr().astype(np.float32)
        out.sort_indices()
        return out

    def transform_sparse(self, catalog: Catalog) -> sp.csr_matrix:
        """float32 CSR rows for ``catalog.items``: the sparse form of :meth:`transform`."""
        self._check_fitted()
        return self._encode(self._analyse(self._texts(catalog)))

    def transform(self, catalog: Catalog) -> np.ndarray:
        """Dense float32 rows for ``catalog.items`` (width ``dim``, at most ``max_features``)."""
        return self.transform_sparse(catalog).toarray()

    def transform_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Free texts (search queries, new descriptions) encoded like item text."""
        self._check_fitted()
        return self._encode(self._analyse(list(texts))).toarray()

    # --- persistence ---------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"vocabulary": self.vocabulary_}, self._weight_state()

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.vocabulary_ = list(meta["vocabulary"])
        self._counter = CountVectorizer(
            analyzer=_passthrough,
            vocabulary={t: i for i, t in enumerate(self.vocabulary_)},
            dtype=np.float32,
        )
        self._set_weight_state(meta, arrays)


def _lengths(docs: list[list[str]]) -> np.ndarray:
    return np.fromiter((len(d) for d in docs), np.float64, count=len(docs))


class BagOfWords(TextEncoding):
    """Term counts (or presence) of the items' text: the first rung of the ladder.

    Parameters
    ----------
    fields : item columns joined into the text (``title``, ``text``, ``tags``, ``author``,
        ``category``).
    max_features : keep the most frequent terms only (bounds the dense width).
    min_df, max_df : drop terms in fewer / more documents (counts or fractions, as in
        scikit-learn).
    ngram_range : word n-grams to count, e.g. ``(1, 2)``.
    stop_words : ``"english"`` (scikit-learn's list) or ``None``.
    lowercase : fold case before tokenising.
    binary : 1 for a present term instead of its count.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red fox", "red red hen"]})
    >>> bow = BagOfWords().fit(c)
    >>> bow.vocabulary_, bow.transform(c).tolist()
    (['fox', 'hen', 'red'], [[1.0, 0.0, 1.0], [0.0, 1.0, 2.0]])
    """

    name = "bow"
    metric = "cosine"

    def __init__(
        self,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        max_features: int | None = DEFAULT_MAX_FEATURES,
        min_df: float = 1,
        max_df: float = 1.0,
        ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | None = None,
        lowercase: bool = True,
        binary: bool = False,
    ) -> None:
        self.fields = fields
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.lowercase = lowercase
        self.binary = binary

    def _weigh(self, counts: sp.csr_matrix, lengths: np.ndarray) -> sp.csr_matrix:
        if self.binary:
            counts = counts.copy()
            counts.data[:] = 1.0
        return counts


class Tfidf(TextEncoding):
    """TF-IDF rows (scikit-learn's ``TfidfTransformer``: smoothed IDF, L2-normalised rows).

    Parameters are :class:`BagOfWords`'s, plus ``sublinear_tf`` (``1 + ln(tf)`` instead of
    ``tf``) and ``norm`` (``"l2"``, ``"l1"`` or ``None``).

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red fox", "red hen"]})
    >>> v = Tfidf().fit(c).transform(c)
    >>> v.dtype, v.shape, round(float(v[0] @ v[1]), 3)
    (dtype('float32'), (2, 3), 0.336)
    """

    name = "tfidf"
    metric = "cosine"

    def __init__(
        self,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        max_features: int | None = DEFAULT_MAX_FEATURES,
        min_df: float = 1,
        max_df: float = 1.0,
        ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | None = None,
        lowercase: bool = True,
        sublinear_tf: bool = False,
        norm: str | None = "l2",
    ) -> None:
        self.fields = fields
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.lowercase = lowercase
        self.sublinear_tf = sublinear_tf
        self.norm = norm

    def _transformer(self) -> TfidfTransformer:
        return TfidfTransformer(norm=self.norm, smooth_idf=True, sublinear_tf=self.sublinear_tf)

    def _fit_weights(self, counts: sp.csr_matrix, lengths: np.ndarray) -> None:
        self._tfidf = self._transformer().fit(counts)
        self.idf_ = self._tfidf.idf_  # kept in scikit-learn's dtype, so reloads weigh alike

    def _weigh(self, counts: sp.csr_matrix, lengths: np.ndarray) -> sp.csr_matrix:
        return self._tfidf.transform(counts)

    def _weight_state(self) -> dict[str, np.ndarray]:
        return {"idf": self.idf_}

    def _set_weight_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.idf_ = arrays["idf"]
        self._tfidf = self._transformer()
        self._tfidf.idf_ = self.idf_  # scikit-learn's documented setter: no refit needed


class BM25(TextEncoding):
    """Okapi BM25 document-side term weights: ``query_vectors(q) @ transform(c).T`` are BM25 scores.

    scikit-learn has no BM25, so the weighting is written here over its counts, in
    Lucene's form (the one ``bm25s`` reproduces, which the search stage uses):
    ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
    ``w(t, d) = idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))``. Lucene drops the
    textbook ``(k1 + 1)`` numerator: a constant factor that changes no ranking. ``|d|``
    counts every token of the document, also those outside the kept vocabulary;
    ``N``, ``df`` and ``avgdl`` are learned in ``fit``.

    Parameters are :class:`BagOfWords`'s, plus ``k1`` (term-frequency saturation) and
    ``b`` (length normalisation, 0 to 1). Vectors are compared by ``dot``.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red fox", "blue hen"]})
    >>> bm = BM25().fit(c)
    >>> scores = bm.query_vectors(["red hen"]) @ bm.transform_sparse(c).T
    >>> [round(float(x), 3) for x in scores.toarray()[0]]
    [0.693, 0.693]
    """

    name = "bm25"
    metric = "dot"

    def __init__(
        self,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        max_features: int | None = DEFAULT_MAX_FEATURES,
        min_df: float = 1,
        max_df: float = 1.0,
        ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | None = None,
        lowercase: bool = True,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self.fields = fields
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.lowercase = lowercase
        self.k1 = k1
        self.b = b

    def fit(self, catalog: Catalog) -> Self:
        if not self.k1 >= 0 or not 0 <= self.b <= 1:
            raise RoostError(f"bm25: need k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")
        return super().fit(catalog)

    def _fit_weights(self, counts: sp.csr_matrix, lengths: np.ndarray) -> None:
        n = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
        self.idf_ = np.log1p((n - df + 0.5) / (df + 0.5))
        self.avgdl_ = float(lengths.mean()) if n else 1.0

    def _weigh(self, counts: sp.csr_matrix, lengths: np.ndarray) -> sp.csr_matrix:
        out = counts.astype(np.float64)
        tf = out.data
        row_len = np.repeat(lengths, np.diff(out.indptr))
        norm = self.k1 * (1.0 - self.b + self.b * row_len / self.avgdl_)
        out.data = self.idf_[out.indices] * tf / (tf + norm)
        return out

    def query_vectors(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Query term counts (float32 CSR): a row's dot product with an item row is its BM25 score."""
        self._check_fitted()
        return self._counter.transform(self._analyse(list(texts))).tocsr().astype(np.float32)

    def _weight_state(self) -> dict[str, np.ndarray]:
        return {"idf": self.idf_}

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super()._get_state()
        return meta | {"avgdl": self.avgdl_}, arrays

    def _set_weight_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.idf_ = arrays["idf"].astype(np.float64)
        self.avgdl_ = float(meta["avgdl"])


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
    key = field[len("fields."):]
    out = []
    for item_id, raw in zip(items.column("id").to_pylist(), items.column("fields").to_pylist(),
                            strict=True):
        try:
            obj = json.loads(raw) if raw else {}
        except ValueError as e:
            raise RoostError(f"item {item_id!r}: fields is not valid JSON: {e}") from None
        v = obj.get(key) if isinstance(obj, dict) else None
        vals = v if isinstance(v, list) else [] if v is None else [v]
        out.append([json.dumps(x) if isinstance(x, dict | list) else str(x) for x in vals])
    return out


class OneHot(Embedder):
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

    Unseen and missing values give an all-zero row (``-1`` in ordinal mode), so new items
    are always accepted.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b", "c"], "category": ["x", "y", "x"]})
    >>> OneHot().fit(c).transform(c).tolist()
    [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    >>> OneHot(mode="ordinal").fit(c).transform(c).ravel().tolist()
    [0.0, 1.0, 0.0]
    """

    name = "onehot"
    metric = "cosine"
    supports_new_items = True

    def __init__(
        self, field: str = "category", mode: str = "onehot", max_categories: int | None = None
    ) -> None:
        self.field = field
        self.mode = mode
        self.max_categories = max_categories

    def fit(self, catalog: Catalog) -> Self:
        """Learn the field's categories (sorted by name); returns ``self``."""
        if self.mode not in MODES:
            raise RoostError(f"onehot: mode must be one of {MODES}, not {self.mode!r}")
        if self.max_categories is not None and self.max_categories < 1:
            raise RoostError("onehot: max_categories must be >= 1 or None")
        if catalog.items.num_rows == 0:
            raise RoostError("onehot: the catalog has no items")
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
                categories=[cats], handle_unknown="use_encoded_value", unknown_value=-1,
                dtype=np.float32,
            ).fit(cats.reshape(-1, 1))
        else:
            self._enc = MultiLabelBinarizer(classes=self.categories_).fit([])
        self._known = set(self.categories_)

    @property
    def dim(self) -> int:
        self._check_fitted()
        return 1 if self.mode == "ordinal" else len(self.categories_)

    def transform(self, catalog: Catalog) -> np.ndarray:
        """float32 rows for ``catalog.items``; unseen and missing values encode as zeros (-1)."""
        self._check_fitted()
        values = self._values(catalog)
        if self.mode == "indicator":
            # Unknown labels are dropped here: MultiLabelBinarizer would warn about each.
            kept = [[v for v in vals if v in self._known] for vals in values]
            out = self._enc.transform(kept) if kept else np.zeros((0, self.dim))
        else:
            col = np.array([vals[0] if vals else _MISSING for vals in values], dtype=object)
            out = self._enc.transform(col.reshape(-1, 1)) if len(col) else np.zeros((0, self.dim))
        return np.ascontiguousarray(out, dtype=np.float32)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"categories": self.categories_}, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.categories_ = list(meta["categories"])
        self._build()
