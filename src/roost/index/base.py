"""The Index contract that every backend implements, and the registry of backends.

Batch first: ``build(vectors, ids)``, ``search(queries, k, filter=None) -> Hits``,
``add`` where the backend allows, ``save(path)`` / ``Index.load(path, expect_...)``.
External string ids go in and come out; the backend's integer labels (row numbers) never
leave this module. Scores are always "higher is better": cosine and dot are inner
products (cosine on normalised vectors), L2 is the negated squared distance.

A backend implements ``_build``, ``_add``, ``_search`` (unfiltered, labels + scores),
``_vectors`` (stored vectors of some rows, for exact scoring of small filtered sets),
``_write`` and ``_read``; it may implement ``_search_masked`` to push a row mask down to
the library. Everything else (validation, id maps, filters, persistence) lives here.
"""

from __future__ import annotations

import importlib
import inspect
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from roost.index.filtered import exact_over, overfetch, search_filtered
from roost.index.filters import Filter, Metadata, filter_mask
from roost.index.persist import (
    IndexIntegrityError,
    IndexMismatchError,
    verify_folder,
    write_folder,
)
from roost.index.topk import normalize_rows
from roost.types import METRICS, Hits, NotFittedError, RoostError

REGISTRY: dict[str, str] = {
    "exact": "roost.index.exact:ExactIndex",
    # "hnsw" is whichever HNSW backend measured fastest at equal recall: faiss, 6,378 QPS
    # against hnswlib's 5,680 at recall@10 = 0.95 on GloVe 400k (docs/benchmarks.md).
    "hnsw": "roost.index.faiss_index:FaissHNSW",
    "hnswlib": "roost.index.hnswlib_index:HnswlibIndex",
    "faiss-hnsw": "roost.index.faiss_index:FaissHNSW",
    "ivfflat": "roost.index.faiss_ivf:IVFFlat",
    "ivfpq": "roost.index.faiss_ivf:IVFPQ",
}

IDS_FILE = "ids.parquet"


def get_index_class(kind: str) -> type[Index]:
    """The backend class registered under ``kind`` (imports its library only now)."""
    try:
        target = REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise RoostError(f"unknown index kind {kind!r}; known: {known}") from None
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise RoostError(
            f"index kind {kind!r} needs {e.name!r}: install roost[ann]"
        ) from e
    return getattr(mod, attr)


class Index(ABC):
    """Base class of vector indexes over external string ids.

    Subclasses set ``kind`` (the registry key written to manifests), ``supports_add``,
    ``native_file`` (the backend's file in a saved folder) and ``normalizes_cosine``
    (the library normalises vectors itself, so the wrapper must not do it twice) and
    ``search_params`` (hyperparameters that may change after build).
    """

    kind: ClassVar[str] = ""
    supports_add: ClassVar[bool] = True
    native_file: ClassVar[str] = "index.bin"
    normalizes_cosine: ClassVar[bool] = False
    search_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, metric: str = "cosine") -> None:
        self.metric = metric

    # --- hyperparameters ------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self"]

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change hyperparameters; once built, only search-time ones (``search_params``:
        ``ef_search``, ``nprobe`` ...), which apply at once."""
        for k in params:
            if k not in self._param_names():
                raise RoostError(f"{type(self).__name__} has no parameter {k!r}")
            if self._is_built() and k not in self.search_params:
                raise RoostError(f"{k!r} is fixed when the index is built: build a new one")
        for k, v in params.items():
            setattr(self, k, v)
        if self._is_built():
            self._apply_search_params()
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # --- the contract ---------------------------------------------------------------
    def build(self, vectors: Any, ids: Any, metadata: Mapping[str, Any] | None = None) -> Self:
        """Index ``vectors`` (``(n, dim)``) under the unique external ``ids``; returns ``self``.

        ``metadata`` maps column names to one value per id, for ``Filter(where=...)``.

        Examples
        --------
        >>> import numpy as np
        >>> from roost.index import get_index_class
        >>> idx = get_index_class("exact")(metric="dot").build(np.eye(3), ["a", "b", "c"])
        >>> idx.search(np.array([0.0, 1.0, 0.0]), k=1).ids.tolist()
        [['b']]
        """
        if self.metric not in METRICS:
            raise RoostError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        x, id_arr = _check_rows(vectors, ids, dim=None)
        if len(id_arr) == 0:
            raise RoostError("nothing to index: no vectors given")
        _check_unique(id_arr, ())
        meta = Metadata.from_columns(metadata, len(id_arr))
        self.dim_ = int(x.shape[1])
        self._build(self._prep(x))
        self._set_ids(id_arr)
        self.metadata_ = meta
        self.manifest_: dict[str, Any] = {}
        self._apply_search_params()
        return self

    def add(self, vectors: Any, ids: Any, metadata: Mapping[str, Any] | None = None) -> Self:
        """Append vectors under new ids (where ``supports_add``); returns ``self``."""
        self._check_built()
        if not self.supports_add:
            raise RoostError(f"index kind {self.kind!r} does not support add; rebuild it")
        x, id_arr = _check_rows(vectors, ids, dim=self.dim_)
        if len(id_arr) == 0:
            return self
        _check_unique(id_arr, self._ids[:-1])
        new_meta = Metadata.from_columns(metadata, len(id_arr))
        merged = self.metadata_.concat(new_meta)
        self._add(self._prep(x), len(self))
        self._set_ids(np.concatenate([self._ids[:-1], id_arr]))
        self.metadata_ = merged
        return self

    def search(self, queries: Any, k: int = 10, filter: Filter | None = None) -> Hits:
        """The ``k`` best ids of each query, best first, as :class:`~roost.types.Hits`.

        Rows with fewer than ``k`` results (a small index, a strict filter) are padded with
        ``None`` ids and ``-inf`` scores. A single 1-D query is a batch of one.
        """
        labels, scores = self.search_labels(queries, k, filter)
        # Label -1 (no result) takes the trailing None of the id table.
        return Hits(self._ids.take(labels), scores)

    def search_labels(
        self, queries: Any, k: int = 10, filter: Filter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` as positions in :attr:`ids` (``-1`` where padded) and scores,
        for callers that map positions through arrays of their own instead of by id."""
        self._check_built()
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.ndim != 2 or q.shape[1] != self.dim_:
            raise RoostError(f"queries must have shape (n, {self.dim_}), got {np.shape(queries)}")
        k = operator.index(k)
        if k < 1:
            raise RoostError(f"k must be at least 1, got {k}")
        # One squared norm per query both checks finiteness (NaN and inf propagate into
        # it) and normalises for cosine; the one-query path avoids array temporaries,
        # since it runs once per request.
        if len(q) == 1:
            sq = float(np.dot(q[0], q[0]))
            if not math.isfinite(sq):
                raise RoostError("queries contain NaN or infinite values")
            if self._norm_queries and sq > 0:
                q = q * np.float32(1.0 / math.sqrt(sq))
        else:
            if not np.isfinite(np.einsum("ij,ij->i", q, q)).all():
                raise RoostError("queries contain NaN or infinite values")
            if self._norm_queries:
                q = normalize_rows(q)
        if not q.flags.c_contiguous:
            q = np.ascontiguousarray(q)
        n = self._n
        kk = k if k <= n else n
        if filter is None:
            labels, scores = self._search(q, kk)
        else:
            labels, scores = self._search_filtered(q, kk, self._mask(filter))
        if kk < k:
            labels = np.pad(labels, ((0, 0), (0, k - kk)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, k - kk)), constant_values=-np.inf)
        return labels, scores

    def set_metadata(self, columns: Mapping[str, Any]) -> Self:
        """Replace the metadata columns (one value per id, in ``ids`` order)."""
        self._check_built()
        self.metadata_ = Metadata.from_columns(columns, len(self))
        return self

    # --- facts ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n if self._is_built() else 0

    @property
    def ids(self) -> np.ndarray:
        """The external ids, in insertion order (a copy)."""
        self._check_built()
        return self._ids[:-1].copy()

    @property
    def recall_at_10(self) -> float | None:
        """Recall@10 against exact search measured when built (see ``build_index``)."""
        return getattr(self, "manifest_", {}).get("recall@10")

    def labels_of(self, ids: Any) -> np.ndarray:
        """Internal rows of external ids (-1 for unknown); for filters and tests only."""
        if self._label_index is None:
            self._label_index = pd.Index(self._ids[:-1])
        return self._label_index.get_indexer(list(ids)).astype(np.int64)

    # --- persistence ----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the index to the folder ``path`` atomically; returns the path.

        The folder holds ``index.json`` (kind, params, metric, dim, count, the embedding
        version it is bound to, recall@10, build seconds, bytes and the sha256 of every
        file), the library's own file and ``ids.parquet`` (ids and metadata).
        """
        self._check_built()

        def write_files(tmp: Path) -> None:
            self._write(tmp / self.native_file)
            table = self.metadata_.table
            table = pa.table(
                {"id": pa.array(self._ids[:-1].tolist(), type=pa.string()),
                 **{c: table.column(c) for c in table.column_names}}
            )
            pq.write_table(table, tmp / IDS_FILE)

        manifest = dict(self.manifest_)
        manifest.update(
            kind=self.kind,
            params=_jsonable(self.get_params()),
            metric=self.metric,
            dim=self.dim_,
            count=len(self),
            library=self._library_versions(),
        )
        return write_folder(path, write_files, manifest)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        expect_version: str | None = None,
        expect_dim: int | None = None,
        expect_metric: str | None = None,
        expect_vectors_sha256: str | None = None,
    ) -> Index:
        """Read an index folder, after checking every checksum and the expected binding.

        Raises :class:`~roost.index.persist.IndexIntegrityError` for a damaged folder and
        :class:`~roost.index.persist.IndexMismatchError` for one bound to another embedding
        version, dimension or metric; the backend library never reads an unchecked file.

        Examples
        --------
        >>> import numpy as np, tempfile
        >>> idx = Index.get("exact")().build(np.eye(2), ["a", "b"])
        >>> folder = idx.save(tempfile.mkdtemp() + "/ix")
        >>> Index.load(folder, expect_dim=2).search(np.array([1.0, 0.0]), k=1).ids.tolist()
        [['a']]
        """
        path = Path(path)
        doc = verify_folder(
            path,
            expect_version=expect_version,
            expect_dim=expect_dim,
            expect_metric=expect_metric,
            expect_vectors_sha256=expect_vectors_sha256,
        )
        klass = get_index_class(doc.get("kind", ""))
        if cls is not Index and not issubclass(klass, cls):
            raise IndexMismatchError(f"{path}: holds a {doc['kind']!r} index, not {cls.kind!r}")
        try:
            obj = klass(**doc["params"])
            obj.dim_ = int(doc["dim"])
            table = pq.read_table(path / IDS_FILE)
            ids = np.asarray(table.column("id").to_pylist(), dtype=object)
            obj._read(path / klass.native_file, len(ids))
        except (KeyError, TypeError, ValueError, RuntimeError, OSError, pa.ArrowException) as e:
            raise IndexIntegrityError(f"{path}: index files are unreadable: {e}") from e
        if len(ids) != doc["count"] or obj._stored_count() != doc["count"]:
            raise IndexIntegrityError(
                f"{path / klass.native_file}: holds {obj._stored_count()} vectors and "
                f"{len(ids)} ids, manifest says {doc['count']}"
            )
        obj._set_ids(ids)
        obj.metadata_ = Metadata(table.drop(["id"]))
        keep = ("version", "vectors_sha256", "embedding_fingerprint", "recall@10",
                "recall_queries", "build_seconds", "bytes")
        obj.manifest_ = {k: doc[k] for k in keep if k in doc}
        obj._apply_search_params()
        return obj

    get = staticmethod(get_index_class)

    # --- what a backend implements --------------------------------------------------
    @abstractmethod
    def _build(self, x: np.ndarray) -> None:
        """Index float32 rows ``x`` (normalised already for cosine unless the library does)."""

    def _add(self, x: np.ndarray, start: int) -> None:
        raise RoostError(f"index kind {self.kind!r} does not support add")

    @abstractmethod
    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels (int64, -1 for none) and scores (float32, -inf for none), ``(nq, k)``."""

    @abstractmethod
    def _vectors(self, labels: np.ndarray) -> np.ndarray:
        """Stored vectors of ``labels`` (normalised for cosine), float32."""

    @abstractmethod
    def _write(self, file: Path) -> None: ...

    @abstractmethod
    def _read(self, file: Path, count: int) -> None: ...

    @abstractmethod
    def _stored_count(self) -> int: ...

    def _apply_search_params(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Push search-time hyperparameters to the library (after build, load, set_params)."""

    def _library_versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    _search_masked = None  # optional: (q, k, mask) -> (labels, scores), pushed down

    # --- internals ------------------------------------------------------------------
    @property
    def _norm_queries(self) -> bool:
        return self.metric == "cosine" and not self.normalizes_cosine

    def _prep(self, x: np.ndarray) -> np.ndarray:
        return normalize_rows(x) if self._norm_queries else x

    def _set_ids(self, ids: np.ndarray) -> None:
        # One trailing None so that label -1 ("no result") maps to None in a single take.
        table = np.empty(len(ids) + 1, dtype=object)
        table[:-1] = ids
        table[-1] = None
        self._ids = table
        self._n = len(ids)
        self._label_index = None

    def _is_built(self) -> bool:
        return hasattr(self, "_ids")

    def _check_built(self) -> None:
        if not self._is_built():
            raise NotFittedError(f"{type(self).__name__} is not built: call build(vectors, ids)")

    def _mask(self, flt: Filter) -> np.ndarray:
        if not isinstance(flt, Filter):
            raise RoostError(f"filter must be a roost.index.Filter, got {type(flt).__name__}")
        return filter_mask(flt, self._n, self.labels_of, self.metadata_)

    def _search_filtered(self, q: np.ndarray, k: int, mask: np.ndarray):
        return search_filtered(self, q, k, mask)

    def _overfetch(self, q: np.ndarray, k: int, mask: np.ndarray, n_allowed: int):
        return overfetch(self, q, k, mask, n_allowed)

    def _exact_over(self, q: np.ndarray, k: int, rows: np.ndarray):
        return exact_over(self, q, k, rows)


def _check_rows(vectors: Any, ids: Any, dim: int | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise RoostError(f"vectors must be numbers: {e}") from e
    if x.ndim == 1 and dim is not None and x.shape[0] == dim:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] == 0 or (dim is not None and x.shape[1] != dim):
        want = f"(n, {dim})" if dim is not None else "(n, dim)"
        raise RoostError(f"vectors must have shape {want}, got {np.shape(vectors)}")
    if not np.isfinite(x).all():
        raise RoostError("vectors contain NaN or infinite values")
    id_arr = np.asarray(ids, dtype=object).reshape(-1)
    id_arr = np.array([str(i) for i in id_arr], dtype=object)
    if len(id_arr) != len(x):
        raise RoostError(f"{len(id_arr)} ids for {len(x)} vectors")
    return np.ascontiguousarray(x), id_arr


def _check_unique(new: np.ndarray, existing: np.ndarray) -> None:
    seen = pd.Index(np.concatenate([existing, new]))
    if not seen.is_unique:
        dup = seen[seen.duplicated()][0]
        raise RoostError(f"duplicate id {dup!r}")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
