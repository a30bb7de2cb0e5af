"""Lexical search: Okapi BM25 over item text, on bm25s.

Why bm25s and not tantivy: bm25s keeps the index as scipy sparse arrays (saved as .npy,
no pickle), scores a whole query batch with numpy, takes a per-document weight mask (any
filter pushes down as one multiply) and exposes its per-term formulas (live documents
score exactly as fitted ones). tantivy ranks as well (nDCG@10 within 0.01 on SciFact) and
answered single queries faster in ``bench/search_lexical.py``; docs/search.md weighs both.

Live documents (``add``) are scored with the corpus statistics of the last ``fit``
(document frequencies, average length), the way a search engine scores a fresh segment
before a merge; a refit folds them into the statistics.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from roost.store.publish import staged_folder
from roost.types import Hits, NotFittedError, RoostError, as_id_array

# Variants whose score is idf * tf-component alone; bm25l/bm25+ add a per-term
# non-occurrence score that live documents would need a second table for.
_LIVE_METHODS = ("lucene", "robertson", "atire")


def _stemmer(language: str | None):
    if not language:
        return None
    import Stemmer  # PyStemmer, from the 'search' extra

    return Stemmer.Stemmer(language)


# bm25s.tokenize's default token pattern: runs of two or more word characters
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STOPWORDS: dict[str, frozenset[str]] = {}


def _stopword_set(stopwords) -> frozenset[str]:
    key = stopwords if isinstance(stopwords, str) or stopwords is None else None
    found = _STOPWORDS.get(key) if key is not None else None
    if found is None:
        from bm25s.tokenization import _infer_stopwords

        found = frozenset(_infer_stopwords(stopwords))
        if key is not None:
            _STOPWORDS[key] = found
    return found


def _token_lists(texts: list[str], stopwords, stemmer: str | None) -> list[list[str]]:
    """The tokens ``bm25s.tokenize(texts, return_ids=False)`` gives, step for step:
    lower-case, split on its pattern, drop stop words, stem. A test holds the two equal."""
    stop = _stopword_set(stopwords)
    stem = _stemmer(stemmer)
    out = []
    for text in texts:
        words = [w for w in _TOKEN.findall(text.lower()) if w not in stop]
        out.append(stem.stemWords(words) if stem is not None and words else words)
    return out


class BM25Search:
    """BM25 over texts, batch-first, with live additions and removals.

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
    >>> s.add(["c"], ["a bird that sings at night"]).search(["night bird"], k=1).ids[0, 0]
    'c'
    """

    def __init__(
        self,
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
        stemmer: str | None = "english",
        stopwords: str | None = "en",
    ):
        self.k1 = k1
        self.b = b
        self.method = method
        self.stemmer = stemmer
        self.stopwords = stopwords

    def _tokenize(self, texts: list[str], return_ids: bool = True):
        """bm25s's tokens of ``texts``: its ``Tokenized`` ids for ``fit``, else a list of
        token lists, made by :func:`_token_lists` (the same tokens, without bm25s's
        progress bars and per-call vocabulary: ~40 us a query against ~5 us)."""
        if not return_ids:
            return _token_lists(texts, self.stopwords, self.stemmer)
        import bm25s

        return bm25s.tokenize(
            texts, stopwords=self.stopwords, stemmer=_stemmer(self.stemmer),
            show_progress=False, return_ids=return_ids,
        )  # fmt: skip

    def fit(self, ids, texts: list[str]) -> BM25Search:
        import bm25s

        ids = as_id_array(ids)
        if len(ids) == 0:
            raise RoostError("cannot build a lexical index over no documents")
        if len(ids) != len(texts):
            raise RoostError(f"{len(ids)} ids but {len(texts)} texts")
        if len(set(ids)) != len(ids):
            raise RoostError("lexical index ids must be unique")
        tokens = self._tokenize([t or "" for t in texts])
        self.model_ = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        self.model_.index(tokens, show_progress=False)
        self.avg_doc_len_ = float(np.mean([len(d) for d in tokens.ids]))
        self._set_ids(ids)
        return self

    def _set_ids(self, ids: np.ndarray) -> None:
        self.ids_ = ids
        self.row_ = {k: i for i, k in enumerate(ids)}
        self.removed_ = np.zeros(len(ids), bool)
        self.live_: dict[str, tuple[Counter, int]] = {}
        self._df = None
        self._rank = None

    @property
    def ids(self) -> np.ndarray:
        """Every searchable id: fitted documents (less removed ones), then live ones."""
        self._check_fitted()
        return np.concatenate([self.ids_[~self.removed_], as_id_array(list(self.live_))])

    def __len__(self) -> int:
        return int((~self.removed_).sum()) + len(self.live_) if hasattr(self, "ids_") else 0

    # --- live changes ------------------------------------------------------------------
    def add(self, ids, texts: list[str]) -> BM25Search:
        """Make documents searchable now; an id already present is replaced."""
        self._check_fitted()
        if self.method not in _LIVE_METHODS:
            raise RoostError(f"BM25 method {self.method!r} cannot take live documents; "
                             f"use one of {', '.join(_LIVE_METHODS)} or refit")  # fmt: skip
        ids = as_id_array(ids)
        if len(ids) != len(texts):
            raise RoostError(f"{len(ids)} ids but {len(texts)} texts")
        for i, toks in zip(ids, self._tokenize([t or "" for t in texts], False), strict=True):
            self.remove([i])
            self.live_[i] = (Counter(toks), len(toks))
        return self

    def remove(self, ids) -> BM25Search:
        """Hide documents from every later search (unknown ids are ignored)."""
        self._check_fitted()
        for i in as_id_array(ids):
            row = self.row_.get(i)
            if row is not None:
                self.removed_[row] = True
            self.live_.pop(i, None)
        return self

    # --- search ------------------------------------------------------------------------
    def search(self, queries: list[str], k: int = 10, allow: np.ndarray | None = None) -> Hits:
        """Top ``k`` documents per query (only those sharing a term with it), best first;
        equal scores in id order.

        ``allow`` is a boolean mask over :attr:`ids`: refused documents never score.
        """
        self._check_fitted()
        if k < 1:
            raise RoostError(f"k must be at least 1, got {k}")
        queries = list(queries)
        kept = ~self.removed_
        live_ids = list(self.live_)
        live_ok = np.ones(len(live_ids), bool)
        if allow is not None:
            allow = np.asarray(allow, bool)
            if allow.shape != (len(self),):
                raise RoostError(f"allow mask has shape {allow.shape}, expected ({len(self)},)")
            kept = kept.copy()
            kept[kept] = allow[: int(kept.sum())]
            live_ok = allow[len(allow) - len(live_ids) :]
        # bm25s multiplies the scores by the mask: 0 for a refused document. With none
        # refused there is nothing to multiply.
        weight = None if kept.all() else kept.astype(np.float32)
        ids = np.full((len(queries), k), None, dtype=object)
        out = np.full((len(queries), k), -np.inf, np.float32)
        live = self._score_live(queries, live_ids, live_ok) if live_ids else None
        rank = self._id_rank()
        for q, toks in enumerate(self._tokenize(queries, False)):
            rows, cand = self._top_fitted(toks, k, weight, rank)
            cand_ids = self.ids_[rows]
            if live is not None:
                hit = live[q] > 0
                cand_ids = np.concatenate([cand_ids, as_id_array(live_ids)[hit]])
                cand = np.concatenate([cand, live[q][hit]])
                order = np.lexsort((cand_ids.astype(str), -cand))[:k]
                cand_ids, cand = cand_ids[order], cand[order]
            m = len(cand_ids)
            ids[q, :m] = cand_ids
            out[q, :m] = cand
        return Hits(ids, out)

    def _top_fitted(self, toks: list[str], k: int, weight, rank: np.ndarray):
        """Rows and scores of the ``k`` best fitted documents for one tokenised query.

        bm25s's own ``retrieve`` runs ``argpartition`` over every document's score, most
        of them 0; that took ~1 ms a query on 10.5k documents, much of it spent on the
        ties at 0. Only the documents sharing a term (score > 0) can be returned, so the
        top ``k`` is taken over those alone; the scores are bm25s's own
        (``get_scores_from_ids``), bit for bit.
        """
        tids = self.model_.get_tokens_ids(toks)
        if not tids:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        full = self.model_.get_scores_from_ids(tids, weight_mask=weight)
        rows = np.flatnonzero(full > 0)
        cand = full[rows]
        if len(rows) > k:
            # every document scoring at least the k-th best, ties at the cut included,
            # so that the id order below decides between them
            kth = np.partition(cand, len(cand) - k)[len(cand) - k]
            sel = cand >= kth
            rows, cand = rows[sel], cand[sel]
        order = np.lexsort((rank[rows], -cand))[:k]
        return rows[order], cand[order].astype(np.float32, copy=False)

    def _id_rank(self) -> np.ndarray:
        """Each fitted document's position in id order: the tie-break of equal scores, as
        for live documents, so that an answer never depends on the selection algorithm."""
        if self._rank is None:
            rank = np.empty(len(self.ids_), np.int64)
            rank[np.argsort(self.ids_.astype(str), kind="stable")] = np.arange(len(self.ids_))
            self._rank = rank
        return self._rank

    def score(self, queries: list[str], ids) -> np.ndarray:
        """BM25 scores of the documents ``ids`` for each query: float32 (n_queries, n_ids).

        Any document can be scored, not only a query's top hits (hybrid search uses this
        to give an item that only the other mode found its real lexical score); an unknown
        or removed id scores NaN.

        Examples
        --------
        >>> s = BM25Search().fit(["a", "b"], ["red birds sing", "blue fish swim"])
        >>> sc = s.score(["singing bird"], ["b", "a", "z"])
        >>> float(sc[0, 0]), bool(sc[0, 1] > 0), bool(np.isnan(sc[0, 2]))
        (0.0, True, True)
        """
        self._check_fitted()
        queries, ids = list(queries), as_id_array(ids)
        out = np.full((len(queries), len(ids)), np.nan, np.float32)
        fitted = np.array([self.row_.get(i, -1) for i in ids], np.int64)
        fitted[fitted >= 0] = np.where(self.removed_[fitted[fitted >= 0]], -1,
                                       fitted[fitted >= 0])  # fmt: skip
        live = [j for j, i in enumerate(ids) if i in self.live_]
        for q, toks in enumerate(self._tokenize(queries, False)):
            # bm25s scores the whole corpus at once (a sum of the query terms' sparse
            # columns); out-of-vocabulary tokens score nothing.
            full = self.model_.get_scores(toks) if toks else np.zeros(len(self.ids_))
            out[q, fitted >= 0] = full[fitted[fitted >= 0]]
        if live:
            lids = [ids[j] for j in live]
            out[:, live] = self._score_live(queries, lids, np.ones(len(lids), bool))
        return out

    def _score_live(self, queries: list[str], live_ids: list[str], ok: np.ndarray) -> np.ndarray:
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

        # bm25s's own per-term formulas, so that a live document scores exactly as it
        # would had it been in the fitted corpus with the same statistics.
        idf_of, tfc_of = _select_idf_scorer(self.method), _select_tfc_scorer(self.method)
        n_docs = len(self.ids_)
        df = self._doc_freqs()
        out = np.zeros((len(queries), len(live_ids)), np.float32)
        for q, toks in enumerate(self._tokenize(queries, False)):
            for j, i in enumerate(live_ids):
                if not ok[j]:
                    continue
                counts, length = self.live_[i]
                s = 0.0
                for t in toks:
                    tf = counts.get(t, 0)
                    if tf:
                        tfc = tfc_of(tf_array=tf, l_d=length, l_avg=self.avg_doc_len_,
                                     k1=self.k1, b=self.b, delta=getattr(self.model_, "delta", None))  # fmt: skip
                        s += idf_of(df.get(t, 0), N=n_docs) * tfc
                out[q, j] = s
        return out

    def _doc_freqs(self) -> dict[str, int]:
        if self._df is None:
            counts = np.diff(np.asarray(self.model_.scores["indptr"]))
            self._df = {t: int(counts[c]) for t, c in self.model_.vocab_dict.items()
                        if c < len(counts)}  # fmt: skip
        return self._df

    # --- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted index (live changes are not saved: refit to keep them) to the
        folder ``path``, atomically: a reader sees the old folder or the new one."""
        self._check_fitted()
        path = Path(path)
        with staged_folder(path) as tmp:
            self.model_.save(str(tmp / "bm25s"), show_progress=False)
            doc = {
                "params": {"k1": self.k1, "b": self.b, "method": self.method,
                           "stemmer": self.stemmer, "stopwords": self.stopwords},
                "ids": self.ids_.tolist(),
                "avg_doc_len": self.avg_doc_len_,
                "meta": getattr(self, "meta_", {}),
            }  # fmt: skip
            (tmp / "lexical.json").write_text(json.dumps(doc))
        return path

    @classmethod
    def load(cls, path: str | Path) -> BM25Search:
        import bm25s

        path = Path(path)
        try:
            doc = json.loads((path / "lexical.json").read_text())
            model = bm25s.BM25.load(str(path / "bm25s"), show_progress=False)
            obj = cls(**doc["params"])
            avg = float(doc["avg_doc_len"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RoostError(f"{path}: cannot load lexical index: {e}") from e
        obj.model_ = model
        obj.avg_doc_len_ = avg
        obj.meta_ = doc.get("meta", {})
        obj._set_ids(as_id_array(doc["ids"]))
        return obj

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("BM25Search is not fitted: call fit(ids, texts) first")
