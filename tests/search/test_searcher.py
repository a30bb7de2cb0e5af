"""Searcher: semantic, lexical and hybrid search over a real home (SQLite store, a stored
transformer version of the packaged MiniLM, the BM25 index saved in the home)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search_helpers import ITEMS, catalog

from roost.data.frames import Catalog
from roost.search.hybrid import Searcher
from roost.search.lexical import BM25Search
from roost.search.semantic import SemanticSearch
from roost.store import Artifacts, open_store
from roost.store.versions import VersionStore
from roost.types import RoostError, UnknownIdError


@pytest.fixture(scope="module")
def shared(built_home):
    """Read-only tests share one searcher (opening one loads the model)."""
    return Searcher.from_home(built_home)


@pytest.fixture
def searcher(built_home):
    """A fresh searcher for tests that add or remove live items."""
    return Searcher.from_home(built_home)


def ids(found):
    return [i for i, _, _ in found]


def test_semantic_finds_the_paraphrase(shared):
    # No word in common with the owl's text: only meaning links them.
    assert ids(shared.search("nocturnal bird of prey", mode="semantic", k=1)) == ["owl"]


def test_lexical_finds_the_exact_term(shared):
    found = shared.search("XQ7", mode="lexical", k=3)
    assert ids(found) == ["xq7"]  # only documents sharing a term are returned
    assert found[0][2] == {"lexical": {"rank": 1, "score": pytest.approx(found[0][1], abs=1e-5)}}


def test_hybrid_contains_both_and_says_why(shared):
    q = "nocturnal bird of prey XQ7"
    sem = ids(shared.search(q, mode="semantic", k=1))[0]
    lex = ids(shared.search(q, mode="lexical", k=1))[0]
    assert (sem, lex) == ("owl", "xq7")
    found = shared.search(q, mode="hybrid", k=4)
    assert {"owl", "xq7"} <= set(ids(found))
    why = dict((i, w) for i, _, w in found)
    assert why["xq7"]["lexical"]["rank"] == 1 and "semantic" in why["xq7"]
    assert why["owl"]["semantic"]["rank"] == 1
    scores = [s for _, s, _ in found]
    assert scores == sorted(scores, reverse=True)


def test_weighted_fusion_option(built_home):
    s = Searcher.from_home(built_home, fusion="weighted", lexical_weight=0.0)
    q = "nocturnal bird of prey XQ7"
    assert ids(s.search(q, k=1)) == ids(s.search(q, mode="semantic", k=1))
    with pytest.raises(RoostError, match="fusion 'max'"):
        Searcher.from_home(built_home, fusion="max").search(q)


@settings(max_examples=30, deadline=None)
@given(refused=st.sets(st.sampled_from(list(ITEMS))), mode=st.sampled_from(["hybrid", "semantic", "lexical"]),
       k=st.integers(1, 10), query=st.sampled_from(["bird", "river fish", "truck gearbox", "oven bread"]))  # fmt: skip
def test_keep_never_lets_a_refused_id_through(shared, refused, mode, k, query):
    seen = []

    def keep(arr):
        seen.append(arr)
        return np.array([i not in refused for i in arr], bool)

    found = ids(shared.search(query, mode=mode, k=k, keep=keep))
    assert not set(found) & refused and len(found) == len(set(found)) <= k
    if mode == "semantic":  # every item has a vector: fill k from what is allowed
        assert len(found) == min(k, len(ITEMS) - len(refused))


def test_more_like_this_excludes_the_item(shared):
    found = shared.more_like_this("robin", k=3)
    assert "robin" not in ids(found) and len(found) == 3
    assert ids(found)[0] in {"owl", "heron"} and found[0][2]["like"] == "robin"
    assert "owl" not in ids(shared.more_like_this("robin", k=3, keep=lambda a: a != "owl"))
    with pytest.raises(UnknownIdError, match="nope"):
        shared.more_like_this("nope")


def test_live_add_is_searchable_at_once_and_remove_hides(searcher):
    searcher.add("kiwi", "Flightless kiwi probes the forest floor with its long beak")
    for mode in ("lexical", "semantic", "hybrid"):
        assert ids(searcher.search("kiwi beak", mode=mode, k=1)) == ["kiwi"], mode
    assert "kiwi" not in ids(searcher.more_like_this("kiwi", k=3))
    searcher.remove("kiwi")
    searcher.remove("owl")
    for mode in ("lexical", "semantic", "hybrid"):
        got = ids(searcher.search("kiwi beak owl", mode=mode, k=8))
        assert "kiwi" not in got and "owl" not in got, mode
    with pytest.raises(UnknownIdError):
        searcher.more_like_this("owl")


def test_live_replace_keeps_one_copy(searcher):
    searcher.add("truck", "A lorry full of oranges")
    found = ids(searcher.search("lorry oranges truck", mode="hybrid", k=8))
    assert found.count("truck") == 1 and found[0] == "truck"


def test_live_lexical_scores_equal_fitted_scores():
    lex = BM25Search().fit(["a", "b", "c"], ["red birds sing", "blue fish swim", "red fish"])
    fitted = dict(lex.search(["red fish"], k=3).row(0))
    lex.add(["c2"], ["red fish"])
    assert dict(lex.search(["red fish"], k=4).row(0))["c2"] == pytest.approx(fitted["c"])


def test_missing_text_version_is_a_clear_error(built_home):
    s = Searcher.from_home(built_home, text_version="nothing-here")
    assert s.modes == ("lexical",)
    assert ids(s.search("XQ7", mode="lexical", k=1)) == ["xq7"]
    for mode in ("semantic", "hybrid"):
        with pytest.raises(RoostError, match="no version or alias 'nothing-here'"):
            s.search("owl", mode=mode)
    with pytest.raises(RoostError, match="more like this is unavailable"):
        s.more_like_this("owl")


def test_version_that_cannot_encode_text(tmp_path):
    cat = catalog()
    home = tmp_path / "h"
    with open_store(home) as s, s.transaction() as w:
        w.write("items", cat.items)
    from roost.embed import get

    with VersionStore(home) as vs:
        vs.put(get("tfidf")().fit(cat).embedding_set(cat), alias="text")
    s = Searcher.from_home(home)
    with pytest.raises(RoostError, match="'tfidf', which cannot encode query text"):
        s.search("owl", mode="semantic")


def test_bad_arguments(shared):
    with pytest.raises(RoostError, match="search mode 'fuzzy'"):
        shared.search("owl", mode="fuzzy")
    with pytest.raises(RoostError, match="k must be"):
        shared.search("owl", k=0)
    with pytest.raises(RoostError, match="empty"):
        shared.search("   ")
    with pytest.raises(RoostError, match="boolean mask"):
        shared.search("owl", mode="semantic", keep=lambda a: [1] * len(a))


def test_bm25_index_saved_in_home_and_reused(built_home, tmp_path):
    folder = Artifacts(built_home).lexical
    s1 = Searcher.from_home(built_home, text_version=None)
    stamp = (folder / "lexical.json").stat().st_mtime_ns
    s2 = Searcher.from_home(built_home, text_version=None)
    assert (folder / "lexical.json").stat().st_mtime_ns == stamp  # loaded, not rebuilt
    q = "heron river fish"
    assert s1.search(q, mode="lexical") == s2.search(q, mode="lexical")
    # A changed catalog makes the saved index stale: rebuilt with the new item.
    with open_store(built_home) as st_, st_.transaction() as w:
        w.write(
            "items", Catalog.from_pydict(items={"id": ["egret"], "title": ["little egret"]}).items
        )
    try:
        s3 = Searcher.from_home(built_home, text_version=None)
        assert ids(s3.search("egret", mode="lexical", k=1)) == ["egret"]
    finally:
        with open_store(built_home) as st_, st_.transaction() as w:
            w.delete("items", [("egret",)])


def test_semantic_fit_and_saved_index_round_trip(encoder, built_home, tmp_path):
    texts = [f"{t} {x}" for t, x in ITEMS.values()]
    sem = SemanticSearch(encoder).fit(list(ITEMS), texts)
    with VersionStore(built_home) as vs:
        version = vs.get("text")
    served = SemanticSearch.from_version(version)  # encoder rebuilt from the manifest
    q = ["bird that hunts at night", "bread"]
    a, b = sem.search(q, k=3), served.search(q, k=3)
    assert a.ids.tolist() == b.ids.tolist() and np.allclose(a.scores, b.scores, atol=1e-4)
    # A saved index for the version is found and used.
    sem.index_.manifest_.update(
        version=version.id, vectors_sha256=version.manifest["vectors_sha256"]
    )
    sem.index_.save(tmp_path / "ix" / "exact")
    loaded = SemanticSearch.from_version(version, encoder, index_dir=tmp_path / "ix")
    assert loaded.index_.manifest_["version"] == version.id
    assert loaded.search(q, k=3).ids.tolist() == a.ids.tolist()


def test_keep_may_be_a_set_of_allowed_ids(shared):
    allowed = {"heron", "truck"}
    for mode in ("hybrid", "semantic", "lexical"):
        assert set(ids(shared.search("river fish truck", mode=mode, k=5, keep=allowed))) <= allowed
