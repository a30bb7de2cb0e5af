"""The full-ranking harness: exclusion of training items, relevance thresholds, batching,
protocols over real splits, and hyperparameter selection that never sees the test set."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.data.frames import Interactions
from roost.data.splits import SPLITS, stratified_split
from roost.evaluate.ranking import (
    cross_validate,
    evaluate_scorer,
    evaluate_split,
    rank_items,
    relevance_matrix,
    select_on_validation,
)
from roost.recommend.baselines import EASE, ItemKNN, Popularity


class FixedScores:
    """A scorer whose scores are given: the test knows every answer."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, np.float32)

    def fit(self, train):
        self.fitted_on_ = len(train)
        return self

    def score(self, users):
        return self.scores[np.asarray(users)]


def _inter(users, items, values=None, ts=None, item_ids=None):
    return Interactions.from_arrays(users, items, values, ts, item_ids=item_ids)


def _split(inter, is_test):
    is_test = np.asarray(is_test, bool)
    return inter.subset(~is_test), inter.subset(is_test)


def _movies(seed=0, n_users=30, n_items=40, per_user=12):
    rng = np.random.default_rng(seed)
    users, items, values, ts = [], [], [], []
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, per_user, replace=False)):
            users.append(f"u{u:02d}")
            items.append(f"m{i:02d}")
            values.append(int(rng.integers(1, 6)))
            ts.append(1000 * u + t)
    return _inter(users, items, values, ts)


def test_hand_computed_run():
    # Items a..e; u had a in train, b and d in test; scores prefer a (seen), then c, b, d.
    inter = _inter(["u", "u", "u"], ["a", "b", "d"], item_ids=list("abcde"))
    train, test = _split(inter, [False, True, True])
    scorer = FixedScores([[9.0, 5.0, 7.0, 1.0, 0.0]])
    ev = evaluate_scorer(scorer, train, test, k=3, metrics=["precision", "recall", "ndcg", "mrr"])
    assert ev.ranked.tolist() == [[2, 1, 3]]  # a excluded
    assert ev.metrics["precision@3"] == pytest.approx(2 / 3)
    assert ev.metrics["recall@3"] == 1.0
    idcg = 1 + 1 / math.log2(3)
    assert ev.metrics["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / idcg)
    assert ev.metrics["mrr@3"] == 0.5
    assert ev.user_ids.tolist() == ["u"] and scorer.fitted_on_ == 1


def test_training_items_are_never_recommended_and_short_lists_are_padded():
    inter = _movies()
    train, test = stratified_split(inter, 0.75, seed=3)
    ev = evaluate_scorer(Popularity(), train, test, k=35)
    seen = train.to_csr()
    for row, u in zip(ev.ranked, np.searchsorted(inter.user_ids, ev.user_ids), strict=True):
        listed = row[row >= 0]
        assert not set(listed) & set(seen[[u]].indices)
        # 40 items, 9 seen: 31 left, the rest of the 35 slots are pads.
        assert len(listed) == 40 - seen[[u]].nnz and np.all(row[len(listed):] == -1)
    with_seen = evaluate_scorer(Popularity(), train, test, k=35, exclude_train=False)
    rows = np.searchsorted(inter.user_ids, with_seen.user_ids)
    assert any(set(r) & set(seen[[u]].indices) for r, u in zip(with_seen.ranked, rows, strict=True))


def test_test_events_on_training_items_leave_the_judgements():
    # u saw a in train and again in test: unrecommendable, so not counted against anyone.
    inter = _inter(["u", "u", "u"], ["a", "a", "b"], item_ids=list("abc"))
    train, test = _split(inter, [False, True, True])
    ev = evaluate_scorer(FixedScores([[0.0, 2.0, 1.0]]), train, test, k=1, metrics=["recall"])
    assert ev.metrics["recall@1"] == 1.0
    kept = evaluate_scorer(FixedScores([[0.0, 2.0, 1.0]]), train, test, k=1, metrics=["recall"],
                           exclude_train=False)
    assert kept.metrics["recall@1"] == 0.5


def test_threshold_and_graded_relevance():
    inter = _inter(["u", "u", "u", "v"], ["a", "b", "c", "a"], values=[5, 3, 4, 2])
    rel = relevance_matrix(inter, threshold=4)
    assert rel.toarray().tolist() == [[1, 0, 1], [0, 0, 0]]
    assert relevance_matrix(inter, threshold=4, graded=True).toarray().tolist() == [[5, 0, 4], [0, 0, 0]]
    # Repeated pairs keep the largest grade, not the sum.
    twice = _inter(["u", "u"], ["a", "a"], values=[2, 4])
    assert relevance_matrix(twice, graded=True).toarray().tolist() == [[4]]
    # v has no event at or above the threshold: not evaluated.
    train, test = _split(_inter(["u", "u", "v", "v"], ["a", "b", "a", "b"], values=[5, 5, 1, 2]),
                         [False, True, False, True])
    ev = evaluate_scorer(Popularity(), train, test, k=2, threshold=4)
    assert ev.user_ids.tolist() == ["u"]
    graded = evaluate_scorer(FixedScores(np.array([[0, 1, 2], [0, 0, 0]])), *_split(inter, [False, True, True, False]),
                             k=2, metrics=["ndcg"], graded=True)
    # c (grade 4) first, b (grade 3) second: the ideal order.
    assert graded.metrics["ndcg@2"] == pytest.approx(1.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 40))
def test_batching_does_not_change_the_result(seed, batch_size):
    train, test = stratified_split(_movies(seed), 0.7, seed=seed)
    a = evaluate_scorer(ItemKNN(neighbours=10), train, test, k=5, batch_size=batch_size)
    b = evaluate_scorer(ItemKNN(neighbours=10), train, test, k=5, batch_size=1000)
    assert np.array_equal(a.ranked, b.ranked) and a.metrics == b.metrics


def test_an_oracle_scores_one_and_nan_scores_rank_last():
    inter = _movies(1)
    train, test = stratified_split(inter, 0.75, seed=1)
    oracle = FixedScores(test.to_csr().toarray())
    ev = evaluate_scorer(oracle, train, test, k=3, metrics=["ndcg", "mrr", "hit_rate", "precision"])
    assert ev.metrics == {"ndcg@3": 1.0, "mrr@3": 1.0, "hit_rate@3": 1.0, "precision@3": 1.0}
    scores = test.to_csr().toarray()
    scores[scores == 0] = np.nan
    ranked = rank_items(FixedScores(scores), np.arange(len(inter.user_ids)), k=5)
    assert np.all(ranked[:, 3:] == -1)  # three test items each, NaN never listed


def test_misaligned_maps_and_bad_scorers_are_clear_errors():
    a = _inter(["u"], ["x"])
    b = _inter(["u"], ["y"])
    with pytest.raises(ValueError, match="item_ids"):
        evaluate_scorer(Popularity(), a, b)
    inter = _movies()
    train, test = stratified_split(inter)
    with pytest.raises(ValueError, match="shape"):
        evaluate_scorer(FixedScores(np.zeros((30, 5))), train, test)


def test_beyond_accuracy_metrics_come_from_train():
    train, test = stratified_split(_movies(2), 0.75, seed=2)
    ev = evaluate_scorer(Popularity(), train, test, k=10, metrics=["coverage", "novelty", "diversity"])
    # Popularity shows nearly one list to everyone: low coverage, low novelty.
    knn = evaluate_scorer(ItemKNN(20), train, test, k=10, metrics=["coverage", "novelty", "diversity"])
    assert ev.metrics["coverage@10"] < knn.metrics["coverage@10"] <= 1.0
    assert ev.metrics["novelty@10"] < knn.metrics["novelty@10"]
    assert 0.0 <= ev.metrics["diversity@10"] <= 1.0


@pytest.mark.parametrize("split", list(SPLITS))
def test_every_protocol_runs_end_to_end(split):
    ev = evaluate_split(EASE(l2=5.0), _movies(4), split, k=5)
    assert ev.n_users > 0 and all(0.0 <= v <= 1.0 for v in ev.metrics.values())
    with pytest.raises(ValueError, match="unknown split"):
        evaluate_split(EASE(), _movies(4), "random")


def test_cross_validation_over_folds():
    inter = _movies(5)
    folds = [stratified_split(inter, 0.75, seed=s) for s in range(3)]
    cv = cross_validate(lambda: ItemKNN(10), folds, k=5, metrics=["ndcg", "recall"])
    per_fold = np.array([f.metrics["ndcg@5"] for f in cv.folds])
    assert len(cv.folds) == 3
    assert cv.mean["ndcg@5"] == pytest.approx(per_fold.mean())
    assert cv.std["ndcg@5"] == pytest.approx(per_fold.std(ddof=1))


def test_selection_uses_only_train_and_picks_the_best_value():
    inter = _movies(6, n_users=40, per_user=15)
    train, test = stratified_split(inter, 0.75, seed=6)
    sel = select_on_validation(lambda l2: EASE(l2=l2), [0.5, 5.0, 50.0, 5000.0], train, metric="ndcg@5")
    assert set(sel.scores) == {0.5, 5.0, 50.0, 5000.0} and sel.metric == "ndcg@5"
    assert sel.scores[sel.best] == max(sel.scores.values())
    # The same numbers come from evaluating on the validation split of train by hand.
    fit_part, valid = stratified_split(train)
    by_hand = evaluate_scorer(EASE(l2=50.0), fit_part, valid, metrics=["ndcg@5"])
    assert sel.scores[50.0] == by_hand.metrics["ndcg@5"]
    assert not np.isin(test.ts, valid.ts).any()  # the validation events are train events
