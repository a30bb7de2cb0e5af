"""Item vectors composed from word or tag vectors: a weighted mean, as in the news seed's tag2vec.

An item is a list of *units*: its words (``source="text"``) or its tags (``source="tags"``).
A unit's vector is the mean of the vectors of its known words (a word is a unit of one; a
tag such as ``"science fiction"`` is the mean of its two words), and the item's vector is
the weighted mean of its units' vectors, weights uniform or IDF, optionally L2-normalised.
The news seed's recipe "first three tags, equal weight" is ``source="tags", max_tags=3,
weighting="uniform"``.

The composition is one sparse ``items x words`` weight matrix times the word matrix, so
that the whole catalog costs a single BLAS product.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from roost.data.frames import Catalog
from roost.types import RoostError

SOURCES = ("text", "tags")
WEIGHTINGS = ("uniform", "idf")
TEXT_FIELDS = ("title", "text", "tags", "author", "category")

# Letters and digits, lowercased; underscores and punctuation split words. Tokens longer
# than this are noise (URLs, hashes) and would only bloat the vocabulary.
_WORD = re.compile(r"[^\W_]+")
MAX_TOKEN_LEN = 40


def tokenize(text: str | None) -> list[str]:
    """Lowercase word tokens of ``text`` (letters and digits; punctuation splits).

    Examples
    --------
    >>> tokenize("Star Wars: Episode IV (1977)")
    ['star', 'wars', 'episode', 'iv', '1977']
    """
    if not text:
        return []
    return [w for w in _WORD.findall(text.lower()) if len(w) <= MAX_TOKEN_LEN]


def normalize_tag(tag: str) -> str:
    """A tag as one unit key: lowercased words joined by single spaces."""
    return " ".join(tokenize(tag))


def check_fields(fields: Sequence[str], who: str) -> tuple[str, ...]:
    fields = tuple(fields)
    bad = [f for f in fields if f not in TEXT_FIELDS]
    if bad or not fields:
        raise RoostError(f"{who}: fields must be a non-empty subset of {TEXT_FIELDS}, not {fields!r}")
    return fields


def item_units(
    catalog: Catalog,
    source: str = "text",
    fields: Sequence[str] = ("title", "text", "tags"),
    max_tags: int | None = None,
) -> list[list[str]]:
    """Per item (catalog order), the units its vector is composed from.

    ``source="text"``: the word tokens of the chosen ``fields``; ``source="tags"``: the
    item's tags in their stored order (the first ``max_tags`` of them when given), each
    normalised by :func:`normalize_tag`.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a"], "title": ["Red Fox"],
    ...                                "tags": [["Wild Life", "fox", "x"]]})
    >>> item_units(c), item_units(c, source="tags", max_tags=2)
    ([['red', 'fox', 'wild', 'life', 'fox', 'x']], [['wild life', 'fox']])
    """
    if source == "text":
        return [tokenize(t) for t in catalog.item_texts(tuple(fields))]
    if source != "tags":
        raise RoostError(f"source must be one of {SOURCES}, not {source!r}")
    col = pc.fill_null(catalog.items.column("tags"), pa.scalar([], pa.list_(pa.string())))
    out = []
    for tags in col.to_pylist():
        units = [u for u in (normalize_tag(t) for t in tags if t) if u]
        out.append(units[:max_tags] if max_tags is not None else units)
    return out


def text_units(texts: Sequence[str], source: str = "text") -> list[list[str]]:
    """Free texts (queries) as units: words for ``text``; the whole text as one tag for ``tags``."""
    if source == "tags":
        return [[u] if (u := normalize_tag(t or "")) else [] for t in texts]
    return [tokenize(t) for t in texts]


def document_frequencies(units: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """Sorted distinct units and, for each, the number of items holding it."""
    df: Counter[str] = Counter()
    for u in units:
        df.update(set(u))
    keys = sorted(df)
    return keys, np.array([df[k] for k in keys], np.int64)


def smooth_idf(df: np.ndarray | int, n_docs: int) -> np.ndarray:
    """scikit-learn's smoothed IDF, ``ln((1 + n) / (1 + df)) + 1`` (always >= 1)."""
    return np.log((1.0 + n_docs) / (1.0 + np.asarray(df, np.float64))) + 1.0


@dataclass(frozen=True, eq=False)
class WordVectors:
    """A vocabulary and its vectors (row ``i`` is the vector of ``words[i]``).

    ``words`` keep their source's order (most frequent first for word2vec and GloVe), which
    is what ``restrict_vocab`` in the intrinsic evaluation relies on.

    Examples
    --------
    >>> wv = WordVectors(["red", "fox"], np.eye(2, dtype=np.float32))
    >>> wv.dim, wv.index["fox"]
    (2, 1)
    """

    words: list[str]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise RoostError(
                f"{len(self.words)} words but vectors of shape {self.vectors.shape}"
            )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    @cached_property
    def index(self) -> dict[str, int]:
        """word -> row; for a repeated word the first (most frequent) row wins."""
        out: dict[str, int] = {}
        for i, w in enumerate(self.words):
            out.setdefault(w, i)
        return out

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over words and vectors, 16 hex chars: ties saved state to these vectors."""
        h = hashlib.sha256()
        h.update("\n".join(self.words).encode())
        h.update(np.ascontiguousarray(self.vectors, np.float32).tobytes())
        return h.hexdigest()[:16]


def compose(
    units: Sequence[Sequence[str]],
    words: WordVectors,
    weights: dict[str, float] | None = None,
    default_weight: float = 1.0,
    normalize: bool = True,
) -> np.ndarray:
    """Item vectors as the weighted mean of their units' vectors (float32, one row per item).

    Parameters
    ----------
    units : per item, its units (words, or multi-word tags whose vector is the mean of
        their known words).
    words : the word vectors.
    weights : unit -> weight (e.g. IDF); units not in it get ``default_weight``. ``None``
        weighs every unit equally.
    normalize : scale each row to unit L2 norm (rows with no known word stay zero).

    Examples
    --------
    >>> wv = WordVectors(["red", "fox"], np.array([[1, 0], [0, 1]], np.float32))
    >>> compose([["red", "fox"], ["red"], ["owl"]], wv, normalize=False)
    array([[0.5, 0.5],
           [1. , 0. ],
           [0. , 0. ]], dtype=float32)
    """
    index = words.index
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    parts: dict[str, list[int]] = {}  # unit -> its known word rows, tokenised once
    for i, item in enumerate(units):
        start = len(rows)
        total = 0.0
        for unit in item:
            known = parts.get(unit)
            if known is None:
                known = parts[unit] = _known_rows(unit, index)
            if not known:
                continue
            w = default_weight if weights is None else weights.get(unit, default_weight)
            share = w / len(known)
            rows += [i] * len(known)
            cols += known
            vals += [share] * len(known)
            total += w
        if total > 0:
            for j in range(start, len(vals)):
                vals[j] /= total
    # Only the word rows in use take part: a 400k-word vocabulary is never copied whole.
    used, col = np.unique(np.asarray(cols, np.int64), return_inverse=True)
    m = sp.csr_matrix(
        (np.asarray(vals, np.float64), (np.asarray(rows, np.int64), col.reshape(-1))),
        shape=(len(units), len(used)),
    )
    if len(used):
        out = np.asarray(m @ np.asarray(words.vectors[used], np.float64))
    else:  # no known word at all (or no items): scipy cannot multiply by an empty matrix
        out = np.zeros((len(units), words.dim))
    if normalize:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
    return np.ascontiguousarray(out, dtype=np.float32)


def _known_rows(unit: str, index: dict[str, int]) -> list[int]:
    if " " not in unit:
        row = index.get(unit)
        if row is not None:
            return [row]
    return [index[t] for t in unit.split(" ") if t in index]
