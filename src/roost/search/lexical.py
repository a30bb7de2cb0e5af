"""Lexical search: Okapi BM25 over item text, on bm25s.

Why bm25s and not tantivy: bm25s keeps the index as scipy sparse arrays (saved as .npy,
no pickle), scores a whole query batch with numpy, takes a per-document weight mask (our
filters push down for free), and reproduces Lucene's BM25 variant; tantivy is a full
search engine whose strengths (incremental segments, phrase queries, huge corpora on
disk) we don't need at catalog scale. bench/lexical.py measures both on the same corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from roost.types import Hits, NotFittedError, RoostError, as_id_array


def _stemmer(language: str | None):
    if not language:
        return None
    import Stemmer  # PyStemmer, from the 'search' extra

    return Stemmer.Stemmer(language)


class BM25Search:
    """BM25 over texts, batch-first.

    Parameters
    ----------
    k1, b : the BM25 saturation and length-normalisation constants.
    method : bm25s scoring variant ('lucene', 'robertson', 'atire', 'bm25l', 'bm25+').
    stemmer : Snowball language for stemming, or None.
    stopwords : stop-word list name for bm25s ('en'), or None.

    Examples
    --------
    >>> s = BM25Search().fit(["a", "b"], ["red birds sing", "blue fish swim"])
    >>> s.search(["singing bird"], k=1).ids[0, 0]
    'a'
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75, method: str = "lucene",
                 stemmer: str | None = "english", stopwords: str | None = "en"):
        self.k1 = k1
        self.b = b
        self.method = method
        self.stemmer = stemmer
        self.stopwords = stopwords

    def _tokenize(self, texts: list[str]):
        import bm25s

        return bm25s.tokenize(
            texts, stopwords=self.stopwords, stemmer=_stemmer(self.stemmer), show_progress=False
        )

    def fit(self, ids, texts: list[str]) -> BM25Search:
        import bm25s

        ids = as_id_array(ids)
        if len(ids) == 0:
            raise RoostError("cannot build a lexical index over no documents")
        if len(ids) != len(texts):
            raise RoostError(f"{len(ids)} ids but {len(texts)} texts")
        self.model_ = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        self.model_.index(self._tokenize([t or "" for t in texts]), show_progress=False)
        self.ids_ = ids
        self.row_ = {k: i for i, k in enumerate(ids)}
        return self

    def search(self, queries: list[str], k: int = 10, allow: np.ndarray | None = None) -> Hits:
        """Top ``k`` documents per query. ``allow`` is a boolean mask over documents (in
        fit order): filtered documents never score."""
        if not hasattr(self, "model_"):
            raise NotFittedError("BM25Search is not fitted: call fit(ids, texts) first")
        n = len(self.ids_)
        k_eff = min(k, n)
        tokens = self._tokenize(list(queries))
        mask = None if allow is None else np.asarray(allow, np.float32)
        docs, scores = self.model_.retrieve(
            tokens, k=k_eff, show_progress=False, n_threads=0, weight_mask=mask
        )
        ids = np.full((len(queries), k), None, dtype=object)
        out = np.full((len(queries), k), -np.inf, np.float32)
        for q in range(len(queries)):
            good = scores[q] > 0
            m = int(good.sum())
            ids[q, :m] = self.ids_[docs[q][good]]
            out[q, :m] = scores[q][good]
        return Hits(ids, out)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.save(str(path / "bm25s"), show_progress=False)
        (path / "lexical.json").write_text(json.dumps({
            "params": {"k1": self.k1, "b": self.b, "method": self.method,
                       "stemmer": self.stemmer, "stopwords": self.stopwords},
            "ids": self.ids_.tolist(),
        }))
        return path

    @classmethod
    def load(cls, path: str | Path) -> BM25Search:
        import bm25s

        path = Path(path)
        try:
            doc = json.loads((path / "lexical.json").read_text())
            model = bm25s.BM25.load(str(path / "bm25s"), show_progress=False)
        except (OSError, ValueError) as e:
            raise RoostError(f"{path}: cannot load lexical index: {e}") from e
        obj = cls(**doc["params"])
        obj.model_ = model
        obj.ids_ = as_id_array(doc["ids"])
        obj.row_ = {k: i for i, k in enumerate(obj.ids_)}
        return obj
