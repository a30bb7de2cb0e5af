"""Intrinsic evaluation of word vectors: analogy accuracy and word-similarity correlation.

Thin wrappers over gensim's ``KeyedVectors.evaluate_word_analogies`` and
``evaluate_word_pairs``, run on the test sets that ship in gensim's wheel (read through
``gensim.test.utils.datapath``): Mikolov et al.'s ``questions-words.txt`` (19,544
analogies), WordSim353 and SimLex-999. Any embedder with a ``word_vectors()`` method
(word2vec, GloVe) can be evaluated, or any vocabulary and matrix.

Conventions (gensim's): the vocabulary is taken in its stored order, most frequent word
first. Analogies are answered among the first ``restrict_vocab`` words (30,000 by default,
as in the word2vec paper's evaluation); a question with a word outside them is skipped,
so ``total`` says how many were asked. Similarity pairs with an unknown word are skipped
and counted in ``oov_ratio``. Case is folded on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from roost.types import RoostError

ANALOGIES = "questions-words.txt"
SIMILARITY_SETS: dict[str, str] = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
ANALOGY_VOCAB = 30000


class HasWordVectors(Protocol):
    def word_vectors(self) -> tuple[list[str], np.ndarray]: ...


@dataclass(frozen=True)
class AnalogyResult:
    """Accuracy on ``a : b :: c : ?`` questions (the answer is the nearest word to b - a + c)."""

    accuracy: float
    correct: int
    total: int
    restrict_vocab: int
    sections: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SimilarityResult:
    """Correlation of cosine similarities with human judgements on a word-pair set."""

    dataset: str
    spearman: float
    pearson: float
    pairs: int
    oov_ratio: float


def data_file(name: str) -> Path:
    """A file of gensim's bundled test data (``questions-words.txt``, ``wordsim353.tsv`` ...)."""
    try:
        from gensim.test.utils import datapath  # the 'train' extra
    except ImportError as e:
        raise RoostError("intrinsic evaluation needs gensim: pip install 'roost[train]'") from e
    p = Path(datapath(name))
    if not p.exists():
        raise RoostError(f"{p}: gensim's test data file is missing")
    return p


def keyed_vectors(words: Sequence[str], vectors: np.ndarray):
    """A gensim ``KeyedVectors`` over ``words`` and ``vectors`` (order kept)."""
    from gensim.models import KeyedVectors

    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(words):
        raise RoostError(f"{len(words)} words but vectors of shape {vectors.shape}")
    if len(words) == 0:
        raise RoostError("no word vectors to evaluate")
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(list(words), vectors)
    return kv


def analogy_accuracy(
    words: Sequence[str],
    vectors: np.ndarray,
    questions: str | Path | None = None,
    restrict_vocab: int = ANALOGY_VOCAB,
) -> AnalogyResult:
    """Accuracy on word analogies (``questions-words.txt`` by default).

    Examples
    --------
    >>> from roost.embed.words import load_word_vectors
    >>> wv = load_word_vectors()
    >>> r = analogy_accuracy(wv.words, wv.vectors)  # doctest: +SKIP
    >>> round(r.accuracy, 3), r.total  # doctest: +SKIP
    (0.497, ...)
    """
    kv = keyed_vectors(words, vectors)
    path = Path(questions) if questions is not None else data_file(ANALOGIES)
    score, sections = kv.evaluate_word_analogies(
        str(path), restrict_vocab=restrict_vocab, case_insensitive=True
    )
    total = next((s for s in sections if s["section"] == "Total accuracy"), None)
    correct = len(total["correct"]) if total else 0
    asked = correct + len(total["incorrect"]) if total else 0
    per_section = {
        s["section"]: len(s["correct"]) / n
        for s in sections
        if s["section"] != "Total accuracy" and (n := len(s["correct"]) + len(s["incorrect"]))
    }
    return AnalogyResult(
        accuracy=float(score) if asked else 0.0,
        correct=correct,
        total=asked,
        restrict_vocab=restrict_vocab,
        sections=per_section,
    )


def word_similarity(
    words: Sequence[str],
    vectors: np.ndarray,
    dataset: str = "wordsim353",
    restrict_vocab: int | None = None,
) -> SimilarityResult:
    """Spearman (and Pearson) correlation with a word-similarity set.

    ``dataset`` is ``"wordsim353"``, ``"simlex999"`` or a path to a file of
    ``word1<TAB>word2<TAB>score`` lines (``#`` starts a comment). With fewer than two
    known pairs the correlations are NaN. ``restrict_vocab``
    ``None`` looks pairs up in the whole vocabulary (gensim's default would stop at 300,000
    words and lose a SimLex pair to GloVe's 400,000).

    Examples
    --------
    >>> from roost.embed.words import load_word_vectors
    >>> wv = load_word_vectors()
    >>> round(word_similarity(wv.words, wv.vectors, "wordsim353").spearman, 3)  # doctest: +SKIP
    0.503
    """
    kv = keyed_vectors(words, vectors)
    path = data_file(SIMILARITY_SETS[dataset]) if dataset in SIMILARITY_SETS else Path(dataset)
    if not path.exists():
        known = ", ".join(SIMILARITY_SETS)
        raise RoostError(f"{dataset}: neither a known similarity set ({known}) nor a file")
    limit = restrict_vocab or len(words)
    known = {w.upper() for w in list(words)[:limit]}
    pairs = [line.split("\t")[:2] for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]  # fmt: skip
    n_known = sum(1 for p in pairs if len(p) == 2 and p[0].upper() in known and p[1].upper() in known)
    name = dataset if dataset in SIMILARITY_SETS else path.name
    oov_ratio = 1.0 - n_known / len(pairs) if pairs else 1.0
    if n_known < 2:  # no correlation to speak of (scipy would refuse)
        return SimilarityResult(name, float("nan"), float("nan"), n_known, oov_ratio)
    pearson, spearman, _ = kv.evaluate_word_pairs(
        str(path), restrict_vocab=limit, case_insensitive=True
    )
    return SimilarityResult(
        dataset=name,
        spearman=float(spearman.statistic),
        pearson=float(pearson.statistic),
        pairs=n_known,
        oov_ratio=oov_ratio,
    )


def evaluate_word_vectors(
    source: HasWordVectors | tuple[Sequence[str], np.ndarray],
    restrict_vocab: int = ANALOGY_VOCAB,
) -> dict[str, Any]:
    """The standard three figures for an embedder with ``word_vectors()`` or a (words, matrix).

    Returns ``{"wordsim353": SimilarityResult, "simlex999": SimilarityResult,
    "analogies": AnalogyResult}``.

    Examples
    --------
    >>> from roost.embed.words import GloVe
    >>> figures = evaluate_word_vectors(GloVe().fit(catalog))  # doctest: +SKIP
    >>> round(figures["simlex999"].spearman, 3)  # doctest: +SKIP
    0.265
    """
    words, vectors = source if isinstance(source, tuple) else source.word_vectors()
    out: dict[str, Any] = {name: word_similarity(words, vectors, name) for name in SIMILARITY_SETS}
    out["analogies"] = analogy_accuracy(words, vectors, restrict_vocab=restrict_vocab)
    return out
