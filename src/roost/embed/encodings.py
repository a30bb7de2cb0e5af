"""Sparse text encodings: bag of words, TF-IDF, BM25 (categorical fields: :mod:`.categorical`).

All of them are scikit-learn underneath (``CountVectorizer``, ``TfidfTransformer``). Text
is analysed once
per call by scikit-learn's analyser (lowercase, ``token_pattern``, n-grams, stop words)
and counted by a ``CountVectorizer`` over the token lists, so that BM25 also sees each
document's full length. ``transform`` gives dense float32 rows as the contract asks;
``max_features`` bounds their width (``n_items x max_features x 4`` bytes).
``transform_sparse`` gives the same rows as scipy CSR, which is what lexical search wants.

Items without usable features (no known word, no value in the field) would be zero rows,
which have no direction under cosine. With ``fallback="id"`` (the default) every encoding
appends ``fallback_buckets`` columns and gives such an item a 1 in the column its id hashes
to (:func:`~roost.embed.base.id_buckets`): orthogonal to every item that has features, and
to other featureless items unless their ids share a bucket. Free texts (queries) have no
id and keep zeros there. ``fallback=None`` drops the columns and keeps zero rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

from roost.data.frames import Catalog
from roost.embed.base import FALLBACKS, Embedder, id_buckets
from roost.embed.compose import check_fields
from roost.types import RoostError

DEFAULT_MAX_FEATURES = 4096
DEFAULT_FALLBACK_BUCKETS = 256
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default: words of two or more characters


def _passthrough(tokens: list[str]) -> list[str]:
    return tokens  # documents reach the CountVectorizer already analysed


class SparseEncoding(Embedder):
    """What every sparse encoding shares: the id-hashed fallback columns for empty rows."""

    supports_new_items = True
    positive_params = ("fallback_buckets",)
    choices = {"fallback": FALLBACKS}
    fallback: str | None
    fallback_buckets: int

    def _n_fallback(self) -> int:
        return int(self.fallback_buckets) if self.fallback == "id" else 0

    def _add_fallback(self, x: sp.csr_matrix, ids: np.ndarray | None) -> sp.csr_matrix:
        """Widen ``x`` by the fallback columns; rows of ``ids`` without a feature get theirs."""
        n_extra = self._n_fallback()
        if not n_extra:
            return x
        x = sp.csr_matrix((x.data, x.indices, x.indptr), shape=(x.shape[0], x.shape[1] + n_extra))
        if ids is None:
            return x
        empty = np.flatnonzero(np.asarray(abs(x).sum(axis=1)).ravel() == 0)
        if not len(empty):
            return x
        cols = x.shape[1] - n_extra + id_buckets(np.asarray(ids)[empty], n_extra)
        fb = sp.csr_matrix((np.ones(len(empty), x.dtype), (empty, cols)), shape=x.shape)
        out = (x + fb).tocsr()
        out.sort_indices()
        return out


class TextEncoding(SparseEncoding):
    """Shared machinery of the text encodings: analyse, count, weigh (``_weigh``)."""

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
        self._check_params()
        self._check_items(catalog)
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
        return len(self.vocabulary_) + self._n_fallback()

    def _encode(self, docs: list[list[str]], ids: np.ndarray | None = None) -> sp.csr_matrix:
        """Weighted rows of analysed documents; with ``ids``, empty rows get the fallback."""
        if not docs:  # scikit-learn refuses zero samples; the batch of none is empty
            return sp.csr_matrix((0, self.dim), dtype=np.float32)
        counts = self._counter.transform(docs).tocsr().astype(np.float32)
        out = self._weigh(counts, _lengths(docs)).tocsr().astype(np.float32)
        out.sort_indices()
        return self._add_fallback(out, ids)

    def transform_sparse(self, catalog: Catalog) -> sp.csr_matrix:
        """float32 CSR rows for ``catalog.items``: the sparse form of :meth:`transform`."""
        self._check_fitted()
        return self._encode(self._analyse(self._texts(catalog)), catalog.item_ids)

    def transform(self, catalog: Catalog) -> np.ndarray:
        """Dense float32 rows for ``catalog.items`` (width ``dim``, at most ``max_features``)."""
        return self.transform_sparse(catalog).toarray()

    def transform_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Free texts (search queries, new descriptions) encoded like item text.

        A text has no id, so one without a known word stays a zero row.
        """
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
    fallback : ``"id"``: an item with no known term gets a 1 in one of ``fallback_buckets``
        extra columns, chosen by a hash of its id (see the module notes); ``None``: a zero
        row (refused by a store under cosine).
    fallback_buckets : width of the fallback block (part of ``dim``).

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red fox", "red red hen"]})
    >>> bow = BagOfWords(fallback=None).fit(c)
    >>> bow.vocabulary_, bow.transform(c).tolist()
    (['fox', 'hen', 'red'], [[1.0, 0.0, 1.0], [0.0, 1.0, 2.0]])
    >>> BagOfWords().fit(c).dim  # 3 terms and 256 fallback columns
    259
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
        fallback: str | None = "id",
        fallback_buckets: int = DEFAULT_FALLBACK_BUCKETS,
    ) -> None:
        self.fields = fields
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.lowercase = lowercase
        self.binary = binary
        self.fallback = fallback
        self.fallback_buckets = fallback_buckets

    def _weigh(self, counts: sp.csr_matrix, lengths: np.ndarray) -> sp.csr_matrix:
        if self.binary:
            counts = counts.copy()
            counts.data[:] = 1.0
        return counts


class Tfidf(TextEncoding):
    """TF-IDF rows (scikit-learn's ``TfidfTransformer``: smoothed IDF, L2-normalised rows).

    Parameters are :class:`BagOfWords`'s (``binary`` aside), plus ``sublinear_tf``
    (``1 + ln(tf)`` instead of ``tf``) and ``norm`` (``"l2"``, ``"l1"`` or ``None``).

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red fox", "red hen"]})
    >>> v = Tfidf().fit(c).transform(c)
    >>> v.dtype, v.shape, round(float(v[0] @ v[1]), 3)
    (dtype('float32'), (2, 259), 0.336)
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
        fallback: str | None = "id",
        fallback_buckets: int = DEFAULT_FALLBACK_BUCKETS,
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
        self.fallback = fallback
        self.fallback_buckets = fallback_buckets

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
    ``b`` (length normalisation, 0 to 1). Vectors are compared by ``dot``; queries have
    zeros in the fallback columns, so the fallback never adds to a BM25 score.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red fox", "blue hen"]})
    >>> bm = BM25().fit(c)
    >>> scores = bm.query_vectors(["red hen"]) @ bm.transform_sparse(c).T
    >>> [round(float(x), 3) for x in scores.toarray()[0]]  # ln 2 * 1 / (1 + 1.2)
    [0.315, 0.315]
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
        fallback: str | None = "id",
        fallback_buckets: int = DEFAULT_FALLBACK_BUCKETS,
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
        self.fallback = fallback
        self.fallback_buckets = fallback_buckets

    non_negative_params = ("k1",)

    def _check_params(self) -> None:
        super()._check_params()
        if not 0 <= self.b <= 1:
            raise RoostError(f"bm25: b must be between 0 and 1, got {self.b!r}")

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
        counts = self._counter.transform(self._analyse(list(texts))).tocsr().astype(np.float32)
        return self._add_fallback(counts, None)

    def _weight_state(self) -> dict[str, np.ndarray]:
        return {"idf": self.idf_}

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super()._get_state()
        return meta | {"avgdl": self.avgdl_}, arrays

    def _set_weight_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.idf_ = arrays["idf"].astype(np.float64)
        self.avgdl_ = float(meta["avgdl"])
