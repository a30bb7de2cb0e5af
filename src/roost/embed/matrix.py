"""Matrix methods over the text encodings: LSA (truncated SVD of TF-IDF), PCA, LDA topics.

Each one is a scikit-learn decomposition fitted on a sparse encoding of the items' text
(:mod:`roost.embed.encodings`), never densified: ``TruncatedSVD`` and ``PCA`` (ARPACK, which
centres sparse input implicitly) over TF-IDF, ``LatentDirichletAllocation`` over counts.
New items are folded in through the fitted vocabulary and components. Persistence keeps
the encoder's vocabulary and the estimator's fitted arrays; loading sets them back on a
fresh estimator, so that transform runs scikit-learn's own code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA as SkPCA
from sklearn.decomposition import LatentDirichletAllocation, TruncatedSVD
from sklearn.preprocessing import normalize

from roost.data.frames import Catalog
from roost.embed.base import FALLBACKS, Embedder, fill_empty_rows
from roost.embed.encodings import BagOfWords, TextEncoding, Tfidf
from roost.types import RoostError

MATRIX_MAX_FEATURES = 20000  # sparse all the way: wider than the dense encodings' default


class Decomposition(Embedder):
    """Shared machinery: a text encoder, then a scikit-learn decomposition of its rows."""

    supports_new_items = True
    positive_params = ("n_components",)
    #: fitted attributes of the estimator that its ``transform`` needs (saved and restored)
    fitted_arrays: ClassVar[tuple[str, ...]] = ("components_",)
    n_components: int
    seed: int
    fields: tuple[str, ...]
    max_features: int | None
    min_df: float
    max_df: float
    stop_words: str | None
    sublinear_tf: bool

    # --- subclass hooks -------------------------------------------------------------------
    def _encoder(self) -> TextEncoding:
        """TF-IDF rows (LSA, PCA); without the encodings' id fallback columns, which would
        enter the decomposition as features."""
        return Tfidf(fields=self.fields, max_features=self.max_features, min_df=self.min_df,
                     max_df=self.max_df, stop_words=self.stop_words,
                     sublinear_tf=self.sublinear_tf, fallback=None)  # fmt: skip

    def _estimator(self, n_components: int) -> Any:
        raise NotImplementedError

    def _components_for(self, n_items: int, n_terms: int) -> int:
        """How many components the data allows (at most ``n_components``)."""
        return min(self.n_components, n_items, n_terms)

    def _output(self, z: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
        """Final rows from the estimator's output (``ids``: the items', None for texts)."""
        return z

    # --- fit / transform -----------------------------------------------------------------
    def fit(self, catalog: Catalog) -> Self:
        """Fit the encoder and the decomposition on the catalog's item text; returns ``self``."""
        self._check_params()
        encoder = self._encoder().fit(catalog)
        x = encoder.transform_sparse(catalog)
        k = self._components_for(*x.shape)
        if k < 1:
            raise RoostError(
                f"{self.name}: {x.shape[0]} item(s) with {x.shape[1]} distinct term(s) "
                "are too few to decompose"
            )
        self._enc = encoder
        # TruncatedSVD divides by the data's total variance for ``explained_variance_ratio_``
        # (which nothing here reads): zero for a single item, where numpy would warn.
        with np.errstate(invalid="ignore", divide="ignore"):
            self._model = self._estimator(k).fit(x)
        # ARPACK hands back reversed (negative-stride) components; BLAS rounds differently
        # on such views than on the contiguous copies a reload gives, so store them alike.
        for a in self.fitted_arrays:
            setattr(self._model, a, np.ascontiguousarray(getattr(self._model, a)))
        self.n_components_ = k
        self.vocabulary_ = encoder.vocabulary_
        return self

    @property
    def dim(self) -> int:
        self._check_fitted()
        return int(self.n_components_)

    def _embed(self, x: sp.csr_matrix, ids: np.ndarray | None = None) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.ascontiguousarray(self._output(self._model.transform(x), ids), dtype=np.float32)

    def transform(self, catalog: Catalog) -> np.ndarray:
        """float32 rows for ``catalog.items``; new items fold in through the fitted vocabulary."""
        self._check_fitted()
        return self._embed(self._enc.transform_sparse(catalog), catalog.item_ids)

    def transform_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Free texts (queries) projected like item text."""
        self._check_fitted()
        return self._embed(self._enc._encode(self._enc._analyse(list(texts))))

    # --- persistence ---------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        enc_meta, enc_arrays = self._enc._get_state()
        arrays = {f"enc.{k}": v for k, v in enc_arrays.items()}
        arrays |= {f"model.{k}": np.asarray(getattr(self._model, k)) for k in self.fitted_arrays}
        meta = {
            "encoder": enc_meta,
            "n_components": self.n_components_,
            "n_features_in": int(self._model.n_features_in_),
        }
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._enc = self._encoder()
        enc_arrays = {k[4:]: v for k, v in arrays.items() if k.startswith("enc.")}
        self._enc._set_state(meta["encoder"], enc_arrays)
        self.n_components_ = int(meta["n_components"])
        self.vocabulary_ = self._enc.vocabulary_
        # The estimator's transform reads only these fitted attributes.
        self._model = self._estimator(self.n_components_)
        for k in self.fitted_arrays:
            setattr(self._model, k, arrays[f"model.{k}"])
        self._model.n_features_in_ = int(meta["n_features_in"])


class LSA(Decomposition):
    """Latent semantic analysis: truncated SVD of TF-IDF, rows L2-normalised.

    Parameters
    ----------
    n_components : dimension (capped by the number of items and of terms minus one).
    fields, max_features, min_df, max_df, stop_words, sublinear_tf : the TF-IDF encoding
        (see :class:`~roost.embed.encodings.Tfidf`).
    n_iter : power iterations of the randomised SVD.
    seed : the SVD's random state; equal seeds give equal vectors.
    fallback : ``"id"``: an item with no known term (a zero row) gets a unit direction
        seeded by ``(seed, item id)`` (:func:`~roost.embed.base.id_directions`); ``None``:
        it stays zero. Query texts keep zero rows.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": list("abcd"),
    ...     "title": ["red car engine", "red automobile engine", "ripe banana", "ripe mango"]})
    >>> v = LSA(n_components=2).fit(c).transform(c)
    >>> v.shape, bool(v[0] @ v[1] > 0.9), bool(abs(v[0] @ v[2]) < 0.1)
    ((4, 2), True, True)
    """

    name = "lsa"
    metric = "cosine"
    choices = {"fallback": FALLBACKS}

    def __init__(
        self,
        n_components: int = 100,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        max_features: int | None = MATRIX_MAX_FEATURES,
        min_df: float = 1,
        max_df: float = 1.0,
        stop_words: str | None = None,
        sublinear_tf: bool = True,
        n_iter: int = 5,
        seed: int = 0,
        fallback: str | None = "id",
    ) -> None:
        self.n_components = n_components
        self.fields = fields
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.stop_words = stop_words
        self.sublinear_tf = sublinear_tf
        self.n_iter = n_iter
        self.seed = seed
        self.fallback = fallback

    def _components_for(self, n_items: int, n_terms: int) -> int:
        # The randomised solver needs fewer components than terms.
        return min(self.n_components, n_items, n_terms - 1)

    def _estimator(self, n_components: int) -> TruncatedSVD:
        return TruncatedSVD(n_components, algorithm="randomized", n_iter=self.n_iter,
                            random_state=self.seed)  # fmt: skip

    def _output(self, z: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
        z = normalize(z)
        if self.fallback == "id" and ids is not None:
            fill_empty_rows(z, ids, self.seed)
        return z


class PCA(Decomposition):
    """Principal components of TF-IDF (centred implicitly: the sparse matrix stays sparse).

    Parameters
    ----------
    n_components : dimension (capped below the number of items and of terms, as ARPACK
        requires).
    fields, max_features, min_df, max_df, stop_words, sublinear_tf : the TF-IDF encoding.
    whiten : scale components to unit variance.
    seed : ARPACK's starting vector; equal seeds give equal vectors.

    Coordinates keep TF-IDF's Euclidean geometry, so the metric is ``l2``.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": list("abc"),
    ...     "title": ["red car", "red automobile", "ripe banana"]})
    >>> PCA(n_components=2).fit(c).transform(c).shape
    (3, 2)
    """

    name = "pca"
    metric = "l2"
    fitted_arrays = ("components_", "mean_", "explained_variance_")

    def __init__(
        self,
        n_components: int = 50,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        max_features: int | None = MATRIX_MAX_FEATURES,
        min_df: float = 1,
        max_df: float = 1.0,
        stop_words: str | None = None,
        sublinear_tf: bool = True,
        whiten: bool = False,
        seed: int = 0,
    ) -> None:
        self.n_components = n_components
        self.fields = fields
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.stop_words = stop_words
        self.sublinear_tf = sublinear_tf
        self.whiten = whiten
        self.seed = seed

    def _components_for(self, n_items: int, n_terms: int) -> int:
        return min(self.n_components, min(n_items, n_terms) - 1)  # ARPACK: strictly fewer

    def _estimator(self, n_components: int) -> SkPCA:
        return SkPCA(n_components, svd_solver="arpack", whiten=self.whiten,
                     random_state=self.seed)  # fmt: skip


class LDA(Decomposition):
    """Latent Dirichlet allocation topics: each item as its topic mixture (rows sum to 1).

    Parameters
    ----------
    n_components : number of topics.
    fields, max_features, min_df, max_df, stop_words : the bag-of-words counts (English
        stop words dropped by default: they would fill every topic).
    doc_topic_prior, topic_word_prior : Dirichlet priors (``None``: ``1 / n_components``).
    max_iter : passes of batch variational Bayes.
    seed : random state of the initialisation; equal seeds give equal vectors.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": list("abcd"),
    ...     "title": ["car engine road", "engine road car", "banana mango", "mango banana"]})
    >>> lda = LDA(n_components=2, max_iter=50).fit(c)
    >>> v = lda.transform(c)
    >>> v.shape, bool(np.allclose(v.sum(axis=1), 1, atol=1e-5))
    ((4, 2), True)
    >>> sorted(w for t in lda.top_words(2) for w in t)
    ['banana', 'car', 'engine', 'mango']
    """

    name = "lda"
    metric = "cosine"
    fitted_arrays = ("components_", "exp_dirichlet_component_")

    def __init__(
        self,
        n_components: int = 10,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        max_features: int | None = MATRIX_MAX_FEATURES,
        min_df: float = 1,
        max_df: float = 1.0,
        stop_words: str | None = "english",
        doc_topic_prior: float | None = None,
        topic_word_prior: float | None = None,
        max_iter: int = 20,
        seed: int = 0,
    ) -> None:
        self.n_components = n_components
        self.fields = fields
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.stop_words = stop_words
        self.doc_topic_prior = doc_topic_prior
        self.topic_word_prior = topic_word_prior
        self.max_iter = max_iter
        self.seed = seed

    def _encoder(self) -> TextEncoding:
        return BagOfWords(fields=self.fields, max_features=self.max_features, min_df=self.min_df,
                          max_df=self.max_df, stop_words=self.stop_words,
                          fallback=None)  # fmt: skip

    def _components_for(self, n_items: int, n_terms: int) -> int:
        return int(self.n_components)  # topics are not bounded by the matrix rank

    def _estimator(self, n_components: int) -> LatentDirichletAllocation:
        return LatentDirichletAllocation(
            n_components,
            doc_topic_prior=self.doc_topic_prior,
            topic_word_prior=self.topic_word_prior,
            learning_method="batch",
            max_iter=self.max_iter,
            random_state=self.seed,
        )

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(meta, arrays)
        # The E-step reads the document-topic prior that fit resolves from the parameter.
        prior = self.doc_topic_prior
        self._model.doc_topic_prior_ = 1.0 / self.n_components_ if prior is None else prior

    def top_words(self, n: int = 10) -> list[list[str]]:
        """The ``n`` highest-weight words of each topic, best first."""
        self._check_fitted()
        order = np.argsort(-self._model.components_, axis=1, kind="stable")[:, :n]
        return [[self.vocabulary_[j] for j in row] for row in order]
