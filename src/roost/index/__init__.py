"""Vector indexes behind one contract (:class:`~roost.index.base.Index`).

``REGISTRY`` maps each index kind to ``"module:Class"``; :func:`get_index_class` imports the
backend's library (faiss, hnswlib) only when that kind is used. :func:`build_index` builds
an index for an embedding version and records its recall@10; :func:`load_index` reads a
saved one after verifying its checksums and binding.
"""

from __future__ import annotations

from roost.index.base import REGISTRY, Index, get_index_class
from roost.index.build import (
    build_index,
    choose_kind,
    estimate_bytes,
    index_version,
    recall_at_k,
    vectors_sha256,
)
from roost.index.filters import Filter
from roost.index.persist import (
    IndexIntegrityError,
    IndexLoadError,
    IndexMismatchError,
    read_manifest,
)

load_index = Index.load

__all__ = [
    "REGISTRY",
    "Filter",
    "Index",
    "IndexIntegrityError",
    "IndexLoadError",
    "IndexMismatchError",
    "build_index",
    "choose_kind",
    "estimate_bytes",
    "get_index_class",
    "index_version",
    "load_index",
    "read_manifest",
    "recall_at_k",
    "vectors_sha256",
]
