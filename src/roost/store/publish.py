"""Getting an embedding set safely onto disk: validation, writing aside, atomic commit.

A version is written into ``versions/.tmp-<uuid>/`` (every file fsynced), then
:func:`commit_folder` writes the manifest last, renames the folder to its final name and
fsyncs the directory. Removal renames a folder out of sight (``.trash-<uuid>``) before
deleting it, so a folder is either whole under its name or gone. Publishers hold a shared
advisory lock on ``versions/.lock`` while their temporary folder exists; the sweep that
removes crash leftovers runs only when it can take that lock alone.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from roost.store.manifest import DTYPE, MANIFEST, ROLES, ValidationError, canonical_json
from roost.types import METRICS, EmbeddingSet

try:  # advisory locks between publishers and the sweep; POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows: temporary folders are then never swept
    fcntl = None

_CHUNK_ROWS = 16384  # bounds the temporaries of validation and writing (rows at a time)
_NORM_TOL = 1e-3


# --- validation ------------------------------------------------------------------------
def validate(es: EmbeddingSet, role: str) -> tuple[np.ndarray, list[str]]:
    """Check an embedding set before it is stored; returns (float32 C array, ids).

    Refuses non-finite values, shapes that disagree with the ids, duplicate or non-string
    ids, zero rows under cosine and a false ``normalized`` claim: ANN libraries accept
    NaN silently, so it must never get as far as them.
    """
    if not isinstance(es, EmbeddingSet):
        raise ValidationError(f"{role}: expected an EmbeddingSet, got {type(es).__name__}")
    for field in ("method", "kind"):
        if not isinstance(getattr(es, field), str) or not getattr(es, field):
            raise ValidationError(f"{role}: {field} must be a non-empty string")
    if not isinstance(es.fingerprint, str) or not es.fingerprint:
        raise ValidationError(f"{role}: fingerprint must name the data it was fit on")
    if es.metric not in METRICS:
        raise ValidationError(f"{role}: metric {es.metric!r} is not one of {', '.join(METRICS)}")
    for field in ("params", "extra"):
        try:
            canonical_json({"v": getattr(es, field)})
        except (TypeError, ValueError) as e:
            raise ValidationError(f"{role}: {field} must be plain JSON (no NaN): {e}") from e
    arr = np.asarray(es.vectors)
    if arr.dtype.kind not in "fiub":
        raise ValidationError(f"{role}: vectors of dtype {arr.dtype} cannot be cast to float32")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValidationError(f"{role}: vectors must be 2-D (rows, dim) and non-empty, got shape {arr.shape}")
    with np.errstate(over="ignore"):  # an overflow becomes inf, which is refused below
        x = np.ascontiguousarray(arr, dtype=DTYPE)
    ids = _validate_ids(es.ids, len(x), role)
    for start in range(0, len(x), _CHUNK_ROWS):
        _check_rows(x[start:start + _CHUNK_ROWS], start, ids, es, role)
    return x, ids


def _validate_ids(raw: Any, n: int, role: str) -> list[str]:
    arr = np.asarray(raw, dtype=object)
    if arr.ndim != 1:
        raise ValidationError(f"{role}: ids must be 1-D, got shape {arr.shape}")
    if len(arr) != n:
        raise ValidationError(f"{role}: {len(arr)} ids for {n} vector rows")
    ids = arr.tolist()
    for row, v in enumerate(ids):
        if not isinstance(v, str) or not v:
            raise ValidationError(f"{role}: id at row {row} is {v!r}; ids must be non-empty strings")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValidationError(f"{role}: id at row {row} is not valid UTF-8: {e}") from e
    ids = [str(v) for v in ids]  # numpy str_ to str
    index = pd.Index(ids)
    if not index.is_unique:
        dup = ids[int(np.flatnonzero(index.duplicated())[0])]
        rows = [i for i, v in enumerate(ids) if v == dup][:2]
        raise ValidationError(f"{role}: duplicate id {dup!r} at rows {rows[0]} and {rows[1]}")
    return ids


def _check_rows(x: np.ndarray, start: int, ids: list[str], es: EmbeddingSet, role: str) -> None:
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        r = int(np.flatnonzero(~finite)[0])
        what = "NaN" if np.isnan(x[r]).any() else "an infinite value"
        raise ValidationError(f"{role}: row {start + r} (id {ids[start + r]!r}) holds {what}")
    if es.metric != "cosine" and not es.normalized:
        return
    x64 = x.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x64, x64))
    if es.metric == "cosine" and (norms == 0).any():
        r = int(np.flatnonzero(norms == 0)[0])
        raise ValidationError(
            f"{role}: row {start + r} (id {ids[start + r]!r}) is a zero vector, "
            "which has no direction under the cosine metric"
        )
    off = np.abs(norms - 1.0) > _NORM_TOL
    if es.normalized and off.any():
        r = int(np.flatnonzero(off)[0])
        raise ValidationError(
            f"{role}: normalized=True but row {start + r} (id {ids[start + r]!r}) "
            f"has norm {norms[r]:.6g}"
        )


# --- writing ---------------------------------------------------------------------------
def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (POSIX needs the directory synced)."""
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write a new file and fsync it."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_set(folder: Path, role: str, es: EmbeddingSet, x: np.ndarray, ids: list[str]) -> tuple[dict, dict]:
    """Write one validated set into ``folder``; returns (its manifest entry, its file entries)."""
    vec_name, ids_name = ROLES[role]
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": DTYPE.str, "fortran_order": False, "shape": x.shape}
    )
    head = header.getvalue()
    file_sha, data_sha = hashlib.sha256(head), hashlib.sha256()
    with open(folder / vec_name, "xb") as f:
        f.write(head)
        for start in range(0, len(x), _CHUNK_ROWS):
            block = x[start:start + _CHUNK_ROWS]
            f.write(block)
            file_sha.update(block)
            data_sha.update(block)
        f.flush()
        os.fsync(f.fileno())
    buf = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": pa.array(ids, pa.string())}), buf)
    ids_bytes = buf.getvalue().to_pybytes()
    write_bytes(folder / ids_name, ids_bytes)
    files = {
        vec_name: {
            "bytes": len(head) + x.nbytes,
            "sha256": file_sha.hexdigest(),
            "header_bytes": len(head),
            "header_sha256": hashlib.sha256(head).hexdigest(),
        },
        ids_name: {"bytes": len(ids_bytes), "sha256": hashlib.sha256(ids_bytes).hexdigest()},
    }
    meta = {
        "method": es.method,
        "params": es.params,
        "fingerprint": es.fingerprint,
        "kind": es.kind,
        "metric": es.metric,
        "normalized": bool(es.normalized),
        "dim": int(x.shape[1]),
        "dtype": "float32",
        "count": int(x.shape[0]),
        "extra": es.extra,
        # sha256 of the raw float32 bytes: what roost.index binds an index to.
        "vectors_sha256": data_sha.hexdigest(),
    }
    return meta, files


def commit_folder(tmp: Path, final: Path, manifest_text: str) -> None:
    """Write the manifest last, then rename ``tmp`` to ``final`` durably."""
    write_bytes(tmp / MANIFEST, manifest_text.encode("ascii"))
    fsync_dir(tmp)
    if final.exists():  # a crash leftover without a catalog row (the caller holds the lock)
        trash(final, remove=True)
    os.rename(tmp, final)
    fsync_dir(final.parent)


def trash(path: Path, *, remove: bool = False) -> Path:
    """Rename ``path`` out of sight (atomic), then delete it if asked; returns the new path."""
    out = path.parent / f".trash-{uuid.uuid4().hex}"
    try:
        os.rename(path, out)
    except FileNotFoundError:
        return out
    if remove:
        shutil.rmtree(out, ignore_errors=True)
    return out


@contextmanager
def folder_lock(directory: Path, *, exclusive: bool, blocking: bool = True) -> Iterator[bool]:
    """Hold the advisory lock of ``directory``; yields whether it was obtained.

    flock dies with its process, so a SIGKILLed publisher never blocks the sweep.
    """
    if fcntl is None:
        yield not exclusive
        return
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
            got = True
        except BlockingIOError:
            got = False
        yield got
    finally:
        os.close(fd)


@contextmanager
def staged_folder(final: str | Path) -> Iterator[Path]:
    """Write a folder that replaces ``final`` atomically; yields the folder to write into.

    The files go into a temporary sibling; on a clean exit each is fsynced, then the folder
    is renamed into place (an older ``final`` is moved aside first, since rename() cannot
    replace a non-empty folder, and removed after). A reader sees the old folder or the new
    one, never a half-written one; on an error the temporary folder is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        fsync_dir(tmp)
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex}"
            os.rename(final, old)
        os.rename(tmp, final)
        fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def sweep_temporary(directory: Path) -> list[str]:
    """Remove trash, and temporary folders when no publisher is active; returns their names."""
    removed = []
    for p in directory.iterdir():
        if p.name.startswith(".trash-"):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    with folder_lock(directory, exclusive=True, blocking=False) as got:
        for p in directory.iterdir() if got else ():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
    return removed
