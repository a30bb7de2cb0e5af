"""Offline full-ranking evaluation of scorers, and the protocols that run it.

A scorer is anything with ``fit(train) -> self`` (``train`` an
:class:`~roost.data.frames.Interactions`) and ``score(user_rows) -> (n, n_items) float32``
(higher is better). :func:`evaluate_scorer` ranks every item for every test user with a
relevant test event, masks the user's training items, keeps the top ``k`` and hands them
to :func:`roost.evaluate.metrics.evaluate_rankings`. Train and test must share their id
maps: build both from one Interactions (``.subset(mask)``, or :mod:`roost.data.splits`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from roost.data.frames import Interactions
from roost.data.splits import SPLITS, stratified_split
from roost.evaluate.metrics import DEFAULT_METRICS, ItemStats, evaluate_rankings
from roost.index.topk import top_k


class Scorer(Protocol):
    def fit(self, train: Interactions) -> Scorer: ...

    def score(self, users: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ScorerEvaluation:
    """Means over the evaluated users, per-user values aligned with ``user_ids``, timings.

    ``ranked`` holds each evaluated user's top ``k`` item indices (-1 pads).
    """

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    user_ids: np.ndarray
    ranked: np.ndarray
    fit_seconds: float
    score_seconds: float

    @property
    def n_users(self) -> int:
        return len(self.user_ids)


def _check_aligned(train: Interactions, test: Interactions) -> None:
    for name in ("user_ids", "item_ids"):
        a, b = getattr(train, name), getattr(test, name)
        if a is not b and (len(a) != len(b) or not np.array_equal(a, b)):
            raise ValueError(
                f"train and test have different {name}: build both from one Interactions "
                "with .subset(mask) or roost.data.splits"
            )


def relevance_matrix(test: Interactions, threshold: float | None = None, graded: bool = False) -> sp.csr_array:
    """Users x items judgements from test events: those with value >= ``threshold`` (all
    when None), as 1 or, when ``graded``, the largest value of the pair.

    Examples
    --------
    >>> t = Interactions.from_arrays(["u", "u"], ["a", "b"], values=[5, 2])
    >>> relevance_matrix(t, threshold=4).toarray().tolist()
    [[1.0, 0.0]]
    """
    keep = np.ones(len(test), bool) if threshold is None else test.values >= threshold
    users, items = test.users[keep], test.items[keep]
    values = test.values[keep].astype(np.float64) if graded else np.ones(int(keep.sum()))
    # Repeated (user, item) pairs: keep one judgement, the largest, not their sum.
    order = np.lexsort((-values, items, users))
    users, items, values = users[order], items[order], values[order]
    first = np.ones(len(users), bool)
    first[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    rel = sp.csr_array((values[first], (users[first], items[first])), shape=test.shape)
    rel.eliminate_zeros()
    return rel


def rank_items(
    scorer: Scorer, users: np.ndarray, k: int, exclude: sp.csr_array | None = None, batch_size: int = 1024,
    n_items: int | None = None,
) -> np.ndarray:
    """Top ``k`` item indices per user row (best first), never an item of ``exclude``'s row;
    -1 where fewer than ``k`` items are left. One dense score block per batch."""
    users = np.asarray(users, np.int64)
    if n_items is None and exclude is not None:
        n_items = exclude.shape[1]
    out = np.full((len(users), k), -1, np.int64)
    for lo in range(0, len(users), batch_size):
        rows = users[lo : lo + batch_size]
        s = np.array(scorer.score(rows), dtype=np.float32)  # a copy: we write into it
        if s.ndim != 2 or s.shape[0] != len(rows) or (n_items is not None and s.shape[1] != n_items):
            raise ValueError(f"score() returned shape {s.shape} for {len(rows)} users x {n_items} items")
        s[np.isnan(s)] = -np.inf
        if exclude is not None:
            sub = exclude[rows]
            s[np.repeat(np.arange(len(rows)), np.diff(sub.indptr)), sub.indices] = -np.inf
        labels, vals = top_k(s, k)
        labels[np.isneginf(vals)] = -1
        out[lo : lo + len(rows), : labels.shape[1]] = labels
    return out


def evaluate_scorer(
    scorer: Scorer,
    train: Interactions,
    test: Interactions,
    k: int = 10,
    metrics: Sequence[str] = DEFAULT_METRICS,
    exclude_train: bool = True,
    threshold: float | None = None,
    graded: bool = False,
    batch_size: int = 1024,
    fit: bool = True,
) -> ScorerEvaluation:
    """Fit ``scorer`` on ``train`` (unless ``fit=False``) and rank the full catalog for each
    test user with a relevant event.

    With ``exclude_train`` a user's training items are never recommended, and test events
    on them are dropped from the judgements (no model could rank them). Relevance is a
    test event with value >= ``threshold`` (every event when None); ``graded`` uses the
    value as the NDCG gain. Beyond-accuracy metrics take popularity and co-occurrence
    vectors from ``train``.

    Examples
    --------
    >>> from roost.recommend.baselines import Popularity
    >>> inter = Interactions.from_arrays(["u", "u", "v", "v"], ["a", "b", "a", "c"])
    >>> is_test = np.array([False, True, False, False])
    >>> ev = evaluate_scorer(Popularity(), inter.subset(~is_test), inter.subset(is_test), k=2)
    >>> ev.metrics["hit_rate@2"], ev.n_users
    (1.0, 1)
    """
    _check_aligned(train, test)
    t0 = time.perf_counter()
    if fit:
        scorer.fit(train)
    fit_seconds = time.perf_counter() - t0
    seen = train.to_csr(binary=True)
    rel = relevance_matrix(test, threshold, graded)
    if exclude_train:
        rel = (rel - rel.multiply(seen)).tocsr()
        rel.eliminate_zeros()
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    t0 = time.perf_counter()
    ranked = rank_items(scorer, users, k, seen if exclude_train else None, batch_size, train.shape[1])
    score_seconds = time.perf_counter() - t0
    ev = evaluate_rankings(ranked, rel[users], k=k, metrics=metrics, items=ItemStats.from_train(seen))
    return ScorerEvaluation(
        ev.metrics, ev.per_user, test.user_ids[users], ranked, fit_seconds, score_seconds
    )


def evaluate_split(
    scorer: Scorer, inter: Interactions, split: str = "stratified", split_args: dict[str, Any] | None = None,
    **kwargs,
) -> ScorerEvaluation:
    """One protocol end to end: split ``inter`` with ``roost.data.splits.SPLITS[split]``
    (``stratified``, ``leave-last``, ``time``), then :func:`evaluate_scorer`.

    Examples
    --------
    >>> from roost.recommend.baselines import Popularity
    >>> inter = Interactions.from_arrays(["u"] * 4 + ["v"] * 4, list("abcdabce"))
    >>> evaluate_split(Popularity(), inter, "stratified", {"seed": 1}, k=3).n_users
    2
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    train, test = SPLITS[split](inter, **(split_args or {}))
    return evaluate_scorer(scorer, train, test, **kwargs)


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold evaluations, and the mean and sample standard deviation over folds."""

    folds: list[ScorerEvaluation]
    mean: dict[str, float]
    std: dict[str, float]


def cross_validate(
    make_scorer: Callable[[], Scorer], folds: Iterable[tuple[Interactions, Interactions]], **kwargs
) -> CrossValidation:
    """A fresh scorer per ``(train, test)`` fold (such as the ML-100K u1-u5 folds of
    :func:`roost.data.splits.official_fold`), each through :func:`evaluate_scorer`."""
    runs = [evaluate_scorer(make_scorer(), train, test, **kwargs) for train, test in folds]
    if not runs:
        raise ValueError("no folds given")
    keys = list(runs[0].metrics)
    table = np.array([[r.metrics[key] for key in keys] for r in runs])
    std = table.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(len(keys))
    return CrossValidation(runs, dict(zip(keys, table.mean(axis=0).tolist(), strict=True)),
                           dict(zip(keys, std.tolist(), strict=True)))


@dataclass(frozen=True)
class Selection:
    """The best value of a grid and every value's validation score."""

    best: Any
    scores: dict[Any, float]
    metric: str


def select_on_validation(
    make_scorer: Callable[[Any], Scorer],
    grid: Sequence[Any],
    train: Interactions,
    metric: str = "ndcg@10",
    split: Callable[..., tuple[Interactions, Interactions]] = stratified_split,
    split_args: dict[str, Any] | None = None,
    **kwargs,
) -> Selection:
    """Pick a hyperparameter on a validation split carved from ``train`` only (the test
    set is never looked at): ``make_scorer(value)`` for each value of ``grid``.

    Examples
    --------
    >>> from roost.recommend.baselines import EASE
    >>> inter = Interactions.from_arrays(["u"] * 4 + ["v"] * 4, list("abcdabce"))
    >>> select_on_validation(lambda l2: EASE(l2=l2), [1.0, 10.0], inter, "hit_rate@2").metric
    'hit_rate@2'
    """
    if not grid:
        raise ValueError("empty grid")
    fit_part, valid = split(train, **(split_args or {}))
    scores: dict[Any, float] = {}
    for value in grid:
        ev = evaluate_scorer(make_scorer(value), fit_part, valid, metrics=[metric], **kwargs)
        scores[value] = next(iter(ev.metrics.values()))
    best = max(grid, key=lambda v: (np.nan_to_num(scores[v], nan=-np.inf)))
    return Selection(best, scores, next(iter(ev.metrics)))
