"""A learned ranker over several recall channels: LightGBM lambdarank on candidate features.

The recipe of the seeds' ranking stage, run offline: each channel (a scorer: EASE, item
kNN, ALS ...) proposes its best ``n_candidates`` items per user; each (user, candidate)
pair gets features (every channel's per-user standardised score and its rank);
LightGBM's lambdarank learns to order them, monotone in each feature. Item popularity and
history length as features measured worse on ML-100K (the ranker fit the validation
split's item frequencies), so they are left out.

The ranker is trained on a validation split carved out of the training data (the channels
fit on the rest of it and the held-out part gives the labels), never on the test split;
then the channels are refit on the whole training data and the ranker orders their
candidates for the users under test. Features are per-user standardised scores and ranks
rather than raw scores, because a channel refit on more data scores on another scale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from roost.data.frames import Interactions
from roost.data.splits import stratified_split
from roost.embed.item2vec import require
from roost.evaluate.ranking import relevance_matrix
from roost.evaluate.scorers import standardise
from roost.recommend.baselines import as_binary_csr
from roost.types import NotFittedError, RoostError

# Candidate scores sit above this offset, everything else below it, so the ranker decides
# the head of the list and the first channel still orders the tail.
_TAIL = -1.0e4


def _zscore(s: np.ndarray) -> np.ndarray:
    """Per row, scores standardised over the finite cells (masked ones get the row's
    lowest), so that a channel refit on more data keeps its scale."""
    finite = np.isfinite(s)
    low = np.where(finite, s, np.inf).min(axis=1, keepdims=True)
    return standardise(np.where(finite, s, np.where(np.isfinite(low), low, 0.0)))


def _ranks(s: np.ndarray) -> np.ndarray:
    """Per row, the rank of each column by descending score (0 is the best)."""
    order = np.argsort(-s, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(s.shape[1])[None, :], axis=1)
    return ranks


class LearnedRanker:
    """LightGBM lambdarank over the candidates of several channels (a scorer).

    Parameters
    ----------
    channels : name -> factory of an unfitted scorer; the first one orders the items
        outside the candidate set.
    n_candidates : items each channel proposes per user (their union is ranked).
    split : ``split(train) -> (fit_part, valid)``, the validation split the ranker learns
        on; default a per-user stratified 75/25 split with ``seed``.
    threshold : a validation event is a positive label when its value >= threshold.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM's.
    seed : seeds the split and LightGBM (deterministic mode).
    n_threads : LightGBM threads.

    Examples
    --------
    >>> from roost.recommend.baselines import EASE, Popularity
    >>> rng = np.random.default_rng(0)
    >>> inter = Interactions.from_arrays(rng.integers(0, 40, 600).astype(str),
    ...                                  rng.integers(0, 30, 600).astype(str))
    >>> lr = LearnedRanker({"ease": lambda: EASE(l2=10.0), "pop": Popularity},
    ...                    n_candidates=10, n_estimators=5).fit(inter)
    >>> lr.score([0, 1]).shape
    (2, 30)
    """

    def __init__(
        self,
        channels: Mapping[str, Callable[[], Any]],
        n_candidates: int = 50,
        split: Callable[[Interactions], tuple[Interactions, Interactions]] | None = None,
        threshold: float | None = None,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        seed: int = 42,
        n_threads: int = 1,
    ):
        self.channels = channels
        self.n_candidates = n_candidates
        self.split = split
        self.threshold = threshold
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.seed = seed
        self.n_threads = n_threads

    @property
    def feature_names(self) -> list[str]:
        return [f"{c}_{what}" for c in self.channels for what in ("z", "rank")]

    def _fit_channels(self, train: Interactions) -> dict[str, Any]:
        return {name: make().fit(train) for name, make in self.channels.items()}

    def _features(self, scorers: dict[str, Any], history: sp.csr_array, rows: np.ndarray):
        """Candidates and features of a batch of users: ``(mask, X, first)``, ``X`` the
        features of the ``mask`` cells in row-major order, ``first`` the first channel's
        standardised scores (they order the items outside the candidates)."""
        hist = history[rows]
        seen = (np.repeat(np.arange(len(rows)), np.diff(hist.indptr)), hist.indices)
        mask = np.zeros((len(rows), history.shape[1]), bool)
        keep = min(self.n_candidates, history.shape[1])
        cols, first = [], None
        for scorer in scorers.values():
            s = np.array(scorer.score(rows), np.float32)
            s[np.isnan(s)] = -np.inf
            s[seen] = -np.inf
            z, r = _zscore(s), _ranks(s).astype(np.float32)
            np.put_along_axis(mask, np.argpartition(r, keep - 1, axis=1)[:, :keep], True, axis=1)
            cols += [z, np.log1p(r)]
            first = z if first is None else first
        mask[seen] = False
        return mask, np.stack([c[mask] for c in cols], axis=1), first

    def fit(self, train: Interactions) -> Self:
        if not self.channels:
            raise RoostError("the learned ranker needs at least one channel")
        lgb = require("lightgbm", "the learned ranker")
        split = self.split or (lambda t: stratified_split(t, 0.75, seed=self.seed))
        fit_part, valid = split(train)
        history = as_binary_csr(fit_part)
        rel = relevance_matrix(valid, self.threshold)
        rel = (rel - rel.multiply(history)).tocsr()
        rel.eliminate_zeros()
        users = np.flatnonzero(np.diff(rel.indptr) > 0)
        if len(users) == 0:
            raise RoostError("the learned ranker's validation split has no relevant event")
        scorers = self._fit_channels(fit_part)
        xs, ys, groups = [], [], []
        for lo in range(0, len(users), 512):
            rows = users[lo : lo + 512]
            mask, x, _ = self._features(scorers, history, rows)
            labels = rel[rows].toarray()[mask] > 0
            per_user = mask.sum(axis=1)
            hits = np.add.reduceat(labels, np.r_[0, np.cumsum(per_user)[:-1]]) if len(x) else []
            # Users whose candidates hold no positive teach lambdarank nothing.
            useful = np.repeat((np.asarray(hits) > 0) & (per_user > 0), per_user)
            xs.append(x[useful])
            ys.append(labels[useful].astype(np.int32))
            groups += [int(n) for n, h in zip(per_user, hits, strict=True) if n and h]
        if not groups:
            raise RoostError("no channel's candidates hold a validation positive: nothing to learn")
        self.model_ = lgb.LGBMRanker(
            objective="lambdarank",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            # A higher score or a better rank in any channel never lowers an item: without
            # this the ranker fits the validation split's quirks and loses to its own
            # best channel on test (measured on ML-100K).
            monotone_constraints=[1, -1] * len(self.channels),
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=self.n_threads,
            verbose=-1,
        )
        # Arrays without column names: names given here would make every later predict
        # on a plain array warn (scikit-learn's feature-name check).
        self.model_.fit(np.concatenate(xs), np.concatenate(ys), group=groups)
        self.training_ = {"users": len(groups), "rows": int(sum(groups)),
                          "positives": int(sum(int(y.sum()) for y in ys))}  # fmt: skip
        self.scorers_ = self._fit_channels(train)
        self.history_ = as_binary_csr(train)
        return self

    def score(self, users) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError("LearnedRanker is not fitted: call fit(train) first")
        rows = np.asarray(users, np.int64)
        mask, x, first = self._features(self.scorers_, self.history_, rows)
        out = (_TAIL + np.clip(first, -50.0, 50.0)).astype(np.float32)
        if len(x):
            out[mask] = self.model_.predict(x, num_threads=self.n_threads)
        return out

    def importances(self) -> dict[str, float]:
        """Gain importance of each feature, as shares of the total."""
        if not hasattr(self, "model_"):
            raise NotFittedError("LearnedRanker is not fitted: call fit(train) first")
        gain = self.model_.booster_.feature_importance("gain")
        total = float(gain.sum()) or 1.0
        return {
            n: round(float(g) / total, 4) for n, g in zip(self.feature_names, gain, strict=True)
        }
