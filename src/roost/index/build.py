"""Building an index for an embedding version: the default kind, recall@10, the binding.

:func:`build_index` is what the store and the CLI call: it picks a kind by size and memory
budget (or takes the one asked for), builds it, measures recall@10 against exact search
on a seeded sample of the vectors themselves, and binds the index to its embedding
version (id, dimension, metric, sha256 of the vectors) so that loading it against any
other version is refused. :func:`index_version` also saves it and returns the manifest.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from roost.index.base import Index, get_index_class
from roost.index.persist import read_manifest
from roost.index.topk import exact_search, normalize_rows
from roost.types import EmbeddingSet, RoostError

# Below this many multiply-adds per query, exact search answers in a few milliseconds on
# one core (400k x 50 took ~5 ms in bench/ann.py): no approximate index is worth its
# build time and lost recall.
EXACT_MAX_FLOPS = 10_000_000
# Bytes a vector costs in an HNSW graph beyond its float32 values: 2*M level-0 links of
# 4 bytes, upper levels (~1/M of nodes), the label and list headers.
_HNSW_LINK_BYTES = 9  # per unit of M


def estimate_bytes(kind: str, n: int, dim: int, **params: Any) -> int:
    """Rough resident memory of an index of ``kind`` over ``n`` vectors of ``dim``.

    Examples
    --------
    >>> estimate_bytes("exact", 1000, 100)
    400000
    """
    if kind == "exact" or kind == "ivfflat":
        return n * dim * 4 + (n * 16 if kind == "ivfflat" else 0)
    if kind in ("hnsw", "hnswlib", "faiss-hnsw"):
        m = int(params.get("M", 32))
        return n * (dim * 4 + _HNSW_LINK_BYTES * m + 16)
    if kind == "ivfpq":
        from roost.index.faiss_ivf import default_m, default_nlist

        m = int(params.get("m") or default_m(dim))
        nlist = int(params.get("nlist") or default_nlist(n))
        # codes + list id + direct map, the coarse centroids and the PQ codebooks.
        return n * (m + 16) + nlist * dim * 4 + 256 * dim * 4
    raise RoostError(f"no memory estimate for index kind {kind!r}")


def choose_kind(n: int, dim: int, memory_budget_bytes: int | None = None) -> str:
    """The default index kind: ``exact`` when small, ``hnsw`` when the graph fits in the
    memory budget, else ``ivfpq``.

    ``memory_budget_bytes`` defaults to half of the machine's physical memory.

    Examples
    --------
    >>> choose_kind(10_000, 64)
    'exact'
    >>> choose_kind(400_000, 50, memory_budget_bytes=8 << 30)
    'hnsw'
    >>> choose_kind(10_000_000, 384, memory_budget_bytes=4 << 30)
    'ivfpq'
    """
    if memory_budget_bytes is None:
        memory_budget_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    if n * dim <= EXACT_MAX_FLOPS and estimate_bytes("exact", n, dim) <= memory_budget_bytes:
        return "exact"
    if estimate_bytes("hnsw", n, dim) <= memory_budget_bytes:
        return "hnsw"
    if estimate_bytes("ivfpq", n, dim) <= memory_budget_bytes:
        return "ivfpq"
    raise RoostError(
        f"{n} x {dim} vectors need about {estimate_bytes('ivfpq', n, dim) >> 20} MiB even as "
        f"IVF-PQ codes, over the budget of {memory_budget_bytes >> 20} MiB"
    )


def vectors_sha256(vectors: np.ndarray) -> str:
    """sha256 of the float32 bytes of ``vectors``: what an index is bound to."""
    return hashlib.sha256(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()


def recall_at_k(index: Index, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top-``k`` ids that ``index`` returns for ``queries``.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(50, 4)).astype("float32")
    >>> ix = get_index_class("exact")().build(x, [str(i) for i in range(50)])
    >>> recall_at_k(ix, x, x[:5])
    1.0
    """
    x = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(queries, dtype=np.float32)
    if index.metric == "cosine":
        x, q = normalize_rows(x), normalize_rows(q)
    k = min(k, len(x))
    truth, _ = exact_search(q, x, k, index.metric)
    ids = index.ids
    found = index.search(queries, k).ids
    hits = [len(set(ids[t]) & set(f)) for t, f in zip(truth, found, strict=True)]
    return float(np.sum(hits) / (k * len(q)))


def build_index(
    embedding_set: EmbeddingSet,
    kind: str | None = None,
    *,
    version_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    memory_budget_bytes: int | None = None,
    recall_queries: int = 200,
    seed: int = 0,
    **params: Any,
) -> Index:
    """Build an index over an embedding set, measure its recall@10 and bind it.

    Parameters
    ----------
    embedding_set : the vectors, ids and metric to index.
    kind : a registry name (``exact``, ``hnsw``, ``ivfpq`` ...); ``None`` picks one with
        :func:`choose_kind`.
    version_id : the store's id of the embedding version, recorded in the manifest.
    metadata : per-id columns for filters.
    memory_budget_bytes : budget for the default kind.
    recall_queries : how many of the vectors (a seeded sample) serve as recall queries.
    seed : seed of that sample.
    **params : the backend's hyperparameters (``M``, ``ef_search``, ``nlist`` ...).

    Examples
    --------
    >>> from roost.types import EmbeddingSet
    >>> x = np.random.default_rng(0).normal(size=(300, 8)).astype("float32")
    >>> es = EmbeddingSet(ids=np.array([f"i{j}" for j in range(300)], dtype=object),
    ...                   vectors=x, method="demo", params={}, fingerprint="f")
    >>> ix = build_index(es, "hnsw", version_id="v1", M=8)
    >>> ix.manifest_["version"], ix.recall_at_10 > 0.9
    ('v1', True)
    """
    n, dim = len(embedding_set), embedding_set.dim
    kind = kind or choose_kind(n, dim, memory_budget_bytes)
    index = get_index_class(kind)(metric=embedding_set.metric, **params)
    t0 = time.perf_counter()
    index.build(embedding_set.vectors, embedding_set.ids, metadata)
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(recall_queries, n), replace=False))
    if index.kind == "exact":
        recall = 1.0  # exact search is its own ground truth
    else:
        recall = recall_at_k(index, embedding_set.vectors, embedding_set.vectors[sample], 10)
    index.manifest_.update({
        "version": version_id,
        "vectors_sha256": vectors_sha256(embedding_set.vectors),
        "embedding_fingerprint": embedding_set.fingerprint,
        "recall@10": round(recall, 4),
        "recall_queries": int(len(sample)),
        "build_seconds": round(seconds, 3),
    })
    return index


def index_version(
    embedding_set: EmbeddingSet,
    version_id: str,
    path: str | Path,
    kind: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Build, save and describe the index of one embedding version (the CLI's entry point).

    Returns the saved manifest: ``kind``, ``params``, ``metric``, ``dim``, ``count``,
    ``version``, ``recall@10``, ``build_seconds``, ``bytes``, ``files`` ...

    Examples
    --------
    >>> import tempfile
    >>> from roost.types import EmbeddingSet
    >>> x = np.random.default_rng(0).normal(size=(100, 4)).astype("float32")
    >>> es = EmbeddingSet(ids=np.array([f"i{j}" for j in range(100)], dtype=object),
    ...                   vectors=x, method="demo", params={}, fingerprint="f")
    >>> m = index_version(es, "v1", tempfile.mkdtemp() + "/exact", kind="exact")
    >>> m["recall@10"], m["count"]
    (1.0, 100)
    """
    index = build_index(embedding_set, kind, version_id=version_id, **kwargs)
    folder = index.save(path)
    return read_manifest(folder)
