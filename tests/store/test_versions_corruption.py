"""Damaged version files are refused with an error naming the file; other versions keep serving."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.store.manifest import IntegrityError
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet

FILES = ("vectors.npy", "ids.parquet", "users.npy", "user_ids.parquet", "manifest.json")


def make_set(n, dim, seed, prefix="i", kind="item") -> EmbeddingSet:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    ids = np.array([f"{prefix}{j}" for j in range(n)], dtype=object)
    return EmbeddingSet(ids=ids, vectors=x, method="als", params={}, fingerprint=f"d{seed}", kind=kind)


def _setup(home):
    vs = VersionStore(home)
    old = vs.put(make_set(40, 8, 1), alias="production").id
    new = vs.put(make_set(60, 8, 2), users=make_set(30, 8, 3, "u", "user"), alias="candidate").id
    return vs, old, new


@pytest.fixture
def store(tmp_path):
    vs, old, new = _setup(tmp_path / "home")
    yield vs, old, new
    vs.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    vs, old, new = _setup(tmp_path_factory.mktemp("damage") / "home")
    yield vs, old, new
    vs.close()


def _truncate_half(p):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _drop_last(p):
    p.write_bytes(p.read_bytes()[:-1])


def _append(p):
    p.write_bytes(p.read_bytes() + b"\0")


def _empty(p):
    p.write_bytes(b"")


def _zeros(p):
    p.write_bytes(bytes(p.stat().st_size))


def _remove(p):
    p.unlink()


def _flip_at(fraction):
    def flip(p):
        data = bytearray(p.read_bytes())
        i = min(int(len(data) * fraction), len(data) - 1)
        data[i] ^= 0x01
        p.write_bytes(bytes(data))
    return flip


def _flip_byte(p, i):
    data = bytearray(p.read_bytes())
    data[i] ^= 0x20
    p.write_bytes(bytes(data))


DAMAGE = {
    "truncated": _truncate_half, "last byte dropped": _drop_last, "byte appended": _append,
    "empty": _empty, "zero-filled": _zeros, "removed": _remove,
    "flip first": _flip_at(0.0), "flip header": lambda p: _flip_byte(p, 40),
    "flip middle": _flip_at(0.5), "flip last": _flip_at(1.0),
}


def _in_vector_data(name, damage):
    # Bytes changed inside the float32 data region of a .npy file keep its size and
    # header: only the full hash (verify=True, `roost verify`) can see them.
    return name.endswith(".npy") and damage in ("flip middle", "flip last")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", FILES)
def test_damaged_file_is_refused_and_named(shared, name, damage):
    vs, old, new = shared
    path = vs.dir / new / name
    original = path.read_bytes()
    DAMAGE[damage](path)
    try:
        with pytest.raises(IntegrityError) as err:
            vs.get(new, verify=True)
        assert err.value.path == str(path) and str(path) in str(err.value)
        if _in_vector_data(name, damage):
            assert vs.get(new).id == new  # the cheap open does not hash the data
        else:
            with pytest.raises(IntegrityError, match=str(path)):
                vs.get(new)
        problems = vs.verify()
        assert problems and {p.path for p in problems} == {str(path)}
        assert {p.version for p in problems} == {new}
        # the other version keeps serving, in this process and in a freshly opened store
        assert vs.get("production", verify=True).vector("i3").shape == (8,)
        assert vs.verify(old) == []
        with VersionStore(vs.home) as again:
            assert again.get("production", verify=True).id == old
            assert len(again.list()) == 2
    finally:
        path.write_bytes(original)
    assert vs.verify() == []


def test_store_takes_new_versions_while_one_is_damaged(store):
    vs, old, new = store
    _zeros(vs.dir / new / "vectors.npy")
    with VersionStore(vs.home) as again:
        fresh = again.put(make_set(5, 8, 9), alias="candidate").id
        assert again.get("candidate", verify=True).id == fresh
        assert [p.version for p in again.verify()] == [new]
    assert vs.rollback("candidate").id == new
    with pytest.raises(IntegrityError):
        vs.get("candidate")


def test_unexpected_file_and_missing_folder_are_reported(store):
    vs, old, new = store
    (vs.dir / new / "stray.bin").write_bytes(b"x")
    [p] = vs.verify()
    assert p.path.endswith("stray.bin") and "unexpected" in p.message
    assert vs.get(new).id == new  # a stray file does not stop serving
    shutil.rmtree(vs.dir / old)
    paths = {p.path for p in vs.verify()}
    assert str(vs.dir / old) in paths
    with pytest.raises(IntegrityError, match="manifest.json: missing"):
        vs.get("production")


def test_error_is_not_a_library_traceback(store):
    vs, _, new = store
    _zeros(vs.dir / new / "vectors.npy")
    with pytest.raises(IntegrityError) as err:
        vs.get(new)
    assert err.value.__cause__ is None or isinstance(err.value.__cause__, OSError | ValueError)
    assert "vectors.npy" in str(err.value) and "header" in str(err.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FILES), where=st.floats(0, 1, exclude_max=True), mask=st.integers(1, 255))
def test_property_any_single_byte_change_is_refused(shared, name, where, mask):
    vs, old, new = shared
    path = vs.dir / new / name
    original = path.read_bytes()
    data = bytearray(original)
    data[int(where * len(data))] ^= mask
    path.write_bytes(bytes(data))
    try:
        with pytest.raises(IntegrityError, match=str(path)):
            vs.get(new, verify=True)
        assert [p.path for p in vs.verify(new)] == [str(path)]
        assert vs.get(old).id == old
    finally:
        path.write_bytes(original)
    assert vs.verify() == []
