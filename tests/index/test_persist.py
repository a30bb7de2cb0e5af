"""Saved indexes: round trips, and refusal of every damaged or foreign folder before the
backend library reads it, while an index already loaded keeps serving."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.index import (
    Index,
    IndexIntegrityError,
    IndexMismatchError,
    build_index,
    read_manifest,
)
from roost.types import EmbeddingSet

from .conftest import KINDS, clustered, make


def embedding_set(x, ids, fingerprint="fp"):
    return EmbeddingSet(ids=np.asarray(ids, dtype=object), vectors=x, method="test",
                        params={}, fingerprint=fingerprint)


@pytest.fixture(scope="module", params=KINDS)
def saved(request, small, tmp_path_factory):
    x, ids, cats = small
    kind = request.param
    index = build_index(embedding_set(x, ids), kind, version_id="v1",
                        metadata={"category": cats}, **{**_params(kind)})
    folder = index.save(tmp_path_factory.mktemp(kind) / "ix")
    return index, folder, x


def _params(kind):
    from .conftest import PARAMS

    return PARAMS[kind]


def test_round_trip_gives_the_same_answers(saved):
    index, folder, x = saved
    loaded = Index.load(folder, expect_version="v1", expect_dim=16, expect_metric="cosine")
    a, b = index.search(x[:20], k=7), loaded.search(x[:20], k=7)
    assert a.ids.tolist() == b.ids.tolist()
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    assert loaded.get_params() == index.get_params()
    assert loaded.ids.tolist() == index.ids.tolist()
    assert loaded.recall_at_10 == index.recall_at_10
    assert loaded.metadata_.table.equals(index.metadata_.table)


def test_manifest_describes_the_index(saved):
    index, folder, _ = saved
    m = read_manifest(folder)
    assert m["kind"] == index.kind and m["version"] == "v1"
    assert m["dim"] == 16 and m["count"] == 600 and m["metric"] == "cosine"
    assert 0.0 <= m["recall@10"] <= 1.0
    assert m["bytes"] == sum(f["bytes"] for f in m["files"].values())
    assert set(m["files"]) == {index.native_file, "ids.parquet"}
    assert m["build_seconds"] >= 0


def _copy(folder: Path, tmp: Path) -> Path:
    dst = tmp / "copy"
    shutil.copytree(folder, dst)
    return dst


def _refused(folder: Path, name: str) -> None:
    with pytest.raises(IndexIntegrityError) as err:
        Index.load(folder)
    assert name in str(err.value), "the error names the damaged file"


@pytest.mark.parametrize("damage", ["truncate", "empty", "zeros", "missing", "append"])
def test_damaged_files_are_refused(saved, tmp_path, damage):
    _, folder, _ = saved
    for f in sorted(folder.iterdir()):
        d = _copy(folder, tmp_path / f.name)
        target = d / f.name
        data = target.read_bytes()
        if damage == "truncate":
            target.write_bytes(data[: len(data) // 2])
        elif damage == "empty":
            target.write_bytes(b"")
        elif damage == "zeros":
            target.write_bytes(bytes(len(data)))
        elif damage == "missing":
            target.unlink()
        else:
            target.write_bytes(data + b"\0")
        _refused(d, f.name)


def test_every_flipped_manifest_byte_is_refused(saved, tmp_path):
    _, folder, _ = saved
    d = _copy(folder, tmp_path)
    target = d / "index.json"
    data = target.read_bytes()
    for pos in range(len(data)):
        for mask in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[pos] ^= mask
            target.write_bytes(bytes(flipped))
            _refused(d, "index.json")


def test_flipped_bytes_in_data_files_are_refused(saved, tmp_path):
    _, folder, _ = saved
    rng = np.random.default_rng(0)
    d = _copy(folder, tmp_path)
    for f in sorted(p.name for p in folder.iterdir() if p.name != "index.json"):
        target = d / f
        data = target.read_bytes()
        positions = {0, 1, len(data) // 2, len(data) - 1, *rng.integers(0, len(data), 20)}
        for pos in positions:
            flipped = bytearray(data)
            flipped[pos] ^= 1 << int(rng.integers(0, 8))
            target.write_bytes(bytes(flipped))
            _refused(d, f)
        target.write_bytes(data)
    Index.load(d)  # restored: loads again


def test_foreign_binding_is_refused(saved):
    _, folder, _ = saved
    for kwargs in ({"expect_version": "v2"}, {"expect_dim": 32}, {"expect_metric": "l2"},
                   {"expect_vectors_sha256": "0" * 64}):
        with pytest.raises(IndexMismatchError, match="index.json"):
            Index.load(folder, **kwargs)


def test_index_built_for_another_dimension_is_refused(tmp_path, small):
    x, ids, _ = small
    x32 = clustered(600, 32)
    for kind in KINDS:
        folder = build_index(embedding_set(x32, ids), kind, version_id="v1",
                             **_params(kind)).save(tmp_path / kind)
        with pytest.raises(IndexMismatchError, match="dim"):
            Index.load(folder, expect_version="v1", expect_dim=x.shape[1])


def test_swapped_native_file_is_refused(tmp_path, small):
    """A valid file of another index dropped into the folder still fails its checksum."""
    x, ids, _ = small
    a = make("exact").build(x, ids).save(tmp_path / "a")
    b = make("exact").build(x[::-1].copy(), ids).save(tmp_path / "b")
    shutil.copy(b / "vectors.npy", a / "vectors.npy")
    _refused(a, "vectors.npy")


def test_previous_version_keeps_serving(tmp_path, small):
    x, ids, _ = small
    live_folder = make("hnswlib").build(x, ids).save(tmp_path / "live")
    live = Index.load(live_folder)
    before = live.search(x[:5], k=5)
    candidate = make("hnswlib").build(x[::-1].copy(), ids).save(tmp_path / "candidate")
    blob = candidate / "hnswlib.bin"
    blob.write_bytes(blob.read_bytes()[:100])
    with pytest.raises(IndexIntegrityError):
        live = Index.load(candidate)  # a failed swap leaves the old object in place
    after = live.search(x[:5], k=5)
    assert after.ids.tolist() == before.ids.tolist()


def test_failed_save_leaves_the_old_folder(tmp_path, small):
    x, ids, _ = small
    folder = make("exact").build(x, ids).save(tmp_path / "ix")
    good = read_manifest(folder)

    class Exploding(type(make("exact"))):
        def _write(self, file):
            file.write_bytes(b"partial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        Exploding().build(x[:10], ids[:10]).save(folder)
    assert read_manifest(folder) == good
    assert len(Index.load(folder)) == 600
    assert [p.name for p in tmp_path.iterdir()] == ["ix"], "no temporary folder left behind"


def test_manifest_is_canonical_json(saved):
    _, folder, _ = saved
    raw = (folder / "index.json").read_text()
    doc = json.loads(raw)
    assert raw == json.dumps(doc, indent=1, sort_keys=True) + "\n"


ids_strategy = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=12),
    min_size=1, max_size=40, unique=True,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=ids_strategy, kind=st.sampled_from(["exact", "hnswlib", "faiss-hnsw"]),
       metric=st.sampled_from(["cosine", "dot", "l2"]), seed=st.integers(0, 2**16))
def test_save_load_round_trip_property(ids, kind, metric, seed):
    x = np.random.default_rng(seed).normal(size=(len(ids), 5)).astype(np.float32)
    cats = [str(i % 3) for i in range(len(ids))]
    index = make(kind, metric).build(x, ids, metadata={"c": cats, "n": list(range(len(ids)))})
    with tempfile.TemporaryDirectory() as tmp:
        loaded = Index.load(index.save(Path(tmp) / "ix"), expect_dim=5, expect_metric=metric)
        assert loaded.ids.tolist() == list(ids)
        assert loaded.labels_of(ids).tolist() == list(range(len(ids)))
        a, b = index.search(x, k=3), loaded.search(x, k=3)
        assert a.ids.tolist() == b.ids.tolist()
        np.testing.assert_array_equal(a.scores, b.scores)
        assert loaded.metadata_.table.to_pydict() == {"c": cats, "n": list(range(len(ids)))}
