"""Real data shipped with the package: the bundled MovieTweetings 100K catalog."""

from __future__ import annotations

import numpy as np
import pytest
from monitor_helpers import random_rotation
from sklearn.decomposition import TruncatedSVD

from roost.data.datasets import load
from roost.monitor import compare_versions, drift, time_split, window_vectors
from roost.types import EmbeddingSet


@pytest.fixture(scope="module")
def movies():
    """Item vectors from truncated SVD (two seeds) of movies with at least 5 ratings."""
    inter = load("movietweetings").catalog().interactions()
    csr = inter.to_csr().T.tocsr()
    keep = np.bincount(inter.items, minlength=len(inter.item_ids)) >= 5
    sets = []
    for seed in (0, 1):
        v = TruncatedSVD(32, random_state=seed).fit_transform(csr)[keep].astype(np.float32)
        sets.append(EmbeddingSet(inter.item_ids[keep], v, f"svd-{seed}", {}, "mt"))
    return inter, sets


def test_seeds_agree_far_above_chance_and_controls_give_known_answers(movies):
    _, (a, b) = movies
    r = compare_versions(a, b, k=10)
    assert r.counts["shared"] > 2000
    assert 20 * r.overlap["chance_mean"] < r.overlap["mean"] < 1.0
    rotated = EmbeddingSet(a.ids, (a.vectors @ random_rotation(32, seed=0)).astype(np.float32),
                           "rotated", {}, "mt")  # fmt: skip
    r = compare_versions(a, rotated, k=10)
    assert r.overlap["mean"] > 0.999 and r.procrustes["disparity"] < 1e-6
    shuffled = EmbeddingSet(np.random.default_rng(0).permutation(a.ids), a.vectors, "s", {}, "mt")
    r = compare_versions(a, shuffled, k=10)
    assert r.overlap["mean"] < 3 * r.overlap["chance_mean"]


def test_time_windows_drift_and_shuffled_times_do_not(movies):
    inter, (space, _) = movies
    (cut,) = time_split(inter.ts)
    # ~44k events per window; 10k sampled per side keep the test quick and still decide.
    fast = {m: {"n_permutations": 99, "max_samples": 10_000} for m in ("kl", "mean")}
    early, late = window_vectors(space, inter, end=cut), window_vectors(space, inter, start=cut)
    assert all(r.drifted for r in drift(early, late, ["kl", "mean"], params=fast))
    # Control: the same events with their times shuffled are one distribution.
    shuffled = type(inter)(inter.user_ids, inter.item_ids, inter.users, inter.items,
                           inter.values, np.random.default_rng(0).permutation(inter.ts))  # fmt: skip
    early = window_vectors(space, shuffled, end=cut)
    late = window_vectors(space, shuffled, start=cut)
    assert not any(r.drifted for r in drift(early, late, ["kl", "mean"], params=fast))
