"""Scoring any item in each mode, and weighted fusion over the rescored union of both."""

from __future__ import annotations

import numpy as np
import pytest
from search_helpers import ITEMS

from roost.search.fusion import complete, weighted
from roost.search.hybrid import Searcher
from roost.search.lexical import BM25Search
from roost.search.semantic import SemanticSearch
from roost.types import Hits, RoostError

TEXTS = [f"{t} {x}" for t, x in ITEMS.values()]


def _hits(rows):
    ids = np.array([[i for i, _ in r] for r in rows], object)
    return Hits(ids, np.array([[s for _, s in r] for r in rows], np.float32))


def test_bm25_score_matches_search_and_marks_unknown_and_removed():
    lex = BM25Search().fit(list(ITEMS), TEXTS)
    q = ["a bird sings at dawn by the river"]
    hits = lex.search(q, k=2)  # the two that share a term with it
    np.testing.assert_allclose(lex.score(q, hits.ids[0])[0], hits.scores[0], rtol=1e-5)
    s = lex.score(q, ["truck", "nope"])[0]
    assert s[0] == 0.0 and np.isnan(s[1])  # no shared term; unknown id
    lex.add(["wren"], ["a wren sings in the river reeds"]).remove(["robin"])
    s = lex.score(q, ["wren", "robin"])[0]
    assert np.isnan(s[1])
    found = dict(lex.search(q, k=3).row(0))
    assert s[0] == pytest.approx(found["wren"], rel=1e-5)


def test_semantic_score_matches_search(encoder):
    sem = SemanticSearch(encoder).fit(list(ITEMS), TEXTS)
    q = sem.encode(["nocturnal bird of prey"])
    hits = sem.search_vectors(q, k=3)
    np.testing.assert_allclose(sem.score_vectors(q, hits.ids[0])[0], hits.scores[0], atol=1e-5)
    sem.remove(["owl"])
    s = sem.score_vectors(q, ["owl", "nope", "pasta"])[0]
    assert np.isnan(s[:2]).all() and -1.0 <= s[2] <= 1.0


def test_zscore_fusion_hand_computed():
    a = _hits([[("x", 3.0), ("y", 1.0)]])
    b = _hits([[("y", 10.0), ("z", 4.0), ("x", 1.0)]])
    fused = weighted([a, b], k=3, normalize="zscore")
    # a: z = +1, -1; b: mean 5, std sqrt(14) -> y 5/sqrt(14), z -1/sqrt(14), x -4/sqrt(14)
    sd = np.sqrt(14.0)
    want = {"x": 1 - 4 / sd, "y": -1 + 5 / sd, "z": -1 / sd}
    got = dict(fused.row(0))
    assert got == pytest.approx(want, rel=1e-5)
    with pytest.raises(RoostError, match="normalisation 'rank'"):
        weighted([a, b], normalize="rank")


def test_complete_scores_what_the_other_run_missed():
    a = _hits([[("x", 0.9), ("y", 0.5)], [("u", 0.2), (None, -np.inf)]])
    b = _hits([[("z", 7.0), ("x", 2.0)], [("u", 1.0), ("v", 0.5)]])
    table = {"y": 6.5, "z": 0.1, "v": np.nan}
    full = complete([a, b], [lambda q, ids: np.array([table[i] for i in ids]),
                             lambda q, ids: np.array([table[i] for i in ids])])  # fmt: skip
    assert dict(full[0].row(0)) == pytest.approx({"x": 0.9, "y": 0.5, "z": 0.1})
    assert dict(full[1].row(0)) == pytest.approx({"z": 7.0, "x": 2.0, "y": 6.5})
    assert dict(full[0].row(1)) == pytest.approx({"u": 0.2})  # v: NaN, stays missing
    # Fusing the completed runs: y's real lexical score lifts it above x.
    assert weighted(full, k=1).ids[0, 0] == "y"
    assert weighted([a, b], k=1).ids[0, 0] == "x"


def test_searcher_rescored_fusion_uses_each_modes_real_scores(built_home):
    q = "nocturnal bird of prey XQ7 river"
    s = Searcher.from_home(built_home, fusion="weighted", depth=2, semantic_weight=1.5)
    found = s.search(q, k=4)
    union = [i for i, _, _ in found]
    sem = s.semantic.score_vectors(s.semantic.encode([q]), union)[0]
    lex = s.lexical.score([q], union)[0]

    def mm(x):
        return (x - x.min()) / (x.max() - x.min())

    want = 1.5 * mm(sem) + mm(lex)
    np.testing.assert_allclose([sc for _, sc, _ in found], want, atol=1e-5)
    # Without rescoring an item's missing mode counts 0: other scores.
    plain = Searcher.from_home(built_home, fusion="weighted", depth=2, semantic_weight=1.5,
                               rescore=False).search(q, k=4)  # fmt: skip
    assert not np.allclose([sc for _, sc, _ in plain], want, atol=1e-3)
