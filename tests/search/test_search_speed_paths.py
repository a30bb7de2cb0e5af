"""The fast paths of search against plain references: BM25 top-k over the documents that
share a term, the query tokenizer, vectorised fusion, the hybrid explanations, the
engine's candidate mask and the one-query exact scores."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
from search_helpers import catalog

from roost.data.frames import Catalog
from roost.engine import _search_keep
from roost.index.topk import exact_search, score_block, top_k
from roost.recommend.context import RecContext
from roost.search.fusion import rrf, weighted
from roost.search.hybrid import Searcher
from roost.search.lexical import BM25Search, _stemmer, _token_lists
from roost.types import Hits

WORDS = "owl robin heron wren finch kite crow swift lark rook".split()


def _corpus(n: int = 600, seed: int = 0) -> tuple[list[str], list[str]]:
    """Short texts over ten words: many documents score exactly alike."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 4))) for _ in range(n)]
    # ids whose string order differs from row order, so a tie rule by row would show
    ids = [f"d{(i * 7919) % n:04d}" for i in range(n)]
    return ids, texts


def _reference(lex: BM25Search, query: str, k: int, allow: np.ndarray | None):
    """Every searchable document scored by bm25s's full ``retrieve`` (and ``score`` for
    live ones), refused and zero scores dropped, best first, equal scores in id order."""
    model = lex.model_
    n = len(lex.ids_)
    docs, scores = model.retrieve([_token_lists([query], lex.stopwords, lex.stemmer)[0]],
                                  k=n, show_progress=False, n_threads=0)  # fmt: skip
    by_id = {lex.ids_[d]: float(s) for d, s in zip(docs[0], scores[0], strict=True)}
    searchable = lex.ids.tolist()
    ok = np.ones(len(searchable), bool) if allow is None else allow
    live = list(lex.live_)
    live_scores = dict(zip(live, lex.score([query], live)[0].tolist(), strict=True)) if live else {}
    pairs = []
    for i, keep in zip(searchable, ok, strict=True):
        s = live_scores[i] if i in live_scores else by_id[i]
        if keep and s > 0:
            pairs.append((i, s))
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs[:k]


@pytest.fixture(scope="module")
def tied():
    ids, texts = _corpus()
    return ids, texts


@pytest.mark.parametrize("k", [1, 5, 37, 1000])
def test_lexical_top_k_equals_plain_reference(tied, k):
    ids, texts = tied
    lex = BM25Search().fit(ids, texts)
    rng = np.random.default_rng(k)
    lex.remove(rng.choice(ids, 40, replace=False))
    lex.add(["live-a", "d0003"], ["owl owl wren", "kite crow"])  # new, and a replaced one
    allow = rng.random(len(lex)) > 0.25
    for query in ["owl", "robin wren", "kite crow lark", "swift owl heron rook", "nothing"]:
        for mask in (None, allow):
            got = lex.search([query], k=k, allow=mask)
            pairs = [(i, float(s)) for i, s in zip(got.ids[0], got.scores[0], strict=True)
                     if i is not None]  # fmt: skip
            assert pairs == _reference(lex, query, k, mask), (query, k, mask is None)


def test_lexical_ties_in_id_order_and_refused_never_returned():
    ids = ["c", "a", "e", "b", "d", "f"]
    lex = BM25Search().fit(ids, ["wren"] * 5 + ["owl"])
    assert lex.search(["wren"], k=3).ids[0].tolist() == ["a", "b", "c"]  # the cut by id
    lex.remove(["a"])
    allow = np.array([i != "b" for i in lex.ids])
    assert lex.search(["wren"], k=3, allow=allow).ids[0].tolist() == ["c", "d", "e"]
    lex.add(["0-live"], ["wren"])  # a live document scores exactly as a fitted one
    hits = lex.search(["wren"], k=2)
    assert hits.ids[0].tolist() == ["0-live", "b"]
    assert hits.scores[0, 0] == hits.scores[0, 1]


@pytest.mark.parametrize("stopwords", ["en", None, ["wren", "the"]])
@pytest.mark.parametrize("stemmer", ["english", None])
def test_query_tokens_equal_bm25s_tokenize(stopwords, stemmer):
    texts = ["", "The of and", "Ünïcödé CAFÉ café naïve_test x y 12 123 a1 b_2",
             "running runs ran runner's RUNNING", "l'été à Paris, «quoted» — fine",
             "日本語のテキスト 東京", "tab\tnew\nline", "__init__ self._x wren wren"]  # fmt: skip
    texts += catalog().item_texts(("title", "text"))
    ref = bm25s.tokenize(texts, stopwords=stopwords, stemmer=_stemmer(stemmer),
                         show_progress=False, return_ids=False)  # fmt: skip
    assert _token_lists(texts, stopwords, stemmer) == ref


def _plain_fuse(runs, k, contrib, weights):
    """Fusion as a per-item loop: the reference for the vectorised one."""
    nq = runs[0].ids.shape[0]
    ids = np.full((nq, k), None, dtype=object)
    scores = np.full((nq, k), -np.inf, np.float32)
    for q in range(nq):
        acc: dict[str, float] = {}
        for run, w in zip(runs, weights, strict=True):
            for rank, (i, s) in enumerate(zip(run.ids[q], run.scores[q], strict=True)):
                if i is not None:
                    acc[i] = acc.get(i, 0.0) + contrib(rank, float(s), w)
        top = sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        for r, (i, s) in enumerate(top):
            ids[q, r], scores[q, r] = i, s
    return Hits(ids, scores)


def _random_runs(seed: int, nq: int = 6, width: int = 30) -> list[Hits]:
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(2):
        ids = np.full((nq, width), None, dtype=object)
        scores = np.full((nq, width), -np.inf, np.float32)
        for q in range(nq):
            m = int(rng.integers(1, width + 1))  # rows of any length, padded with None
            ids[q, :m] = [f"i{j:03d}" for j in rng.choice(60, m, replace=False)]
            # few distinct values: equal scores and equal fused sums
            scores[q, :m] = np.sort(rng.integers(0, 5, m).astype(np.float32))[::-1]
        runs.append(Hits(ids, scores))
    return runs


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 10, 100])
def test_fusion_equals_plain_loop(seed, k):
    runs = _random_runs(seed)
    weights = [1.0, 0.5 + seed]
    got = rrf(runs, k=k, k0=60.0, weights=weights)
    ref = _plain_fuse(runs, k, lambda rank, score, w: w / (60.0 + rank + 1), weights)
    assert got.ids.tolist() == ref.ids.tolist()
    assert np.array_equal(got.scores, ref.scores)
    for norm, floor in (("minmax", 0.0), ("zscore", -np.inf)):
        got = weighted(runs, k=k, weights=weights, normalize=norm)
        normed = [Hits(r.ids, np.nan_to_num(_normalise(r.scores, norm), nan=-np.inf)
                       .astype(np.float32)) for r in runs]  # fmt: skip
        ref = _plain_fuse(normed, k, lambda rank, score, w, f=floor: w * max(score, f), weights)
        assert got.ids.tolist() == ref.ids.tolist()
        assert np.array_equal(got.scores, ref.scores)


def _normalise(scores: np.ndarray, how: str) -> np.ndarray:
    s = np.where(np.isfinite(scores), scores, np.nan)
    with np.errstate(all="ignore"):
        if how == "minmax":
            lo, hi = np.nanmin(s, 1, keepdims=True), np.nanmax(s, 1, keepdims=True)
            return (s - lo) / np.where((hi - lo) > 0, hi - lo, 1.0)
        sd = np.nanstd(s, 1, keepdims=True)
        return (s - np.nanmean(s, 1, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def test_hybrid_equals_rrf_of_the_two_modes_with_their_ranks(built_home):
    searcher = Searcher.from_home(built_home, depth=5)
    for q in ["nocturnal bird of prey XQ7", "bread in the oven", "river fish heron"]:
        runs = {m: searcher.search(q, mode=m, k=5) for m in ("semantic", "lexical")}
        hits = [Hits(np.array([[i for i, _, _ in runs[m]]], object).reshape(1, -1),
                     np.array([[s for _, s, _ in runs[m]]], np.float32).reshape(1, -1))
                for m in runs]  # fmt: skip
        ref = _plain_fuse(hits, 3, lambda rank, score, w: w / (60.0 + rank + 1), [1.0, 1.0])
        found = searcher.search(q, mode="hybrid", k=3)
        assert [(i, s) for i, s, _ in found] == ref.row(0)
        for item, _, why in found:
            for m in runs:
                order = [i for i, _, _ in runs[m]]
                if item in order:
                    r = order.index(item) + 1
                    assert why[m] == {"rank": r, "score": round(runs[m][r - 1][1], 6)}
                else:
                    assert m not in why


def test_search_keep_mask_equals_plain_lookup():
    cat = catalog()
    ctx = RecContext.from_catalog(cat)
    ctx.remove_item("owl")
    ids = np.array(["robin", "owl", "nope", "xq7", "heron", "", "truck"], object)
    got = _search_keep(ctx, [])(ids)
    ref = [i in ctx.index and not ctx.deleted[ctx.index[i]] and not ctx.unsafe[ctx.index[i]]
           for i in ids]  # fmt: skip
    assert got.dtype == bool and got.tolist() == ref == [True, False, False, True, True,
                                                         False, True]  # fmt: skip
    assert _search_keep(ctx, [])(np.array([], object)).tolist() == []


def test_search_keep_drops_unsafe_items():
    items = {"id": ["a", "b"], "title": ["A", "B"], "text": ["x", "y"],
             "fields": ['{"unsafe": true}', "{}"]}  # fmt: skip
    ctx = RecContext.from_catalog(Catalog.from_pydict(items=items))
    assert _search_keep(ctx, [])(np.array(["a", "b"], object)).tolist() == [False, True]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_one_query_scores_equal_batch_scores(metric):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2000, 48)).astype(np.float32)
    q = rng.standard_normal((4, 48)).astype(np.float32)
    sq = np.einsum("ij,ij->i", x, x) if metric == "l2" else None
    batch = score_block(q, x, metric, sq)
    for r in range(len(q)):
        one = score_block(q[r : r + 1], x, metric, sq)
        assert one.shape == (1, len(x)) and one.dtype == np.float32
        np.testing.assert_allclose(one[0], batch[r], rtol=1e-5, atol=1e-4)
        labels, scores = exact_search(q[r : r + 1], x, 25, metric, sq)
        full = (x @ q[r]).astype(np.float64) if metric != "l2" else \
            -((x - q[r]) ** 2).sum(1, dtype=np.float64)  # fmt: skip
        assert labels[0].tolist() == np.argsort(-full, kind="stable")[:25].tolist()


@pytest.mark.parametrize("n", [50, 3000, 20000])
@pytest.mark.parametrize("k", [1, 10, 200, 5000])
def test_one_query_top_k_equals_full_sort(n, k):
    rng = np.random.default_rng(n + k)
    row = rng.standard_normal(n).astype(np.float32)
    for case in range(3):
        if case == 1:  # few distinct values: ties at the cut and inside the top
            row = rng.integers(0, 7, n).astype(np.float32)
        if case == 2:  # most rows refused (score -inf), some scores tied
            row = np.where(rng.random(n) < 0.9, -np.inf, np.round(row, 1)).astype(np.float32)
        idx, vals = top_k(row[None, :], k)
        ref = np.lexsort((np.arange(n), -row))[: min(k, n)]  # best first, ties by position
        assert idx[0].tolist() == ref.tolist()
        assert np.array_equal(vals[0], row[ref])
