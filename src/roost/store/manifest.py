"""The files of one embedding version and their checked reading.

A version folder holds the item set (``vectors.npy`` + ``ids.parquet``), optionally a
companion user set (``users.npy`` + ``user_ids.parquet``) and ``manifest.json``, which
lists every file with its size and sha256. Vectors are little-endian float32 ``.npy``
files read back as read-only memory maps; ids are one Parquet string column.

Reading checks what is cheap (sizes, the ``.npy`` header bytes against their recorded
sha256, the whole ids file) and leaves the full hash of the vectors to ``verify=True``:
hashing gigabytes on every open would make serving start slowly. Any damage surfaces as
:class:`IntegrityError` naming the file, never as a numpy or Arrow traceback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from roost.types import EmbeddingSet, RoostError, UnknownIdError

FORMAT = 1
MANIFEST = "manifest.json"
DTYPE = np.dtype("<f4")
# What each role of a version is stored as: (vectors file, ids file).
ROLES: dict[str, tuple[str, str]] = {
    "items": ("vectors.npy", "ids.parquet"),
    "users": ("users.npy", "user_ids.parquet"),
}


class VersionError(RoostError):
    """A version operation that cannot be done (unknown reference, aliased, invalid ...)."""


class UnknownVersionError(VersionError, LookupError):
    """A reference that names no version and no alias."""


class ValidationError(VersionError, ValueError):
    """An embedding set refused by ``put``: the message names the first offending row."""


class IntegrityError(VersionError):
    """A file of a stored version is missing, truncated or altered."""

    def __init__(self, path: Path | str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = str(path)


class Problem(NamedTuple):
    """One finding of ``verify``: the version, the file and what is wrong with it."""

    version: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _plain(value: Any) -> Any:
    # Method parameters often hold numpy scalars (np.float32(0.01)); store their value.
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def canonical_json(doc: dict[str, Any]) -> str:
    """The one text form of a manifest (sorted keys), so equal manifests are equal bytes."""
    return json.dumps(
        doc, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False, default=_plain
    ) + "\n"


# --- reading ---------------------------------------------------------------------------
def _entry(manifest: dict, name: str, path: Path) -> dict:
    entry = manifest.get("files", {}).get(name)
    if not isinstance(entry, dict):
        raise IntegrityError(path, "not listed in the manifest")
    return entry


def _check_size(path: Path, entry: dict) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IntegrityError(path, "missing") from None
    if size != entry["bytes"]:
        raise IntegrityError(
            path, f"is {size} bytes, the manifest says {entry['bytes']} (truncated or altered)"
        )


def _check_sha(path: Path, entry: dict, data: bytes | None = None) -> None:
    if data is None:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    else:
        digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise IntegrityError(path, "sha256 does not match the manifest (the file was altered)")


def open_vectors(path: Path, entry: dict, shape: tuple[int, int], *, full: bool) -> np.memmap:
    """The vectors of ``path`` as a read-only memory map, after checking size and header."""
    _check_size(path, entry)
    with open(path, "rb") as f:
        head = f.read(entry["header_bytes"])
    if hashlib.sha256(head).hexdigest() != entry["header_sha256"]:
        raise IntegrityError(path, "the .npy header does not match the manifest (damaged)")
    if full:
        _check_sha(path, entry)
    try:
        return np.memmap(path, dtype=DTYPE, mode="r", offset=len(head), shape=shape)
    except (OSError, ValueError) as e:
        raise IntegrityError(path, f"cannot be memory-mapped: {e}") from e


def read_ids(path: Path, entry: dict, count: int) -> np.ndarray:
    """The ids of ``path`` (always hashed: reading them costs more than hashing them)."""
    _check_size(path, entry)
    data = path.read_bytes()
    _check_sha(path, entry, data)
    try:
        table = pq.read_table(pa.BufferReader(data))
        ids = np.asarray(table.column("id").to_pylist(), dtype=object)
    except (pa.ArrowException, KeyError, OSError) as e:
        raise IntegrityError(path, f"not a readable ids file: {e}") from e
    if len(ids) != count:
        raise IntegrityError(path, f"holds {len(ids)} ids, the manifest says {count}")
    return ids


def check_folder(folder: Path, manifest: dict) -> Iterable[tuple[Path, str]]:
    """Every damaged, missing or unexpected file of a version folder, fully hashed."""
    listed = set(manifest.get("files", {})) | {MANIFEST}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.name not in listed:
                yield p, "not part of this version (unexpected file)"
    for name in sorted(manifest.get("files", {})):
        path = folder / name
        entry = manifest["files"][name]
        try:
            _check_size(path, entry)
            _check_sha(path, entry)
        except IntegrityError as e:
            yield path, str(e).removeprefix(f"{path}: ")


class VectorSet:
    """The read-only vectors of one role in a version, with lookups by external id.

    Parameters
    ----------
    ids : external ids, row order.
    vectors : read-only float32 memory map of shape ``(len(ids), dim)``.
    meta : the role's manifest entry (method, params, metric, ...).
    version : the id of the version it belongs to (named in errors).

    Examples
    --------
    >>> import numpy as np
    >>> s = VectorSet(np.array(["a", "b"], dtype=object), np.eye(2, dtype="float32"),
    ...               {"metric": "dot"}, "v0001-demo-000000")
    >>> s.lookup(["b"]).tolist()
    [[0.0, 1.0]]
    """

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, meta: dict, version: str):
        self.ids = ids
        self.vectors = vectors
        self.meta = meta
        self.version = version
        self._index: pd.Index | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def metric(self) -> str:
        return self.meta["metric"]

    def positions(self, ids: Sequence[str]) -> np.ndarray:
        """Row numbers of ``ids``; raises UnknownIdError naming the missing ones."""
        if isinstance(ids, str):
            raise TypeError("lookup takes a sequence of ids; use vector(id) for one")
        if self._index is None:
            self._index = pd.Index(self.ids)
        wanted = list(ids)
        rows = self._index.get_indexer(wanted) if wanted else np.zeros(0, np.int64)
        missing = [wanted[i] for i in np.flatnonzero(rows < 0)]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UnknownIdError(f"unknown id {missing[0]!r}{more} in version {self.version}")
        return rows.astype(np.int64)

    def lookup(self, ids: Sequence[str]) -> np.ndarray:
        """The vectors of ``ids`` as a new float32 array of shape ``(len(ids), dim)``."""
        return np.asarray(self.vectors[self.positions(ids)], dtype=np.float32)

    def vector(self, id: str) -> np.ndarray:
        """The vector of one id (1-D float32)."""
        return self.lookup([id])[0]

    def as_embedding_set(self) -> EmbeddingSet:
        """This set as an :class:`~roost.types.EmbeddingSet` (vectors stay memory-mapped)."""
        m = self.meta
        return EmbeddingSet(
            ids=self.ids, vectors=self.vectors, method=m["method"], params=m["params"],
            fingerprint=m["fingerprint"], metric=m["metric"], kind=m["kind"],
            normalized=m["normalized"], extra=m["extra"],
        )


def read_set(folder: Path, manifest: dict, role: str, *, full: bool) -> VectorSet:
    """Open one role of a version folder, checked (see the module docstring)."""
    meta = manifest if role == "items" else manifest[role]
    vec_name, ids_name = ROLES[role]
    shape = (int(meta["count"]), int(meta["dim"]))
    ids_path, vec_path = folder / ids_name, folder / vec_name
    ids = read_ids(ids_path, _entry(manifest, ids_name, ids_path), shape[0])
    vectors = open_vectors(vec_path, _entry(manifest, vec_name, vec_path), shape, full=full)
    return VectorSet(ids, vectors, meta, manifest["id"])


class Version:
    """An opened version: its manifest, the item set and the optional companion user set.

    The item set's ``ids``, ``vectors`` (a read-only memory map), ``lookup`` and
    ``vector`` are available on the version itself; ``users`` is a :class:`VectorSet`
    or ``None``.
    """

    def __init__(self, manifest: dict, path: Path, items: VectorSet, users: VectorSet | None):
        self.manifest = manifest
        self.path = path
        self.items = items
        self.users = users

    @property
    def id(self) -> str:
        return self.manifest["id"]

    @property
    def ids(self) -> np.ndarray:
        return self.items.ids

    @property
    def vectors(self) -> np.ndarray:
        return self.items.vectors

    @property
    def dim(self) -> int:
        return self.items.dim

    @property
    def metric(self) -> str:
        return self.items.metric

    def __len__(self) -> int:
        return len(self.items)

    def lookup(self, ids: Sequence[str]) -> np.ndarray:
        """Item vectors of ``ids`` (batch); UnknownIdError names a missing id."""
        return self.items.lookup(ids)

    def vector(self, id: str) -> np.ndarray:
        """The item vector of one id."""
        return self.items.vector(id)

    def as_embedding_set(self) -> EmbeddingSet:
        return self.items.as_embedding_set()

    def __repr__(self) -> str:
        return f"Version({self.id!r}, count={len(self)}, dim={self.dim}, metric={self.metric!r})"
