"""Filtered search: every hit passes the filter, and k hits come back whenever k pass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.index import Filter
from roost.index.filtered import EXACT_FILTER_MAX
from roost.index.hnswlib_index import HnswlibIndex
from roost.types import RoostError

from .conftest import KINDS, LOSSLESS, clustered, make

N_BIG = 9000  # large enough that a filter keeping most rows goes through the library


@pytest.fixture(scope="module")
def big():
    x = clustered(N_BIG, 8, seed=3)
    ids = np.array([f"b{i}" for i in range(N_BIG)], dtype=object)
    cats = np.array(["news", "sport", "music"], dtype=object)[np.arange(N_BIG) % 3]
    return x, ids, cats


@pytest.fixture(scope="module", params=KINDS)
def big_index(request, big):
    x, ids, cats = big
    # m=4 on 8 dimensions: 2-d sub-vectors train far faster than 1-d ones, same coverage.
    extra = {"m": 4} if request.param == "ivfpq" else {}
    index = make(request.param, "l2", **extra)
    return index.build(x, ids, metadata={"category": cats, "rank": np.arange(N_BIG) % 10})


def exact_filtered(x, ids, q, k, keep):
    d = ((q[:, None, :] - x[None, keep, :]) ** 2).sum(-1)
    return ids[keep][np.argsort(d, axis=1)[:, :k]]


FILTERS = {
    "where-two-of-three": (Filter(where={"category": ["news", "music"]}),
                           lambda ids, cats, rank: np.isin(cats, ["news", "music"])),
    "deny-some": (Filter(deny=[f"b{i}" for i in range(0, N_BIG, 7)]),
                  lambda ids, cats, rank: np.arange(N_BIG) % 7 != 0),
    "allow-few": (Filter(allow=[f"b{i}" for i in range(0, N_BIG, 50)] + ["nope"]),
                  lambda ids, cats, rank: np.arange(N_BIG) % 50 == 0),
    "scalar-and-deny": (Filter(deny=["b3"], where={"category": "sport", "rank": [1, 2]}),
                        lambda ids, cats, rank: (cats == "sport") & np.isin(rank, [1, 2])
                        & (ids != "b3")),
    "just-under-half": (Filter(deny=["b0"], where={"rank": [0, 1, 2, 3, 4]}),
                        lambda ids, cats, rank: (rank < 5) & (ids != "b0")),
    "nothing": (Filter(where={"category": ["jazz"]}),
                lambda ids, cats, rank: np.zeros(N_BIG, bool)),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filtered_hits_pass_and_fill_k(big_index, big, name):
    x, ids, cats = big
    flt, rule = FILTERS[name]
    keep = rule(ids, cats, np.arange(N_BIG) % 10)
    q = x[::450] + 0.1
    k = 10
    hits = big_index.search(q, k=k, filter=flt)
    allowed = set(ids[keep])
    want = min(k, int(keep.sum()))
    for row, scores in zip(hits.ids, hits.scores, strict=True):
        got = [i for i in row if i is not None]
        assert len(got) == want and set(got) <= allowed
        assert np.isneginf(scores[want:]).all() and np.isfinite(scores[:want]).all()
    if want and big_index.kind in LOSSLESS:
        truth = exact_filtered(x, ids, q, k, keep)
        recall = np.mean([len(set(t) & set(h)) / want for t, h in zip(truth, hits.ids, strict=True)])
        assert recall >= 0.9


def test_paths_are_exercised(big):
    """The filters above reach both the exact small-set path and the library path."""
    x, ids, cats = big
    sizes = [int(rule(ids, cats, np.arange(N_BIG) % 10).sum()) for _, rule in FILTERS.values()]
    assert any(s > EXACT_FILTER_MAX for s in sizes)
    assert any(0 < s <= EXACT_FILTER_MAX for s in sizes)


@pytest.mark.parametrize("name", ["where-two-of-three", "deny-some"])
def test_overfetch_without_pushdown(big, name):
    x, ids, cats = big
    flt, rule = FILTERS[name]
    keep = rule(ids, cats, np.arange(N_BIG) % 10)
    assert HnswlibIndex._search_masked is None  # hnswlib over-fetches
    index = HnswlibIndex(metric="l2", M=8, ef_search=64, num_threads=1).build(
        x, ids, metadata={"category": cats})
    q = x[::300] + 0.1
    hits = index.search(q, k=10, filter=flt)
    truth = exact_filtered(x, ids, q, 10, keep)
    assert all(set(r) <= set(ids[keep]) for r in hits.ids)
    recall = np.mean([len(set(t) & set(h)) / 10 for t, h in zip(truth, hits.ids, strict=True)])
    assert recall >= 0.9


def test_unknown_column_and_bad_filter(big_index, big):
    x, _, _ = big
    with pytest.raises(RoostError, match="unknown metadata column 'colour'; columns: category"):
        big_index.search(x[:1], k=3, filter=Filter(where={"colour": ["red"]}))
    with pytest.raises(RoostError, match="filter must be"):
        big_index.search(x[:1], k=3, filter={"category": "news"})


def test_metadata_validation(small):
    x, ids, _ = small
    with pytest.raises(RoostError, match="has 3 values for 600 ids"):
        make("exact").build(x, ids, metadata={"c": ["a", "b", "c"]})
    with pytest.raises(RoostError, match="reserved"):
        make("exact").build(x, ids, metadata={"id": list(ids)})
    index = make("exact").build(x, ids)
    index.set_metadata({"c": ["a"] * 600})
    assert index.search(x[:1], k=600, filter=Filter(where={"c": "b"})).row(0) == []


def test_added_rows_without_metadata_never_match(small):
    x, ids, cats = small
    index = make("exact").build(x[:500], ids[:500], metadata={"category": cats[:500]})
    index.add(x[500:], ids[500:])  # no metadata: null category
    hits = index.search(x[550:551], k=600, filter=Filter(where={"category": list(set(cats))}))
    got = {i for i in hits.ids[0] if i is not None}
    assert got == set(ids[:500])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    k=st.integers(1, 12),
    allow=st.one_of(st.none(), st.sets(st.integers(0, 70), max_size=30)),
    deny=st.sets(st.integers(0, 70), max_size=30),
    cats=st.sets(st.sampled_from("abcd"), max_size=4),
    seed=st.integers(0, 1000),
)
def test_filter_matches_brute_force(n, k, allow, deny, cats, seed):
    """Exact backend, any filter: the hits are exactly the best k rows that pass."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    ids = np.array([f"i{j}" for j in range(n)], dtype=object)
    col = np.array(list("abcd"), dtype=object)[rng.integers(0, 4, n)]
    index = make("exact", "dot").build(x, ids, metadata={"col": col})
    flt = Filter(allow=None if allow is None else [f"i{j}" for j in allow],
                 deny=[f"i{j}" for j in deny], where={"col": sorted(cats)})
    keep = np.isin(col, sorted(cats)) & ~np.isin(ids, [f"i{j}" for j in deny])
    if allow is not None:
        keep &= np.isin(ids, [f"i{j}" for j in allow])
    q = rng.normal(size=(2, 4)).astype(np.float32)
    hits = index.search(q, k=k, filter=flt)
    scores = q @ x.T
    for r in range(2):
        rows = np.flatnonzero(keep)
        best = rows[np.argsort(-scores[r, rows], kind="stable")][:k]
        got = [i for i in hits.ids[r] if i is not None]
        assert len(got) == min(k, len(rows))
        np.testing.assert_allclose(sorted(scores[r, best]), sorted(hits.scores[r, : len(got)]),
                                   rtol=1e-5, atol=1e-5)
        assert set(got) <= set(ids[rows])
