"""One search entry point over lexical (BM25) and semantic search, and their fusion.

:class:`Searcher` answers ``search(query, mode)`` for ``semantic``, ``lexical`` and
``hybrid`` (reciprocal rank fusion by default, weighted score fusion as an option),
``more_like_this(item)``, and takes live items (``add``/``remove``). Filters come as a
``keep`` callable over candidate ids: each mode over-fetches until ``k`` candidates
survive it, so a refused id can never be returned.

``Searcher.from_home`` assembles one from a home: the BM25 index saved under
``<home>/indexes/bm25/`` (built from item title, text and tags when missing or stale) and
the text version (alias ``text`` by default) with its saved index. Either part may be
absent; asking for a mode that needs it raises a :class:`~roost.types.RoostError` saying
why and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from roost.data.frames import Catalog, table_fingerprint
from roost.search.fusion import FUSIONS, complete
from roost.search.lexical import BM25Search
from roost.search.semantic import SemanticSearch
from roost.store import Home, open_store
from roost.store.artifacts import LEXICAL
from roost.types import Hits, RoostError, UnknownIdError

MODES = ("hybrid", "semantic", "lexical")
TEXT_FIELDS = ("title", "text", "tags")
BM25_FOLDER = LEXICAL  # the folder under <home>/indexes (roost.store.artifacts)

Keep = Callable[[np.ndarray], Any] | set[str] | frozenset[str]
Found = list[tuple[str, float, dict]]


class Searcher:
    """Semantic, lexical and hybrid search over one catalog.

    Parameters
    ----------
    lexical : a fitted :class:`~roost.search.lexical.BM25Search`, or None.
    semantic : a fitted :class:`~roost.search.semantic.SemanticSearch`, or None.
    fusion : ``"rrf"`` (reciprocal rank fusion) or ``"weighted"`` (per-query normalised
        scores, summed with weights).
    semantic_weight, lexical_weight : each mode's weight in the fusion.
    normalize : per-query score normalisation for weighted fusion, ``"minmax"`` or
        ``"zscore"``.
    rescore : weighted fusion only: an item that one mode found and the other did not (in
        its ``depth``) gets its real score from the other mode rather than none; this
        lifted hybrid nDCG@10 on SciFact by 0.005-0.007 (docs/quality.md).
    k0 : the RRF constant (a larger one flattens the rank discount).
    depth : candidates each mode contributes to a hybrid search (at least ``k``).

    Examples
    --------
    >>> lex = BM25Search().fit(["a", "b"], ["red birds sing", "blue fish swim"])
    >>> Searcher(lexical=lex).search("bird song", mode="lexical", k=1)[0][0]
    'a'
    """

    def __init__(self, lexical: BM25Search | None = None, semantic: SemanticSearch | None = None,
                 *, fusion: str = "rrf", semantic_weight: float = 1.0,
                 lexical_weight: float = 1.0, k0: float = 60.0, depth: int = 100,
                 normalize: str = "minmax", rescore: bool = True):  # fmt: skip
        self.lexical = lexical
        self.semantic = semantic
        self.fusion = fusion
        self.semantic_weight = semantic_weight
        self.lexical_weight = lexical_weight
        self.k0 = k0
        self.depth = depth
        self.normalize = normalize
        self.rescore = rescore
        self._lock = threading.RLock()

    @classmethod
    def from_home(cls, home: Home | str | Path, text_version: str | None = "text", *,
                  catalog: Catalog | None = None, index=None, bm25: BM25Search | None = None,
                  **params: Any) -> Searcher:  # fmt: skip
        """A searcher over a home's catalog.

        Parameters
        ----------
        home : the Roost home.
        text_version : version id or alias of a transformer version for semantic search
            (``None``: lexical only).
        catalog : the home's catalog when the caller has read it already.
        index : the text version's vector index when the caller has loaded it already.
        bm25 : an unfitted :class:`BM25Search` whose parameters the lexical index uses.
        **params : :class:`Searcher` parameters (``fusion``, ``depth`` ...).
        """
        home = home if isinstance(home, Home) else Home.at(home)
        if catalog is None:
            with open_store(home, create=False) as store:
                catalog = store.catalog()
        missing: dict[str, str] = {}
        lexical = semantic = None
        try:
            lexical = _lexical_for(home, catalog, bm25 or BM25Search())
        except RoostError as e:
            missing["lexical"] = str(e)
        if text_version is None:
            missing["semantic"] = "no text version was given"
        else:
            try:
                semantic = _semantic_for(home, text_version, catalog, index)
            except RoostError as e:
                missing["semantic"] = str(e)
        obj = cls(lexical, semantic, **params)
        obj.missing_ = missing
        return obj

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes this searcher can serve."""
        have = {"lexical": self.lexical is not None, "semantic": self.semantic is not None}
        have["hybrid"] = have["lexical"] and have["semantic"]
        return tuple(m for m in MODES if have[m])

    # --- search --------------------------------------------------------------------------
    def search(
        self, query: str, mode: str = "hybrid", k: int = 10, keep: Keep | None = None
    ) -> Found:
        """The ``k`` best items for ``query`` as ``(item_id, score, why)``, best first.

        ``keep`` takes an array of item ids and returns a boolean mask of those that may be
        returned (a set of allowed ids works too). ``why`` maps each mode that found the item to its rank (1-based) and
        score there, e.g. ``{"semantic": {"rank": 1, "score": 0.61}}``.
        """
        if mode not in MODES:
            raise RoostError(f"search mode {mode!r}: choose one of {', '.join(MODES)}")
        k = _check_k(k)
        if not isinstance(query, str) or not query.strip():
            raise RoostError("the search query is empty")
        self._need(mode)
        keep = _as_keep(keep)
        with self._lock:
            if mode == "lexical":
                return _single("lexical", *self._lexical(query, k, keep))
            if mode == "semantic":
                return _single("semantic", *self._semantic(query, k, keep))
            depth = max(int(self.depth), k)
            runs = {"semantic": self._semantic(query, depth, keep),
                    "lexical": self._lexical(query, depth, keep)}  # fmt: skip
            return self._fuse(runs, k, query)

    def _lexical(self, query: str, n: int, keep: Keep | None):
        lex = self.lexical
        return _fetch(lambda m: lex.search([query], m), n, len(lex), keep)

    def _semantic(self, query: str, n: int, keep: Keep | None, exclude=()):
        sem = self.semantic
        q = sem.encode([query])
        return _fetch(lambda m: sem.search_vectors(q, m, exclude), n, len(sem), keep)

    def _fuse(self, runs: dict[str, tuple[np.ndarray, np.ndarray]], k: int, query: str) -> Found:
        if self.fusion not in FUSIONS:
            raise RoostError(f"fusion {self.fusion!r}: choose one of {', '.join(FUSIONS)}")
        names = list(runs)
        weights = [self.semantic_weight if n == "semantic" else self.lexical_weight for n in names]
        hits = [_as_hits(*runs[n]) for n in names]
        if self.fusion == "rrf":
            extra = {"k0": self.k0}
        else:
            extra = {"normalize": self.normalize}
            if self.rescore:
                # Items in the union already passed ``keep`` in the mode that found them.
                hits = complete(hits, [self._scorer(n, query) for n in names])
        fused = FUSIONS[self.fusion](hits, k=k, weights=weights, **extra)
        # id -> 1-based rank in each run (a later duplicate wins, as in any dict); the
        # scores are read for the k fused items only.
        rank = {n: dict(zip(runs[n][0].tolist(), range(1, len(runs[n][0]) + 1), strict=True))
                for n in names}  # fmt: skip
        out = []
        for item, score in fused.row(0):
            why = {}
            for n in names:
                r = rank[n].get(item)
                if r is not None:
                    why[n] = {"rank": r, "score": round(float(runs[n][1][r - 1]), 6)}
            out.append((item, score, why))
        return out

    def _scorer(self, mode: str, query: str):
        if mode == "semantic":
            q = self.semantic.encode([query])  # the query cache makes this free
            return lambda _row, ids: self.semantic.score_vectors(q, ids)[0]
        return lambda _row, ids: self.lexical.score([query], ids)[0]

    def more_like_this(self, item_id: str, k: int = 10, keep: Keep | None = None) -> Found:
        """The ``k`` items whose text vectors are nearest to ``item_id``'s (never itself)."""
        k = _check_k(k)
        self._need("semantic", "more like this")
        keep = _as_keep(keep)
        with self._lock:
            v = self.semantic.vector(item_id)
            if v is None:
                raise UnknownIdError(f"unknown item {item_id!r}: it has no text vector")
            sem = self.semantic
            found = _fetch(lambda m: sem.search_vectors(v, m, exclude={item_id}), k,
                           len(sem), keep)  # fmt: skip
        return [(i, s, {**why, "like": item_id}) for i, s, why in _single("semantic", *found)]

    # --- live items ----------------------------------------------------------------------
    def add(self, item_id: str, text: str) -> None:
        """Make an item searchable at once (replacing an earlier version of it)."""
        if not isinstance(text, str) or not text.strip():
            raise RoostError(f"item {item_id!r} has no text to search")
        with self._lock:
            if self.semantic is not None:
                self.semantic.add([item_id], [text])
            if self.lexical is not None:
                self.lexical.add([item_id], [text])

    def remove(self, item_id: str) -> None:
        """Hide an item from every later search and more-like-this."""
        with self._lock:
            for part in (self.semantic, self.lexical):
                if part is not None:
                    part.remove([item_id])

    def _need(self, mode: str, what: str | None = None) -> None:
        parts = ("semantic", "lexical") if mode == "hybrid" else (mode,)
        gone = [p for p in parts if getattr(self, p) is None]
        if gone:
            reasons = getattr(self, "missing_", {})
            why = "; ".join(f"{p}: {reasons.get(p, 'not configured')}" for p in gone)
            what = what or f"{mode} search"
            raise RoostError(f"{what} is unavailable ({why})")


def _as_keep(keep) -> Keep | None:
    """``keep`` as a callable: a collection of allowed ids is accepted too."""
    if keep is None or callable(keep):
        return keep
    allowed = set(keep)
    return lambda ids: np.fromiter((i in allowed for i in ids), bool, count=len(ids))


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise RoostError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _fetch(run: Callable[[int], Hits], k: int, limit: int, keep: Keep | None):
    """The ``k`` best (ids, scores) that ``keep`` accepts: ask ``run`` for more and more
    until enough survive or there is nothing more to ask for."""
    n = k if keep is None else max(2 * k, 20)
    while True:
        n = min(n, max(limit, 1))
        hits = run(n)
        # Both modes return str ids (None pads a short row): kept as they come, with no
        # per-id conversion.
        ids, scores = np.asarray(hits.ids[0], object), np.asarray(hits.scores[0], np.float32)
        found = np.not_equal(ids, None)
        if not found.all():
            ids, scores = ids[found], scores[found]
        got = len(ids)
        if keep is not None and got:
            mask = np.asarray(keep(ids))
            if mask.dtype != bool or mask.shape != ids.shape:
                raise RoostError(f"keep must return a boolean mask of shape {ids.shape}, "
                                 f"got {mask.dtype} {mask.shape}")  # fmt: skip
            ids, scores = ids[mask], scores[mask]
        if len(ids) >= k or got < n or n >= limit:
            return ids[:k], scores[:k]
        n *= 4


def _single(mode: str, ids: np.ndarray, scores: np.ndarray) -> Found:
    return [(i, float(s), {mode: {"rank": r + 1, "score": round(float(s), 6)}})
            for r, (i, s) in enumerate(zip(ids, scores, strict=True))]  # fmt: skip


def _as_hits(ids: np.ndarray, scores: np.ndarray) -> Hits:
    return Hits(
        np.asarray(ids, object).reshape(1, -1), np.asarray(scores, np.float32).reshape(1, -1)
    )


def _lexical_for(home: Home, catalog: Catalog, bm25: BM25Search) -> BM25Search:
    if catalog.items.num_rows == 0:
        raise RoostError(f"{home.path}: the catalog has no items to search (roost ingest first)")
    folder = home.artifacts.lexical
    stamp = {"items_fingerprint": table_fingerprint(catalog.items), "fields": list(TEXT_FIELDS)}
    if (folder / "lexical.json").is_file():
        try:
            saved = BM25Search.load(folder)
            same = {k: getattr(saved, k) for k in ("k1", "b", "method", "stemmer", "stopwords")}
            if saved.meta_ == stamp and same == {k: getattr(bm25, k) for k in same}:
                return saved
        except RoostError:
            pass  # damaged or from another library version: rebuilt below
    lex = BM25Search(bm25.k1, bm25.b, bm25.method, bm25.stemmer, bm25.stopwords)
    lex.fit(catalog.item_ids, catalog.item_texts(TEXT_FIELDS))
    lex.meta_ = stamp
    lex.save(folder)
    return lex


def _semantic_for(home: Home, ref: str, catalog: Catalog, index) -> SemanticSearch:
    from roost.store.manifest import UnknownVersionError
    from roost.store.versions import VersionStore

    with VersionStore(home, create=False) as vs:
        try:
            version = vs.get(ref)
        except UnknownVersionError:
            raise RoostError(
                f"no version or alias {ref!r} in {home.path}: fit a text version first "
                f"(roost embed transformer --alias {ref})"
            ) from None
    sem = SemanticSearch.from_version(version, index=index,
                                      index_dir=home.artifacts.indexes_of(version.id))  # fmt: skip
    _check_encoder(sem, version, catalog)
    return sem


def _check_encoder(sem: SemanticSearch, version, catalog: Catalog) -> None:
    """Re-encode one stored item: a model or ONNX file that changed since the version was
    made would put queries in another space and quietly return nonsense."""
    fields = tuple(version.manifest.get("params", {}).get("fields") or TEXT_FIELDS)
    texts = catalog.item_texts(fields)
    rows = {k: r for r, k in enumerate(catalog.item_ids)}
    for item in version.ids[:50]:
        r = rows.get(item)
        if r is not None and texts[r]:
            stored = np.asarray(version.items.vector(item), np.float32)
            fresh = sem.encode([texts[r]])[0]
            cos = float(stored @ fresh / (np.linalg.norm(stored) * np.linalg.norm(fresh) or 1.0))
            if cos < 0.9:
                raise RoostError(
                    f"the query encoder rebuilt for version {version.id} does not reproduce "
                    f"its vectors (cosine {cos:.2f} on item {item!r}): the model or its ONNX "
                    "file changed since; re-fit the text version"
                )
            return
