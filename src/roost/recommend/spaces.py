"""An embedding version opened for serving: its item index, user vectors, fold-in and,
for content versions, the encoder that embeds new text.

The vector channels (:mod:`roost.recommend.vector_channels`) and the learned ranker read
embeddings through a :class:`VectorSpace` only, so they never touch row numbers of the
version or of the index. Live items (``add_item``) and folded-in users (``set_user``) are
kept beside the immutable version: the version on disk never changes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from roost.index import Index, build_index
from roost.index.topk import normalize_rows
from roost.recommend.neighbours import TABLE_K, NeighbourTable
from roost.recommend.space_users import UserVectors
from roost.store.artifacts import Artifacts
from roost.store.manifest import Version
from roost.types import RoostError

# Item-to-item similarity is computed exactly (one matmul over all unit vectors) while it
# costs at most this many multiply-adds per query; beyond, the index answers.
EXACT_NEIGHBOUR_FLOPS = 20_000_000
# Neighbour lists kept per space before the cache starts over.
NEIGHBOUR_CACHE = 50_000


class VectorSpace(UserVectors):
    """One embedding version, ready for requests (its user side: :class:`UserVectors`).

    Parameters
    ----------
    alias : the name surfaces use for it (``collab``, ``text`` ...).
    version : the opened :class:`~roost.store.manifest.Version`.
    index : an item index bound to the version (``None``: an exact one is built).
    encoder_folder : where a saved text encoder of the version lives, if any.

    Examples
    --------
    >>> import numpy as np
    >>> from roost.store.manifest import VectorSet
    >>> items = VectorSet(np.array(["a", "b"], dtype=object), np.eye(2, dtype="float32"),
    ...                   {"metric": "cosine", "method": "demo", "params": {}, "fingerprint": "f",
    ...                    "kind": "item", "normalized": True, "extra": {}}, "v1")
    >>> space = VectorSpace("demo", Version({"id": "v1", "method": "demo", "params": {}},
    ...                     Path("."), items, None))
    >>> space.search(np.array([[1.0, 0.0]], np.float32), 1)[0]
    [('a', 1.0)]
    """

    def __init__(
        self,
        alias: str,
        version: Version,
        index: Index | None = None,
        encoder_folder: Path | None = None,
    ):
        self.alias = alias
        self.version = version
        self.encoder_folder = encoder_folder
        self.index = (
            index
            if index is not None
            else build_index(version.as_embedding_set(), "exact", version_id=version.id)
        )
        self.live_users: dict[str, np.ndarray] = {}
        self._extra_ids: list[str] = []
        self._extra_vecs = np.zeros((0, version.dim), np.float32)
        self._pos = {k: i for i, k in enumerate(version.ids.tolist())}
        self._unit: np.ndarray | None = None
        self._ids: list[str] | None = None
        self._ctx_pos: tuple[int, int, int, np.ndarray] | None = None
        self._nn: dict[tuple[str, int], list[tuple[str, float]]] = {}
        self._table: NeighbourTable | None = None
        self._ctx_rows: tuple[int, int, int, np.ndarray] | None = None
        self._users = version.users
        self._user_pos = (
            {k: i for i, k in enumerate(self._users.ids.tolist())}
            if self._users is not None
            else {}
        )
        self._folder: Any = None
        self._encoder: Any = None
        self._lock = threading.RLock()

    # --- facts --------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.version.id

    @property
    def method(self) -> str:
        return self.version.manifest.get("method", "")

    @property
    def metric(self) -> str:
        return self.version.metric

    @property
    def dim(self) -> int:
        return self.version.dim

    @property
    def is_content(self) -> bool:
        """Whether the version can embed new text (a transformer, or a saved encoder)."""
        from roost.search.semantic import ENCODERS

        has_saved = (
            self.encoder_folder is not None and (self.encoder_folder / "embedder.json").is_file()
        )
        return self.method in ENCODERS or has_saved

    @property
    def has_users(self) -> bool:
        """Whether the version holds fitted user vectors (which live events make stale)."""
        return self._users is not None

    def has(self, item_id: str) -> bool:
        return item_id in self._pos

    def is_stored(self, item_id: str) -> bool:
        """Whether the version itself (not a live addition) holds the item."""
        return self._pos.get(item_id, len(self.version)) < len(self.version)

    def __len__(self) -> int:
        return len(self._pos)

    # --- item vectors ---------------------------------------------------------------------
    def item_vectors(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors, known)``: rows for ``ids`` (zeros where unknown) and a known mask."""
        n0 = len(self.version)
        pos = np.array([self._pos.get(i, -1) for i in ids], np.int64)
        out = np.zeros((len(pos), self.dim), np.float32)
        base = (pos >= 0) & (pos < n0)
        if base.any():
            out[base] = self._stored()[pos[base]]
        live = pos >= n0
        if live.any():
            out[live] = self._extra_vecs[pos[live] - n0]
        return out, pos >= 0

    def _stored(self) -> np.ndarray:
        """The version's vectors as a plain array over the same memory: indexing a
        np.memmap builds a memmap object per call, which cost a request tens of
        microseconds in fold-in and MMR."""
        v = self.__dict__.get("_plain")
        if v is None:
            v = self._plain = np.asarray(self.version.vectors)
        return v

    def positions(self, ctx: Any) -> np.ndarray:
        """For every item row of ``ctx`` (a RecContext), its row here, -1 where unknown.

        Kept until either side gains items, so a request maps its rows without a
        dictionary lookup per item."""
        key = (id(ctx), len(ctx.item_ids), len(self._pos))
        hit = self._ctx_pos
        if hit is not None and hit[:3] == key:
            return hit[3]
        pos = np.array([self._pos.get(i, -1) for i in ctx.item_ids], np.int64)
        self._ctx_pos = (*key, pos)
        return pos

    def similarity(self, ctx: Any, rows: np.ndarray, user: np.ndarray) -> np.ndarray:
        """User-item similarity for ``ctx`` item rows in the version's metric: cosine for
        cosine versions, else dot; 0 for items the version does not hold."""
        pos = self.positions(ctx)[rows]
        known = pos >= 0
        u = np.asarray(user, np.float32)
        if self.metric == "cosine":
            v = self._all_unit()[np.maximum(pos, 0)]
            u = u / max(float(np.linalg.norm(u)), 1e-12)
        else:
            n0 = len(self.version)
            base = self._stored()
            v = np.zeros((len(pos), self.dim), np.float32)
            b = known & (pos < n0)
            v[b] = base[pos[b]]
            if len(self._extra_ids):
                e = pos >= n0
                v[e] = self._extra_vecs[pos[e] - n0]
        return np.where(known, v @ u, 0.0)

    def unit_rows(self, ctx: Any, rows: np.ndarray) -> np.ndarray:
        """Unit vectors of ``ctx`` item rows (zeros for items the version does not hold):
        :meth:`unit_vectors` by row, without a lookup per id."""
        pos = self.positions(ctx)[np.asarray(rows, np.int64)]
        out = self._all_unit()[np.maximum(pos, 0)]
        out[pos < 0] = 0.0
        return out

    def unit_vectors(self, ids: Sequence[str]) -> np.ndarray:
        vecs, _ = self.item_vectors(ids)
        return normalize_rows(vecs)

    def add_item(self, item_id: str, vector: np.ndarray) -> None:
        """Make a new item findable at once (the version on disk stays as it was)."""
        v = np.asarray(vector, np.float32).reshape(1, self.dim)
        with self._lock:
            if item_id in self._pos:
                n0 = len(self.version)
                p = self._pos[item_id]
                if p >= n0:
                    self._extra_vecs[p - n0] = v[0]
                    self._unit = None
                    self._nn.clear()
                    self._table = None
                return  # a stored item keeps its fitted vector
            table = self._table
            self._pos[item_id] = len(self.version) + len(self._extra_ids)
            self._extra_ids.append(item_id)
            self._extra_vecs = np.vstack([self._extra_vecs, v])
            self._unit = None
            self._ids = None
            self._nn.clear()  # the new item may be anyone's neighbour
            self._table = None
            if table is not None and table.size == len(self) - 1:
                self._table = table.extended(self._all_unit())

    # --- search ---------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The ``k`` best items per query in the version's metric, live items included."""
        pos, scores = self.search_positions(queries, k)
        ids = self._all_ids()
        return [
            [(ids[p], s) for p, s in zip(pr.tolist(), sr.tolist(), strict=True) if p >= 0]
            for pr, sr in zip(pos, scores, strict=True)
        ]

    def search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` as arrays: rows of this space (see :meth:`ctx_rows`), ``-1``
        where there are fewer than ``k``, and scores, each ``(n_queries, k)``."""
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        kk = min(k, len(self.index))
        if kk:
            labels, scores = self.index.search_labels(q, kk)
            pos = np.where(labels >= 0, self._label_positions()[np.maximum(labels, 0)], -1)
            scores = np.where(pos >= 0, scores, -np.inf)
        else:
            pos, scores = np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0), np.float32)
        if self._extra_ids:
            n0 = len(self.version)
            extra = self._score(q, self._extra_vecs)
            pos = np.hstack([pos, np.broadcast_to(n0 + np.arange(len(self._extra_ids)),
                                                  (len(q), len(self._extra_ids)))])  # fmt: skip
            scores = np.hstack([scores, extra])
            # stable: among equal scores the index's hits come first, as in search()
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            pos = np.take_along_axis(pos, order, 1)
            scores = np.take_along_axis(scores, order, 1)
        if pos.shape[1] < k:
            pad = k - pos.shape[1]
            pos = np.pad(pos, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return pos, scores

    def _label_positions(self) -> np.ndarray:
        """For every label of the index, the item's row in this space (-1: unknown)."""
        hit = self.__dict__.get("_labels")
        if hit is None or hit[0] is not self.index or len(hit[1]) != len(self.index):
            mapped = np.array([self._pos.get(i, -1) for i in self.index.ids.tolist()], np.int64)
            hit = self._labels = (self.index, mapped)
        return hit[1]

    def build_neighbour_table(self, k: int = TABLE_K) -> bool:
        """Compute every item's exact neighbours at once (:mod:`roost.recommend.neighbours`)
        so requests read them instead of scoring; False when the version is too large.
        Run in the background by the engine; a live item arriving meanwhile makes the
        result stale, and it is dropped."""
        size = len(self)
        if not NeighbourTable.fits(size, self.dim):
            return False
        unit = self._all_unit()
        table = NeighbourTable.build(unit, k)
        with self._lock:
            if self._unit is not unit or table.size != len(self):
                return False
            self._table = table
        return True

    def _usable_table(self, k: int) -> NeighbourTable | None:
        t = self._table
        return t if t is not None and t.size == len(self) and k <= t.k else None

    def neighbour_rows(self, item_ids: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`neighbours` as arrays: ``(rows, sims)``, each ``(len(item_ids), k)``,
        rows of this space (see :meth:`ctx_rows`), ``-1``/NaN where there are fewer."""
        table = self._usable_table(k)
        pos = np.array([self._pos.get(i, -1) for i in item_ids], np.int64)
        if table is not None and (pos >= 0).all():
            return table.lookup(pos, k)
        rows = np.full((len(item_ids), k), -1, np.int64)
        sims = np.full((len(item_ids), k), np.nan, np.float32)
        for j, hits in enumerate(self.neighbours(item_ids, k)):
            for c, (i, s) in enumerate(hits[:k]):
                rows[j, c] = self._pos.get(i, -1)
                sims[j, c] = s
        return rows, sims

    def ctx_rows(self, ctx: Any) -> np.ndarray:
        """For every row of this space, the item's row in ``ctx`` (a RecContext), -1 where
        it has none; the inverse of :meth:`positions`, kept as long as it is."""
        key = (id(ctx), len(ctx.item_ids), len(self._pos))
        hit = self._ctx_rows
        if hit is not None and hit[:3] == key:
            return hit[3]
        pos = self.positions(ctx)
        out = np.full(len(self._pos), -1, np.int64)
        known = np.flatnonzero(pos >= 0)
        out[pos[known]] = known
        self._ctx_rows = (*key, out)
        return out

    def neighbours(self, item_ids: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Cosine neighbours of known items (themselves excluded), best first.

        Read from the neighbour table once :meth:`build_neighbour_table` has run. Else
        exact over unit vectors for small versions; through the index (over-fetched,
        then re-scored by cosine) beyond :data:`EXACT_NEIGHBOUR_FLOPS`. Lists are cached
        (the same few popular items are looked up by most requests) until a live item
        arrives, which may be anyone's new neighbour.
        """
        table = self._usable_table(k)
        if table is not None and all(i in self._pos for i in item_ids):
            ids = self._all_ids()
            top, sims = table.lookup(np.array([self._pos[i] for i in item_ids]), k)
            return [
                [(ids[t], s) for t, s in zip(tr.tolist(), sr.tolist(), strict=True) if t >= 0]
                for tr, sr in zip(top, sims, strict=True)
            ]
        out: list[list[tuple[str, float]] | None] = [self._nn.get((i, k)) for i in item_ids]
        todo = [i for i, hit in zip(item_ids, out, strict=True) if hit is None]
        if todo:
            found = dict(zip(todo, self._neighbours(todo, k), strict=True))
            with self._lock:
                if len(self._nn) + len(found) > NEIGHBOUR_CACHE:
                    self._nn.clear()
                for i, hits in found.items():
                    self._nn[(i, k)] = hits
            out = [
                hit if hit is not None else found[i] for i, hit in zip(item_ids, out, strict=True)
            ]
        return out

    def _neighbours(self, item_ids: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        vecs, known = self.item_vectors(item_ids)
        q = normalize_rows(vecs)
        if len(self) * self.dim <= EXACT_NEIGHBOUR_FLOPS:
            unit = self._all_unit()
            ids = self._all_ids()
            scores = q @ unit.T
            kk = min(k + 1, scores.shape[1])
            # one partition over every query's row, then each head sorted
            top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
            part = np.take_along_axis(scores, top, 1)
            order = np.argsort(-part, axis=1, kind="stable")
            top = np.take_along_axis(top, order, 1)
            part = np.take_along_axis(part, order, 1)
            out = []
            for j, item in enumerate(item_ids):
                if not known[j]:
                    out.append([])
                    continue
                out.append(
                    [(ids[t], s) for t, s in zip(top[j].tolist(), part[j].tolist(), strict=True)
                     if ids[t] != item][:k]
                )  # fmt: skip
            return out
        found = self.search(q, 3 * k + 1)
        out = []
        for j, item in enumerate(item_ids):
            cand = [i for i, _ in found[j] if i != item and i is not None]
            if not known[j] or not cand:
                out.append([])
                continue
            sims = self.unit_vectors(cand) @ q[j]
            order = np.argsort(-sims, kind="stable")[:k]
            out.append([(cand[t], float(sims[t])) for t in order])
        return out

    def _all_ids(self) -> list[str]:
        ids = self._ids
        if ids is None:
            ids = self._ids = self.version.ids.tolist() + self._extra_ids
        return ids

    def _all_unit(self) -> np.ndarray:
        with self._lock:
            if self._unit is None:
                base = normalize_rows(np.asarray(self.version.vectors, np.float32))
                self._unit = (
                    np.vstack([base, normalize_rows(self._extra_vecs)]) if self._extra_ids else base
                )
            return self._unit

    def _score(self, q: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            return normalize_rows(q) @ normalize_rows(x).T
        if self.metric == "l2":
            return -((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        return q @ x.T

    # --- text -----------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for free texts in this version's space (content versions only).

        The encoder is the one semantic search uses (:func:`roost.search.semantic.encoder_for`),
        built on first use; :meth:`share_encoder` hands over one already built.
        """
        if not self.is_content:
            raise RoostError(
                f"version {self.id} ({self.method}) cannot embed text; use a transformer version"
            )
        with self._lock:
            if self._encoder is None:
                from roost.search.semantic import encoder_for

                self._encoder = encoder_for(self.version.manifest, self.encoder_folder)
            enc = self._encoder
        return np.asarray(enc.encode(list(texts)), np.float32)

    def share_encoder(self, encoder: Any) -> None:
        self._encoder = encoder


def load_space(alias: str, version: Version, artifacts: Artifacts) -> tuple[VectorSpace, list[str]]:
    """Open ``version`` for serving with its saved index (the first that loads and is bound
    to it), else an exact index built in memory. Returns the space and the problems met."""
    problems: list[str] = []
    index = None
    folder = artifacts.indexes_of(version.id)
    if folder.is_dir():
        for path in sorted(p for p in folder.iterdir() if (p / "index.json").is_file()):
            try:
                index = Index.load(path, expect_version=version.id, expect_dim=version.dim)
                break
            except RoostError as e:
                problems.append(str(e))
    from roost.search.semantic import ENCODER_FOLDER

    return VectorSpace(alias, version, index, folder / ENCODER_FOLDER), problems
