"""The precomputed neighbour table gives the neighbours the per-request exact path gives,
and item-to-item recall reads it without changing its answers."""

from __future__ import annotations

import numpy as np
import pytest
from boards import served_board

from roost.index.topk import normalize_rows
from roost.recommend.context import RecContext
from roost.recommend.neighbours import NeighbourTable
from roost.recommend.serving import build_neighbour_tables
from roost.recommend.spaces import VectorSpace
from roost.recommend.vector_channels import ItemToItem
from roost.store.manifest import VectorSet, Version


def _space(n: int = 300, dim: int = 16, seed: int = 0) -> VectorSpace:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    meta = {"metric": "cosine", "method": "demo", "params": {}, "fingerprint": "f",
            "kind": "item", "normalized": False, "extra": {}}  # fmt: skip
    items = VectorSet(np.array([f"i{j}" for j in range(n)], dtype=object), x, meta, "v1")
    return VectorSpace(
        "demo", Version({"id": "v1", "method": "demo", "params": {}}, None, items, None)
    )


@pytest.mark.parametrize("k", [1, 5, 50])
def test_table_equals_brute_force(k):
    x = normalize_rows(np.random.default_rng(1).normal(size=(200, 8)).astype(np.float32))
    top, sims = NeighbourTable.build(x, k=k, block=64).lookup(np.arange(200), k)
    full = (x @ x.T).astype(np.float64)
    np.fill_diagonal(full, -np.inf)
    want = np.argsort(-full, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(top, want)
    np.testing.assert_allclose(sims, np.take_along_axis(full, want, 1), rtol=1e-5, atol=1e-6)


def test_table_pads_when_the_catalog_is_smaller_than_k():
    x = normalize_rows(np.eye(3, dtype=np.float32) + 0.1)
    top, sims = NeighbourTable.build(x, k=5).lookup(np.array([0]), 5)
    assert sorted(top[0, :2].tolist()) == [1, 2] and (top[0, 2:] == -1).all()
    assert np.isnan(sims[0, 2:]).all()


@pytest.mark.parametrize("k", [3, 50])
def test_space_neighbours_from_the_table_equal_the_exact_ones(k):
    space = _space()
    ids = ["i0", "i7", "i299", "i150"]
    exact = space.neighbours(ids, k)
    exact_rows = space.neighbour_rows(ids, k)
    assert space.build_neighbour_table()
    space._nn.clear()  # the per-item cache would answer otherwise
    table = space.neighbours(ids, k)
    assert [[i for i, _ in h] for h in table] == [[i for i, _ in h] for h in exact]
    for a, b in zip(table, exact, strict=True):
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-5)
    rows = space.neighbour_rows(ids, k)
    np.testing.assert_array_equal(rows[0], exact_rows[0])
    np.testing.assert_allclose(rows[1], exact_rows[1], rtol=1e-5)


def test_a_live_item_extends_the_table_exactly():
    space = _space(n=120, dim=6)
    assert space.build_neighbour_table()
    v, _ = space.item_vectors(["i3"])
    space.add_item("new", v[0] * 2)  # the same direction: i3's nearest neighbour now
    space.add_item("other", np.ones(6, np.float32))
    assert space._table is not None and space._table.size == 122
    asked = ["i3", "new", "other", "i50", "i119"]
    from_table = space.neighbours(asked, 10)
    assert from_table[0][0][0] == "new" and from_table[1][0][0] == "i3"
    rows, _ = space.neighbour_rows(["i3"], 1)
    assert rows[0, 0] == space._pos["new"]
    space._table = None  # the per-request exact path
    exact = space.neighbours(asked, 10)
    assert [[i for i, _ in h] for h in from_table] == [[i for i, _ in h] for h in exact]


def test_extended_table_equals_a_rebuilt_one():
    x = normalize_rows(np.random.default_rng(3).normal(size=(80, 5)).astype(np.float32))
    grown = NeighbourTable.build(x[:77], k=6).extended(x)
    fresh = NeighbourTable.build(x, k=6)
    for a, b in zip(grown.lookup(np.arange(80), 6), fresh.lookup(np.arange(80), 6), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_small_table_grows_to_k_columns():
    x = normalize_rows(np.random.default_rng(4).normal(size=(6, 3)).astype(np.float32))
    grown = NeighbourTable.build(x[:3], k=4).extended(x)
    assert grown.k == 4
    np.testing.assert_array_equal(
        grown.lookup(np.arange(6), 4)[0], NeighbourTable.build(x, k=4).lookup(np.arange(6), 4)[0]
    )


def test_too_large_a_version_keeps_the_per_request_path(monkeypatch):
    from roost.recommend import neighbours

    monkeypatch.setattr(neighbours, "TABLE_FLOPS", 10)
    space = _space(n=20, dim=4)
    assert not space.build_neighbour_table()
    assert space._table is None and len(space.neighbours(["i1"], 3)[0]) == 3


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    catalog, spaces = served_board(tmp_path_factory.mktemp("nt") / "home")
    return catalog, spaces["collab"]


@pytest.mark.parametrize("cutoff", [0.0, 0.3, 0.6])
def test_item_to_item_answers_the_same_with_the_table(board, cutoff):
    catalog, space = board
    ctx = RecContext.from_catalog(catalog)
    ch = ItemToItem(space, cutoff=cutoff, neighbours=20)
    space._table = None
    space._nn.clear()
    before = {u: ch.candidates(ctx, u, 10) for u in ctx.histories}
    build_neighbour_tables({"collab": space}, wait=True)
    assert space._table is not None
    space._nn.clear()
    after = {u: ch.candidates(ctx, u, 10) for u in ctx.histories}
    assert any(before.values())
    for u, want in before.items():
        got = after[u]
        assert [(r, w) for r, _, w in got] == [(r, w) for r, _, w in want], u
        np.testing.assert_allclose([s for _, s, _ in got], [s for _, s, _ in want], rtol=1e-5)


@pytest.mark.parametrize("dense", [True, False])
def test_tag_overlap_counts_shared_tags(monkeypatch, dense):
    import scipy.sparse as sp

    from roost.recommend import learned

    monkeypatch.setattr(learned, "DENSE_TAGS", 512 if dense else 0)
    tags = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1]], np.float32))
    got = learned._tag_overlap(tags, np.array([0, 2, 3]), [1, 3])
    np.testing.assert_array_equal(got, [[1, 1], [0, 0], [1, 2]])
