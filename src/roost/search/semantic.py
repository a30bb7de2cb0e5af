"""Semantic search: query text -> a text embedder's encoder -> that version's vector index.

A stored version keeps vectors, not the model that made them; its manifest names the
method and its parameters, so the query encoder is rebuilt from them (``ENCODERS``) and
checked against one stored vector before it serves. Live items (``add``) are encoded at
once and searched exactly beside the index; removed ones are denied inside the index's
own filter, so a shared index object is never modified here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from roost.index import Filter, Index, build_index
from roost.index.persist import IndexLoadError
from roost.index.topk import normalize_rows
from roost.types import EmbeddingSet, Hits, NotFittedError, RoostError, as_id_array

ENCODER_FOLDER = "encoder"  # <home>/indexes/<version>/encoder/: a saved embedder, if any


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def _transformer(params: dict[str, Any]) -> TextEncoder:
    from roost.data.frames import Catalog
    from roost.embed.transformer import Transformer

    enc = Transformer(**{**params, "show_progress": False})
    # A transformer learns nothing in fit: it loads the model and checks item text, so a
    # one-item catalog is enough to make it ready to encode queries.
    one = Catalog.from_pydict(items={"id": ["q"], "title": ["query"], "text": ["query"],
                                     "tags": [["query"]], "category": ["query"],
                                     "author": ["query"]})  # fmt: skip
    return enc.fit(one)


# method name -> builder of a query encoder from the version's parameters
ENCODERS: dict[str, Any] = {"transformer": _transformer}


def encoder_for(manifest: dict[str, Any], folder: Path | None = None) -> TextEncoder:
    """The query encoder of a stored version: a saved embedder in ``folder`` when there is
    one (methods whose weights a manifest cannot name, such as ``finetune``), else rebuilt
    from the manifest's method and parameters."""
    if folder is not None and (folder / "embedder.json").is_file():
        from roost.embed import Embedder

        return Embedder.load(folder)
    method = manifest.get("method")
    if method not in ENCODERS:
        raise RoostError(
            f"version {manifest.get('id')} was made by {method!r}, which cannot encode query "
            f"text; semantic search needs a version of: {', '.join(sorted(ENCODERS))} "
            f"(or a saved encoder in indexes/{manifest.get('id')}/{ENCODER_FOLDER}/)"
        )
    return ENCODERS[method](manifest.get("params") or {})


class SemanticSearch:
    """Nearest item vectors to the encoded query, with live additions and removals.

    Parameters
    ----------
    encoder : a fitted embedder with ``encode(texts) -> float32 (n, dim)``
        (:class:`~roost.embed.transformer.Transformer`, ``FineTuned``).
    index_kind : the index ``fit`` builds (``exact``, ``hnsw`` ...).
    query_cache : query vectors kept (least recently used dropped first); 0 disables.
        Encoding a query is most of a semantic search's time (a transformer pass, ~10 ms),
        and the same queries come back; a text's vector never changes for one encoder.

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> from roost.embed.transformer import Transformer
    >>> c = Catalog.from_pydict(items={"id": ["x"], "title": ["x"]})
    >>> enc = Transformer(onnx_model="packaged").fit(c)
    >>> s = SemanticSearch(enc).fit(["a", "b"], ["a small songbird", "a sports car"])
    >>> s.search(["little bird"], k=1).ids[0, 0]
    'a'
    """

    def __init__(
        self, encoder: TextEncoder | None = None, index_kind: str = "exact", query_cache: int = 1024
    ):
        self.encoder = encoder
        self.index_kind = index_kind
        self.query_cache = query_cache

    def fit(self, ids, texts: list[str]) -> SemanticSearch:
        """Encode ``texts`` and index them under ``ids``."""
        if self.encoder is None:
            raise RoostError("SemanticSearch needs an encoder to fit")
        ids = as_id_array(ids)
        vectors = np.asarray(self.encoder.encode(list(texts)), np.float32)
        es = EmbeddingSet(ids=ids, vectors=vectors, method="query-encoder", params={},
                          fingerprint="", metric="cosine")  # fmt: skip
        return self._set(build_index(es, self.index_kind), ids, vectors, None)

    @classmethod
    def from_version(
        cls,
        version,
        encoder: TextEncoder | None = None,
        *,
        index: Index | None = None,
        index_dir: str | Path | None = None,
    ) -> SemanticSearch:
        """Serve a stored version (:class:`~roost.store.manifest.Version`).

        ``encoder`` defaults to :func:`encoder_for` its manifest; ``index`` to the first
        saved index in ``index_dir`` (``<home>/indexes/<version id>``) bound to it, else an
        exact index built in memory.
        """
        manifest = version.manifest
        folder = Path(index_dir) if index_dir is not None else None
        if encoder is None:
            encoder = encoder_for(manifest, folder / ENCODER_FOLDER if folder else None)
        if index is None and folder is not None:
            index = _saved_index(folder, manifest)
        if index is None:
            index = build_index(version.items.as_embedding_set(), "exact", version_id=version.id)
        obj = cls(encoder, index_kind=index.kind)
        obj.version_ = version.id
        return obj._set(index, version.ids, None, version.items)

    def _set(self, index: Index, ids: np.ndarray, vectors, vector_set) -> SemanticSearch:
        self.index_ = index
        self.dim_ = int(index.dim_)
        self._base_ids = ids
        self._base_vectors = vectors  # an array (fit) or None with a VectorSet (version)
        self._vector_set = vector_set
        self._row = None
        self.removed_: set[str] = set()
        self.live_: dict[str, np.ndarray] = {}
        return self

    def __len__(self) -> int:
        self._check_fitted()
        hidden = sum(1 for i in self._hidden() if self._base_row(i) >= 0)
        return len(self.index_) - hidden + len(self.live_)

    def _hidden(self) -> set[str]:
        return set(self.removed_) | {i for i in self.live_ if self._base_row(i) >= 0}

    def _base_row(self, item: str) -> int:
        if self._row is None:
            self._row = {k: r for r, k in enumerate(self._base_ids)}
        return self._row.get(item, -1)

    # --- live changes ------------------------------------------------------------------
    def add(self, ids, texts: list[str]) -> SemanticSearch:
        """Encode and make items searchable now; an id already present is replaced."""
        self._check_fitted()
        ids = as_id_array(ids)
        vectors = np.asarray(self.encoder.encode(list(texts)), np.float32)
        if vectors.shape != (len(ids), self.dim_):
            raise RoostError(f"the encoder gave vectors of shape {vectors.shape}; the index "
                             f"holds dimension {self.dim_}")  # fmt: skip
        for i, v in zip(ids, normalize_rows(vectors), strict=True):
            self.removed_.discard(i)
            self.live_[i] = v
        return self

    def remove(self, ids) -> SemanticSearch:
        """Hide items from every later search (unknown ids are ignored)."""
        self._check_fitted()
        for i in as_id_array(ids):
            self.live_.pop(i, None)
            self.removed_.add(i)
        return self

    # --- search ------------------------------------------------------------------------
    def encode(self, queries: list[str]) -> np.ndarray:
        queries = list(queries)
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise RoostError(f"query {i} is empty: semantic search needs some text")
        if self.query_cache <= 0:
            return np.asarray(self.encoder.encode(queries), np.float32)
        lock = self.__dict__.setdefault("_queries_lock", threading.Lock())
        with lock:
            if self.__dict__.get("_queries_of") is not self.encoder:
                # a new encoder: the vectors kept belong to another space
                self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
                self._queries_of = self.encoder
            cache = self._queries
            missing = list(dict.fromkeys(q for q in queries if q not in cache))
        fresh = np.asarray(self.encoder.encode(missing), np.float32) if missing else None
        with lock:
            found = {q: cache.get(q) for q in queries}
            for q, v in zip(missing, fresh if fresh is not None else [], strict=True):
                found[q] = cache[q] = v
            for q in queries:
                if q in cache:  # another thread may have dropped it meanwhile
                    cache.move_to_end(q)
            while len(cache) > self.query_cache:
                cache.popitem(last=False)
        return np.stack([found[q] for q in queries]).astype(np.float32, copy=True)

    def search(self, queries: list[str], k: int = 10) -> Hits:
        """The ``k`` items nearest to each query text, best first."""
        self._check_fitted()
        return self.search_vectors(self.encode(queries), k)

    def search_vectors(self, q: np.ndarray, k: int = 10, exclude=()) -> Hits:
        """The ``k`` items nearest to each query vector (``exclude``: ids never returned)."""
        self._check_fitted()
        if k < 1:
            raise RoostError(f"k must be at least 1, got {k}")
        q = normalize_rows(np.atleast_2d(np.asarray(q, np.float32)))
        deny = self._hidden() | set(exclude)
        main = self.index_.search(q, k, filter=Filter(deny=deny) if deny else None)
        if not self.live_:
            return main
        live_ids = [i for i in self.live_ if i not in exclude]
        if not live_ids:
            return main
        live = q @ np.stack([self.live_[i] for i in live_ids]).T
        ids = np.full((len(q), k), None, dtype=object)
        out = np.full((len(q), k), -np.inf, np.float32)
        for r in range(len(q)):
            cand_ids = np.concatenate([main.ids[r], as_id_array(live_ids)])
            cand = np.concatenate([main.scores[r], live[r]]).astype(np.float32)
            keep = np.array([c is not None for c in cand_ids], bool)
            cand_ids, cand = cand_ids[keep], cand[keep]
            order = np.argsort(-cand, kind="stable")[:k]
            ids[r, : len(order)] = cand_ids[order]
            out[r, : len(order)] = cand[order]
        return Hits(ids, out)

    def score_vectors(self, q: np.ndarray, ids) -> np.ndarray:
        """Cosine similarity of each query vector to the items ``ids``: float32
        (n_queries, n_ids), NaN for an unknown or removed id.

        Scores any item, not only the nearest ones, e.g. one that lexical search found.
        """
        self._check_fitted()
        q = normalize_rows(np.atleast_2d(np.asarray(q, np.float32)))
        out = np.full((len(q), len(ids)), np.nan, np.float32)
        for j, item in enumerate(as_id_array(ids)):
            v = self.vector(item)
            if v is not None:
                out[:, j] = q @ normalize_rows(np.asarray(v, np.float32).reshape(1, -1))[0]
        return out

    def vector(self, item: str) -> np.ndarray | None:
        """The stored (or live) vector of ``item``; None when unknown or removed."""
        self._check_fitted()
        if item in self.live_:
            return self.live_[item]
        row = self._base_row(item)
        if row < 0 or item in self.removed_:
            return None
        if self._vector_set is not None:
            return np.asarray(self._vector_set.vectors[row], np.float32)
        return self._base_vectors[row]

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise NotFittedError("SemanticSearch is not fitted: call fit or from_version")


def _saved_index(folder: Path, manifest: dict[str, Any]) -> Index | None:
    """The first saved index under ``folder`` bound to this exact version, if any."""
    if not folder.is_dir():
        return None
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name != ENCODER_FOLDER):
        try:
            return Index.load(sub, expect_version=manifest["id"], expect_dim=int(manifest["dim"]),
                              expect_vectors_sha256=manifest.get("vectors_sha256"))  # fmt: skip
        except IndexLoadError:
            continue
    return None
