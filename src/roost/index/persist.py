"""Index folders on disk: a self-checking manifest, sha256 per file, atomic publication.

An index folder holds ``index.json`` (the manifest), the backend's native file and
``ids.parquet`` (external ids and metadata columns). The manifest is written in one
canonical form (sorted keys, fixed indentation) and carries the sha256 of its own content,
so that any changed byte in it is caught; every other file is listed with its size and
sha256. :func:`verify_folder` checks all of that, and the binding the caller expects,
before any backend library reads a byte of its file: native readers (faiss, hnswlib) do
not validate their input and can crash the process on a damaged file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roost.store.publish import staged_folder
from roost.types import RoostError

MANIFEST = "index.json"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


class IndexLoadError(RoostError):
    """An index folder cannot be served: damaged, or built for something else."""


class IndexIntegrityError(IndexLoadError):
    """A file of an index folder is missing, truncated or altered."""


class IndexMismatchError(IndexLoadError):
    """An intact index that is bound to another embedding version, dimension or metric."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"


def _content_sha(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "manifest_sha256"}
    return hashlib.sha256(_canonical(body).encode("ascii")).hexdigest()


def write_folder(path: str | Path, write_files: Callable[[Path], None], manifest: dict) -> Path:
    """Publish an index folder at ``path`` atomically.

    ``write_files(tmp)`` writes the data files into a temporary sibling folder; their sizes
    and sha256 are added to ``manifest["files"]``, the manifest is written, everything is
    fsynced, and the folder is renamed into place (replacing an older one). A reader sees
    the old folder or the new one, never a half-written one.
    """
    path = Path(path)
    with staged_folder(path) as tmp:
        write_files(tmp)
        files = {}
        for f in sorted(tmp.iterdir()):
            files[f.name] = {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
        doc = dict(manifest, files=files, format=FORMAT_VERSION)
        doc["bytes"] = sum(f["bytes"] for f in files.values())
        doc["manifest_sha256"] = _content_sha(doc)
        (tmp / MANIFEST).write_text(_canonical(doc), encoding="ascii")
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of an index folder, checked byte for byte against its own checksum."""
    mpath = Path(path) / MANIFEST
    try:
        raw = mpath.read_bytes()
    except OSError as e:
        raise IndexIntegrityError(f"{mpath}: cannot read index manifest: {e.strerror}") from e
    try:
        doc = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise IndexIntegrityError(f"{mpath}: index manifest is damaged ({e})") from e
    if not isinstance(doc, dict) or "manifest_sha256" not in doc:
        raise IndexIntegrityError(f"{mpath}: not an index manifest")
    try:
        canonical = _canonical(doc).encode("ascii")
    except ValueError as e:
        raise IndexIntegrityError(f"{mpath}: index manifest is damaged ({e})") from e
    if doc["manifest_sha256"] != _content_sha(doc) or canonical != raw:
        raise IndexIntegrityError(f"{mpath}: index manifest checksum mismatch (file altered)")
    if doc.get("format") != FORMAT_VERSION:
        raise IndexIntegrityError(f"{mpath}: unsupported index format {doc.get('format')!r}")
    return doc


def verify_folder(
    path: str | Path,
    *,
    expect_version: str | None = None,
    expect_dim: int | None = None,
    expect_metric: str | None = None,
    expect_vectors_sha256: str | None = None,
) -> dict[str, Any]:
    """Check an index folder completely; returns its manifest.

    Raises :class:`IndexMismatchError` when the index is bound to another embedding
    version, dimension, metric or vector checksum than expected, and
    :class:`IndexIntegrityError` when any listed file is missing, has another size or
    another sha256. Nothing here parses a backend file.
    """
    path = Path(path)
    doc = read_manifest(path)
    mpath = path / MANIFEST
    expected = {
        "version": expect_version,
        "dim": expect_dim,
        "metric": expect_metric,
        "vectors_sha256": expect_vectors_sha256,
    }
    for key, want in expected.items():
        if want is not None and doc.get(key) != want:
            raise IndexMismatchError(
                f"{mpath}: index is bound to {key}={doc.get(key)!r}, expected {want!r}"
            )
    files = doc.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexIntegrityError(f"{mpath}: manifest lists no files")
    for name, meta in files.items():
        fpath = path / name
        if Path(name).name != name or name == MANIFEST:
            raise IndexIntegrityError(f"{mpath}: bad file name {name!r} in manifest")
        try:
            size = fpath.stat().st_size
        except OSError as e:
            raise IndexIntegrityError(f"{fpath}: index file missing ({e.strerror})") from e
        if size != meta.get("bytes"):
            raise IndexIntegrityError(
                f"{fpath}: index file has {size} bytes, manifest says {meta.get('bytes')}"
            )
        if sha256_file(fpath) != meta.get("sha256"):
            raise IndexIntegrityError(f"{fpath}: index file checksum mismatch (file altered)")
    return doc
