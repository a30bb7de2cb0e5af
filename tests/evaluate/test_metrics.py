"""Ranking metrics: hand-computed cases, equality with trec_eval (ir-measures) and ranx on
random runs, and invariants under Hypothesis."""

from __future__ import annotations

import math

import ir_measures
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_measures import AP, RR, P, R, Success, nDCG

from roost.evaluate.metrics import (
    ItemStats,
    catalog_coverage,
    evaluate_rankings,
    evaluate_run,
    hit_rate_at_k,
    intra_list_diversity,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
)

ALL = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


# --- hand-computed ---------------------------------------------------------------------

def test_hand_computed_binary():
    # Relevant 1, 3 and 7 (never ranked); hits at ranks 2 and 4 of 5.
    ranked = np.array([[0, 1, 2, 3, 4]])
    rel = [{1, 3, 7}]
    assert precision_at_k(ranked, rel, 5)[0] == pytest.approx(2 / 5)
    assert recall_at_k(ranked, rel, 5)[0] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, rel, 5)[0] == pytest.approx(dcg / idcg)
    assert map_at_k(ranked, rel, 5)[0] == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert mrr_at_k(ranked, rel, 5)[0] == pytest.approx(1 / 2)
    assert hit_rate_at_k(ranked, rel, 5)[0] == 1.0
    # At k=1 nothing is found.
    assert precision_at_k(ranked, rel, 1)[0] == 0.0
    assert mrr_at_k(ranked, rel, 1)[0] == 0.0
    assert hit_rate_at_k(ranked, rel, 1)[0] == 0.0


def test_hand_computed_graded_ndcg():
    ranked = [["a", "b", "c", "d", "e"]]
    rel = [{"b": 3, "d": 1, "z": 2, "a": 0}]  # grade 0: judged, not relevant
    dcg = 3 / math.log2(3) + 1 / math.log2(5)
    idcg = 3 + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, rel, 5)[0] == pytest.approx(dcg / idcg)
    # Ideal DCG over min(k, |rel|): at k=2 only the best two grades count.
    assert ndcg_at_k(ranked, rel, 2)[0] == pytest.approx((3 / math.log2(3)) / (3 + 2 / math.log2(3)))
    assert recall_at_k(ranked, rel, 5)[0] == pytest.approx(2 / 3)  # grade 0 is not in |rel|


def test_sparse_and_collections_give_the_same_numbers():
    ranked = np.array([[4, 2, 0], [1, 3, -1], [0, 1, 2]])
    rel = sp.csr_array(np.array([[0, 0, 2, 0, 1], [0, 0, 0, 0, 0], [3, 0, 0, 1, 0]], np.float32))
    sets = [{2: 2, 4: 1}, {}, {0: 3, 3: 1}]
    a = evaluate_rankings(ranked, rel, k=3, metrics=ALL)
    b = evaluate_rankings(ranked, sets, k=3, metrics=ALL)
    for key in a.per_user:
        np.testing.assert_allclose(a.per_user[key], b.per_user[key], equal_nan=True)
    assert a.n_users == 2


def test_users_with_nothing_relevant_are_nan_and_left_out_of_means():
    ev = evaluate_rankings([[1, 2], [1, 2]], [{1}, set()], k=2, metrics=ALL)
    for key, v in ev.per_user.items():
        assert np.isnan(v[1]) and not np.isnan(v[0]), key
    assert ev.metrics["hit_rate@2"] == 1.0 and ev.n_users == 1


def test_padding_counts_as_empty_slots_and_precision_divides_by_k():
    ev = evaluate_rankings([[5, -1, -1]], [{5}], k=3, metrics=["precision", "recall", "ndcg"])
    assert ev.metrics == {"precision@3": pytest.approx(1 / 3), "recall@3": 1.0, "ndcg@3": 1.0}
    # A short list of ids behaves the same.
    ev = evaluate_rankings([["x"]], [{"x"}], k=3, metrics=["precision"])
    assert ev.metrics["precision@3"] == pytest.approx(1 / 3)


def test_per_metric_cutoffs():
    ev = evaluate_rankings([[0, 1, 2, 3]], [{3}], k=2, metrics=["recall", "recall@4", "mrr@4"])
    assert ev.metrics == {"recall@2": 0.0, "recall@4": 1.0, "mrr@4": 0.25}


@pytest.mark.parametrize(
    ("ranked", "relevant", "message"),
    [
        (np.array([[1, 1]]), [{1}], "twice"),
        (np.array([[1, 1]]), sp.csr_array(np.ones((1, 3))), "twice"),
        (np.array([[5, 0]]), sp.csr_array(np.ones((1, 3))), "catalog of 3"),
        ([["a"]], sp.csr_array(np.ones((1, 3))), "integer item indices"),
        (np.array([[1, 2]]), [{1}, {2}], "rows"),
    ],
)
def test_bad_input_is_a_clear_error(ranked, relevant, message):
    with pytest.raises(ValueError, match=message):
        evaluate_rankings(ranked, relevant, k=2)


def test_unknown_metric_and_bad_cutoff():
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_rankings([[1]], [{1}], metrics=["auc"])
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k([[1]], [{1}], k=0)


# --- beyond accuracy -------------------------------------------------------------------

def test_coverage_diversity_novelty_by_hand():
    ranked = np.array([[0, 1, -1], [1, 2, 0]])
    assert catalog_coverage(ranked, n_items=6, k=3) == pytest.approx(3 / 6)
    assert catalog_coverage(ranked, n_items=6, k=1) == pytest.approx(2 / 6)
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    c = 1 / math.sqrt(2)
    div = intra_list_diversity(ranked, vectors, k=3)
    assert div[0] == pytest.approx(1.0)  # orthogonal pair
    assert div[1] == pytest.approx(1 - (c + 0 + c) / 3)
    np.testing.assert_allclose(intra_list_diversity(ranked, sp.csr_array(vectors), k=3), div)
    assert np.isnan(intra_list_diversity(np.array([[0, -1]]), vectors, k=2)[0])
    nov = novelty(ranked, item_counts=np.array([4, 2, 0]), n_users=4, k=3)
    assert nov.tolist() == pytest.approx([(0 + 1) / 2, (1 + 2 + 0) / 3])


def test_item_stats_from_train_feed_the_report():
    train = sp.csr_array(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0]], np.float32))
    items = ItemStats.from_train(train)
    assert items.counts.tolist() == [3, 1, 1, 0] and items.n_users == 3
    ev = evaluate_rankings(
        np.array([[1, 2], [3, 0]]), [{1}, {0}], k=2,
        metrics=["coverage", "diversity", "novelty"], items=items,
    )
    assert ev.metrics["coverage@2"] == 1.0
    # Items 1 and 2 never share a user: diversity 1; item 3 has no users: zero vector, 1.
    assert ev.per_user["diversity@2"].tolist() == [1.0, 1.0]
    assert ev.per_user["novelty@2"][0] == pytest.approx(math.log2(3))
    with pytest.raises(ValueError, match="needs ItemStats"):
        evaluate_rankings(np.array([[1]]), [{1}], k=1, metrics=["novelty"])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_diversity_is_in_unit_interval_for_nonnegative_vectors(seed, k):
    rng = np.random.default_rng(seed)
    vectors = rng.random((20, 5)) * (rng.random((20, 5)) < 0.5)
    ranked = np.stack([rng.permutation(20)[:k] for _ in range(6)])
    div = intra_list_diversity(ranked, vectors, k)
    assert np.all(np.isnan(div) | ((div >= -1e-12) & (div <= 1 + 1e-12)))


# --- equality with trec_eval (through ir-measures) and ranx ------------------------------

def _random_run(seed: int, n_queries: int = 30, n_docs: int = 40, ties: bool = False):
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(n_queries):
        judged = rng.choice(n_docs, int(rng.integers(1, 12)), replace=False)
        qrels[f"q{q}"] = {f"d{d}": int(rng.integers(0, 4)) for d in judged}
        retrieved = rng.choice(n_docs, int(rng.integers(0, 30)), replace=False)
        scores = rng.integers(0, 4, len(retrieved)) if ties else rng.permutation(len(retrieved))
        run[f"q{q}"] = {f"d{d}": float(s) for d, s in zip(retrieved, scores, strict=True)}
    return qrels, run


OURS = ["precision@5", "recall@5", "ndcg@5", "map@5", "mrr@5", "hit_rate@5", "ndcg@10", "recall@20", "map@20"]
IRM = [P @ 5, R @ 5, nDCG @ 5, AP @ 5, RR @ 5, Success @ 5, nDCG @ 10, R @ 20, AP @ 20]


def _ir_measures(qrels, run, measures):
    qr = [ir_measures.Qrel(q, d, g) for q, docs in qrels.items() for d, g in docs.items()]
    rn = [ir_measures.ScoredDoc(q, d, s) for q, docs in run.items() for d, s in docs.items()]
    return {(m.query_id, str(m.measure)): m.value for m in ir_measures.iter_calc(measures, qr, rn)}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31))
def test_equal_to_trec_eval_on_random_runs(seed):
    qrels, run = _random_run(seed)
    ref = _ir_measures(qrels, run, IRM)
    ev = evaluate_run(run, qrels, OURS)
    queries = [q for q, g in qrels.items() if any(v > 0 for v in g.values())]
    assert ev.n_users == len(queries)
    for ours, theirs in zip(OURS, map(str, IRM), strict=True):
        for i, q in enumerate(queries):
            # pytrec_eval leaves out queries with an empty run; they score 0.
            assert ev.per_user[ours][i] == pytest.approx(ref.get((q, theirs), 0.0), abs=1e-6), (ours, q)


def test_ties_are_broken_as_trec_eval_does():
    qrels, run = _random_run(3, ties=True)
    measures = [P @ 5, nDCG @ 5, AP @ 10, RR]  # RR@k comes from another provider: left out
    ref = _ir_measures(qrels, run, measures)
    longest = max(len(r) for r in run.values())
    ev = evaluate_run(run, qrels, ["precision@5", "ndcg@5", "map@10", f"mrr@{longest}"])
    queries = [q for q, g in qrels.items() if any(v > 0 for v in g.values())]
    for ours, theirs in zip(ev.per_user, map(str, measures), strict=True):
        for i, q in enumerate(queries):
            assert ev.per_user[ours][i] == pytest.approx(ref.get((q, theirs), 0.0), abs=1e-6)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaTypeSafetyWarning")
def test_equal_to_ranx_on_random_runs():
    # ranx compiles its metrics with numba on first use (about a minute cold on two cores).
    from ranx import Qrels, Run, evaluate

    names = ["precision@5", "recall@5", "ndcg@5", "map@5", "mrr@5", "hit_rate@5", "ndcg@10", "recall@20"]
    for seed in range(3):
        qrels, run = _random_run(seed)
        queries = [q for q, g in qrels.items() if any(v > 0 for v in g.values())]
        run_full = {q: run[q] if run[q] else {"none": 0.0} for q in queries}
        qrels_pos = {q: {d: g for d, g in qrels[q].items() if g > 0} for q in queries}
        ranx_qrels = Qrels(qrels_pos)
        ref = evaluate(ranx_qrels, Run(run_full), names, return_mean=False)
        order = [queries.index(q) for q in ranx_qrels.keys()]  # ranx sorts the queries
        ev = evaluate_run(run, qrels, names)
        for name in names:
            np.testing.assert_allclose(ev.per_user[name][order], ref[name], atol=1e-6, err_msg=name)


# --- invariants ------------------------------------------------------------------------

@st.composite
def _judged_lists(draw):
    n_items = draw(st.integers(1, 30))
    n_users = draw(st.integers(1, 6))
    k = draw(st.integers(1, 12))
    ranked, relevant = [], []
    for _ in range(n_users):
        ranked.append(draw(st.lists(st.integers(0, n_items - 1), max_size=k, unique=True)))
        relevant.append(draw(st.dictionaries(st.integers(0, n_items - 1), st.integers(0, 3), max_size=n_items)))
    return ranked, relevant, k, n_items


@settings(max_examples=150, deadline=None)
@given(_judged_lists())
def test_metrics_are_in_unit_interval(case):
    ranked, relevant, k, n_items = case
    ev = evaluate_rankings(ranked, relevant, k=k, metrics=[*ALL, "coverage"], items=ItemStats(n_items))
    for key, v in ev.per_user.items():
        assert np.all(np.isnan(v) | ((v >= 0) & (v <= 1 + 1e-12))), key
    assert 0.0 <= ev.metrics["coverage@" + str(k)] <= 1.0


@settings(max_examples=150, deadline=None)
@given(_judged_lists())
def test_a_perfect_ranking_scores_one(case):
    _, relevant, k, _ = case
    relevant = [r for r in relevant if any(g > 0 for g in r.values())]
    perfect = [[i for i, g in sorted(r.items(), key=lambda x: -x[1]) if g > 0] for r in relevant]
    ev = evaluate_rankings(perfect, relevant, k=k, metrics=ALL)
    n_rel = np.array([len(p) for p in perfect])
    for name in ("ndcg", "mrr", "hit_rate"):
        np.testing.assert_allclose(ev.per_user[f"{name}@{k}"], 1.0)
    np.testing.assert_allclose(ev.per_user[f"recall@{k}"][n_rel <= k], 1.0)
    np.testing.assert_allclose(ev.per_user[f"map@{k}"][n_rel <= k], 1.0)
    np.testing.assert_allclose(ev.per_user[f"precision@{k}"][n_rel >= k], 1.0)


@settings(max_examples=100, deadline=None)
@given(_judged_lists())
def test_sparse_path_equals_collection_path(case):
    ranked, relevant, k, n_items = case
    rows = [u for u, r in enumerate(relevant) for _ in r]
    cols = [i for r in relevant for i in r]
    vals = [g for r in relevant for g in r.values()]
    mat = sp.csr_array((np.asarray(vals, np.float32), (rows, cols)), shape=(len(relevant), n_items))
    padded = np.full((len(ranked), k), -1)
    for u, r in enumerate(ranked):
        padded[u, : len(r)] = r
    a = evaluate_rankings(padded, mat, k=k, metrics=ALL)
    b = evaluate_rankings(ranked, relevant, k=k, metrics=ALL)
    for key in a.per_user:
        np.testing.assert_allclose(a.per_user[key], b.per_user[key], equal_nan=True)
