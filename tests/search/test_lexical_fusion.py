from __future__ import annotations

import numpy as np
import pytest

from roost.search.fusion import rrf, weighted
from roost.search.lexical import BM25Search
from roost.types import Hits, NotFittedError, RoostError

DOCS = {
    "d1": "robins sing at dawn in the garden",
    "d2": "the heron fishes in the river",
    "d3": "a robin builds a nest of mud",
    "d4": "stock markets fell sharply today",
}


@pytest.fixture(scope="module")
def bm25():
    return BM25Search().fit(list(DOCS), list(DOCS.values()))


def test_bm25_finds_stemmed_matches(bm25):
    hits = bm25.search(["robin singing", "river fish"], k=2)
    assert set(hits.ids[0]) == {"d1", "d3"} and hits.ids[0, 0] == "d1"
    assert hits.ids[1, 0] == "d2"
    assert hits.scores.dtype == np.float32 and hits.scores[0, 0] >= hits.scores[0, 1]


def test_bm25_pads_when_few_match_and_masks(bm25):
    hits = bm25.search(["heron"], k=3)
    assert hits.ids[0].tolist() == ["d2", None, None]
    assert np.isneginf(hits.scores[0, 1:]).all()
    allow = np.array([k != "d1" for k in DOCS])
    assert "d1" not in bm25.search(["robin"], k=3, allow=allow).ids[0]


def test_bm25_save_load_identical(bm25, tmp_path):
    bm25.save(tmp_path / "lex")
    again = BM25Search.load(tmp_path / "lex")
    a, b = bm25.search(["robin nest"], k=3), again.search(["robin nest"], k=3)
    assert a.ids.tolist() == b.ids.tolist() and np.allclose(a.scores, b.scores)


def test_bm25_errors(tmp_path):
    with pytest.raises(NotFittedError):
        BM25Search().search(["x"])
    with pytest.raises(RoostError, match="no documents"):
        BM25Search().fit([], [])
    with pytest.raises(RoostError, match="cannot load"):
        BM25Search.load(tmp_path)


def _hits(rows):
    ids = np.array([[i for i, _ in r] for r in rows], object)
    return Hits(ids, np.array([[s for _, s in r] for r in rows], np.float32))


def test_rrf_hand_computed():
    a = _hits([[("x", 9.0), ("y", 5.0)]])
    b = _hits([[("y", 0.9), ("z", 0.1)]])
    fused = rrf([a, b], k=3, k0=60)
    assert fused.ids[0].tolist() == ["y", "x", "z"]
    assert fused.scores[0, 0] == pytest.approx(1 / 62 + 1 / 61)
    assert fused.scores[0, 1] == pytest.approx(1 / 61)


def test_weighted_fusion_normalises_each_run():
    a = _hits([[("x", 100.0), ("y", 50.0), ("w", 0.0)]])
    b = _hits([[("y", 0.9), ("z", 0.5), ("x", 0.1)]])
    fused = weighted([a, b], k=2, weights=[1.0, 1.0])
    assert fused.ids[0].tolist() == ["y", "x"]
    assert fused.scores[0, 0] == pytest.approx(0.5 + 1.0)
