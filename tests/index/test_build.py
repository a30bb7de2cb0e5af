"""Default kind, recall@10 in the manifest, the binding, and the lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from roost.index import (
    Index,
    IndexMismatchError,
    build_index,
    choose_kind,
    estimate_bytes,
    index_version,
    recall_at_k,
    vectors_sha256,
)
from roost.types import EmbeddingSet, RoostError

from .conftest import clustered, make


@pytest.fixture(scope="module")
def es():
    x = clustered(2000, 16, seed=5)
    return EmbeddingSet(ids=np.array([f"w{i}" for i in range(2000)], dtype=object), vectors=x,
                        method="test", params={}, fingerprint="data-fp", metric="cosine")


def test_choose_kind_by_size_and_memory():
    assert choose_kind(5_000, 384, 1 << 30) == "exact"
    assert choose_kind(400_000, 50, 8 << 30) == "hnsw"
    # 10M x 384 float32 is 15 GB: no graph fits in 4 GiB, PQ codes do.
    assert choose_kind(10_000_000, 384, 4 << 30) == "ivfpq"
    # Exact would be small enough to search, but not to hold.
    assert choose_kind(20_000, 100, 4 << 20) == "ivfpq"
    with pytest.raises(RoostError, match="over the budget"):
        choose_kind(10_000_000, 384, 64 << 20)
    assert choose_kind(1000, 8) == "exact"  # default budget: half the machine


def test_estimate_bytes_orders_kinds():
    n, d = 1_000_000, 128
    assert estimate_bytes("ivfpq", n, d) < estimate_bytes("exact", n, d) < estimate_bytes(
        "hnsw", n, d)
    assert estimate_bytes("exact", n, d) == n * d * 4
    with pytest.raises(RoostError):
        estimate_bytes("annoy", n, d)


@pytest.mark.parametrize("kind", ["exact", "hnsw", "faiss-hnsw", "ivfflat", "ivfpq"])
def test_build_index_records_recall_and_binding(es, kind):
    params = {"ivfpq": {"nlist": 16, "m": 8}, "ivfflat": {"nlist": 16},
              "hnsw": {"M": 8}, "faiss-hnsw": {"M": 8}}.get(kind, {})
    index = build_index(es, kind, version_id="v7", recall_queries=100, **params)
    m = index.manifest_
    assert m["version"] == "v7" and m["embedding_fingerprint"] == "data-fp"
    assert m["vectors_sha256"] == vectors_sha256(es.vectors)
    assert m["recall_queries"] == 100
    assert 0.0 < m["recall@10"] <= 1.0
    # The recorded figure is the one recall_at_k gives on the same seeded sample.
    sample = np.sort(np.random.default_rng(0).choice(len(es), 100, replace=False))
    assert m["recall@10"] == round(recall_at_k(index, es.vectors, es.vectors[sample]), 4)
    if kind == "exact":
        assert m["recall@10"] == 1.0


def test_low_recall_is_reported_not_hidden(es):
    """An index tuned badly records the bad figure."""
    good = build_index(es, "ivfflat", nlist=32, nprobe=32).recall_at_10
    bad = build_index(es, "ivfflat", nlist=32, nprobe=1).recall_at_10
    assert good > 0.99 and bad < good


def test_default_kind_is_chosen(es):
    assert build_index(es).kind == "exact"
    assert build_index(es, memory_budget_bytes=100_000).kind == "ivfpq"


def test_index_version_saves_and_returns_the_manifest(es, tmp_path):
    m = index_version(es, "v9", tmp_path / "v9" / "hnsw", kind="hnsw", M=8, ef_search=32)
    assert m["recall@10"] > 0.8 and m["kind"] == "faiss-hnsw" and m["version"] == "v9"
    assert m["params"]["ef_search"] == 32 and m["count"] == 2000 and m["dim"] == 16
    loaded = Index.load(tmp_path / "v9" / "hnsw", expect_version="v9", expect_dim=16,
                        expect_vectors_sha256=vectors_sha256(es.vectors))
    assert loaded.recall_at_10 == m["recall@10"]
    other = es.vectors.copy()
    other[0, 0] += 1
    with pytest.raises(IndexMismatchError, match="vectors_sha256"):
        Index.load(tmp_path / "v9" / "hnsw", expect_vectors_sha256=vectors_sha256(other))


def test_recall_at_k_counts_misses():
    x = np.eye(4, dtype=np.float32)
    ix = make("exact", "dot").build(x, list("abcd"))
    assert recall_at_k(ix, x, x, k=1) == 1.0
    # Ground truth from other vectors than the index holds: every answer is a miss.
    assert recall_at_k(ix, x[[1, 2, 3, 0]], x, k=1) == 0.0
    assert recall_at_k(ix, x[[1, 0, 2, 3]], x, k=1) == 0.5


def test_importing_the_package_loads_no_backend_library():
    code = ("import sys, roost.index; "
            "print([m for m in ('faiss', 'hnswlib', 'fastapi') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_missing_library_names_the_extra():
    code = ("import sys; sys.modules['faiss'] = None\n"  # import faiss now raises ImportError
            "from roost.index import get_index_class\n"
            "from roost.types import RoostError\n"
            "try:\n    get_index_class('ivfpq')\nexcept RoostError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "index kind 'ivfpq' needs 'faiss': install roost[ann]"
