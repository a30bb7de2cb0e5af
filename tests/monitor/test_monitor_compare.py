"""Comparing versions: neighbour overlap, rank correlation, Procrustes, with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitor_helpers import clustered, make_set, random_rotation

from roost.monitor import compare_versions, neighbour_table
from roost.monitor.neighbours import knn
from roost.types import RoostError, UnknownIdError


@pytest.fixture(scope="module")
def base():
    return make_set(clustered(500, 16, seed=0), method="als")


def test_rotated_copy_has_overlap_one_and_no_residual(base):
    rotated = make_set(base.vectors @ random_rotation(16, seed=1), method="als")
    r = compare_versions(base, rotated, k=10)
    assert r.overlap["mean"] == 1.0
    assert r.overlap["shared_neighbours_counts"][-1] == 500
    assert r.procrustes["disparity"] < 1e-6
    assert r.procrustes["residual_p90"] < 1e-3
    assert r.rank_correlation["random_pairs"]["spearman"] > 0.9999
    assert r.names == ("a", "b")


def test_rotated_copy_in_a_larger_space_still_aligns(base):
    """Different dimensions: zero-padding lets Procrustes map 16-d into 24-d isometrically."""
    padded = np.hstack([base.vectors, np.zeros((500, 8), np.float32)])
    bigger = make_set(padded @ random_rotation(24, seed=2), method="item2vec")
    r = compare_versions(base, bigger, k=10)
    assert r.overlap["mean"] == 1.0
    assert r.procrustes["disparity"] < 1e-6
    assert r.procrustes["dims"] == [16, 24]
    assert r.names == ("als", "item2vec")


def test_shuffled_ids_give_overlap_near_chance(base):
    rng = np.random.default_rng(3)
    shuffled = make_set(base.vectors, ids=rng.permutation(base.ids))
    r = compare_versions(base, shuffled, k=10)
    chance = r.overlap["chance_mean"]
    assert chance == pytest.approx(0.0101, abs=0.001)  # about k / (2 (n - 1))
    # Clusters make unrelated neighbour lists share a little more than pure chance.
    assert r.overlap["mean"] < 4 * chance
    assert r.procrustes["disparity"] > 0.9
    assert abs(r.rank_correlation["random_pairs"]["spearman"]) < 0.05
    for side in ("a", "b"):
        assert abs(r.rank_correlation[f"neighbours_of_{side}"]["spearman"]) < 0.1


def test_most_changed_items_are_the_ones_that_moved(base):
    moved_rows = [3, 50, 77, 200, 401]
    vectors = base.vectors.copy()
    rng = np.random.default_rng(4)
    vectors[moved_rows] = rng.normal(size=(5, 16)) * 6  # new places, far from their clusters
    r = compare_versions(base, make_set(vectors), k=10, n_changed=5)
    top = {c["id"] for c in r.most_changed}
    assert top == {f"i{j}" for j in moved_rows}
    first = r.most_changed[0]
    assert first["jaccard"] < 0.2
    assert set(first["lost"]) <= set(first["neighbours_a"])
    assert set(first["gained"]) <= set(first["neighbours_b"])
    assert not set(first["lost"]) & set(first["neighbours_b"])


def test_only_shared_ids_are_compared_and_report_is_json(base):
    other = make_set(base.vectors[100:], ids=base.ids[100:])
    extra = make_set(np.vstack([other.vectors, np.ones((7, 16), np.float32)]),
                     ids=[*other.ids, *[f"new{j}" for j in range(7)]])  # fmt: skip
    r = compare_versions(base, extra, k=5, n_pairs=1000)
    assert r.counts == {"a": 500, "b": 407, "shared": 400, "only_a": 100, "only_b": 7,
                        "queried": 400}  # fmt: skip
    assert r.overlap["mean"] == 1.0  # same vectors on the shared ids
    d = json.loads(json.dumps(r.to_dict(per_item=True)))
    assert len(d["per_item"]["ids"]) == len(d["per_item"]["jaccard"]) == 400
    assert "per_item" not in r.to_dict()


def test_query_sampling_is_seeded(base):
    other = make_set(base.vectors + 0.5 * np.random.default_rng(5).normal(size=(500, 16)))
    a = compare_versions(base, other, k=5, max_queries=100, seed=1)
    b = compare_versions(base, other, k=5, max_queries=100, seed=1)
    assert a.counts["queried"] == 100
    assert list(a.ids) == list(b.ids)
    assert a.overlap == b.overlap


def test_too_few_shared_ids():
    a = make_set(np.eye(5), ids=list("abcde"))
    b = make_set(np.eye(5), ids=list("vwxyz"))
    with pytest.raises(RoostError, match="share 0 ids"):
        compare_versions(a, b)


def test_constant_similarities_do_not_crash():
    onehot = make_set(np.eye(40))
    r = compare_versions(onehot, onehot, k=3, n_pairs=500)
    assert r.rank_correlation["random_pairs"]["spearman"] is None


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(5, 60),
    dim=st.integers(1, 6),
    k=st.integers(1, 4),
    metric=st.sampled_from(["cosine", "dot", "l2"]),
    seed=st.integers(0, 10_000),
)
def test_knn_matches_a_brute_force_reference(n, dim, k, metric, seed):
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    rows, scores = knn(x, k, metric)
    xx = x.astype(np.float64)
    if metric == "cosine":
        xx /= np.linalg.norm(xx, axis=1, keepdims=True)
    sims = -((xx[:, None] - xx[None]) ** 2).sum(-1) if metric == "l2" else xx @ xx.T
    np.fill_diagonal(sims, -np.inf)
    expect = -np.sort(-sims, axis=1)[:, :k]
    assert not (rows == np.arange(n)[:, None]).any()  # never the query itself
    np.testing.assert_allclose(scores, expect, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(sims, rows, 1), expect, rtol=1e-4, atol=1e-4)


def test_knn_rejects_bad_k_and_metric():
    x = np.eye(4, dtype=np.float32)
    with pytest.raises(RoostError, match="k=4"):
        knn(x, 4)
    with pytest.raises(RoostError, match="unknown metric"):
        knn(x, 1, "hamming")


def test_neighbour_table_side_by_side(base):
    rotated = make_set(base.vectors @ random_rotation(16, seed=6), method="als")
    moved = base.vectors.copy()
    moved[0] = -moved[0]
    t = neighbour_table({"v1": base, "v2": make_set(moved)}, ["i0", "i1", "nope"], k=4,
                        titles={"i0": "Zero | one"})  # fmt: skip
    rows = {r["id"]: r for r in t.rows}
    assert rows["nope"]["versions"] == {"v1": None, "v2": None}
    assert all(h["shared"] for h in rows["i1"]["versions"]["v1"])  # i1 did not move
    assert not any(h["shared"] for h in rows["i0"]["versions"]["v1"])  # i0 did
    md = t.to_markdown()
    assert "Zero \\| one" in md and "| # | v1 | v2 |" in md
    json.dumps(t.to_dict())
    # One version: nothing is marked shared; sequence input names columns by method.
    single = neighbour_table([base, rotated], ["i2"], k=3)
    assert single.names == ("als#1", "als#2")
    with pytest.raises(UnknownIdError):
        neighbour_table([base], ["nope"])


def test_metric_override_compares_on_equal_terms(base):
    """A dot space whose row lengths changed is the same cosine space: say so when asked."""
    lengths = np.random.default_rng(7).uniform(0.2, 5.0, (500, 1)).astype(np.float32)
    cos = make_set(base.vectors, metric="cosine")
    dot = make_set(base.vectors * lengths, metric="dot")
    same = compare_versions(cos, dot, k=10, metric="cosine")
    assert same.overlap["mean"] == 1.0 and same.metrics == ("cosine", "cosine")
    own = compare_versions(cos, dot, k=10)
    assert own.overlap["mean"] < 0.9 and own.metrics == ("cosine", "dot")
