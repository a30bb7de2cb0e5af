from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.data.frames import Interactions
from roost.data.splits import leave_last_n, stratified_split, time_cut


def _inter(n_users=20, per_user=8, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat([f"u{i}" for i in range(n_users)], per_user)
    items = [f"i{x}" for x in rng.integers(0, 50, len(users))]
    return Interactions.from_arrays(users, items, ts=rng.permutation(len(users)))


def test_stratified_is_per_user_and_deterministic():
    inter = _inter()
    a_train, a_test = stratified_split(inter, 0.75, seed=42)
    b_train, b_test = stratified_split(inter, 0.75, seed=42)
    c_train, _ = stratified_split(inter, 0.75, seed=7)
    assert np.array_equal(a_train.ts, b_train.ts) and np.array_equal(a_test.ts, b_test.ts)
    assert not np.array_equal(a_train.ts, c_train.ts)
    assert np.all(np.bincount(a_train.users) == 6) and np.all(np.bincount(a_test.users) == 2)
    assert a_train.user_ids is inter.user_ids  # shared maps


def test_leave_last_n_takes_the_latest():
    inter = _inter()
    train, test = leave_last_n(inter, 2)
    for u in range(len(inter.user_ids)):
        assert test.ts[test.users == u].min() > train.ts[train.users == u].max()
        assert (test.users == u).sum() == 2


def test_leave_last_keeps_short_histories_in_train():
    inter = Interactions.from_arrays(["a", "b", "b"], ["x", "x", "y"], ts=[1, 1, 2])
    train, test = leave_last_n(inter, 1)
    assert list(test.user_ids[test.users]) == ["b"] and len(train) == 2


def test_time_cut():
    inter = _inter()
    train, test = time_cut(inter, quantile=0.8)
    assert train.ts.max() < test.ts.min()
    assert len(test) == pytest.approx(0.2 * len(inter), abs=2)
    with pytest.raises(ValueError):
        time_cut(inter, quantile=1.5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 12), st.floats(0.1, 0.9), st.integers(0, 10))
def test_splits_partition_the_events(n_users, per_user, ratio, seed):
    inter = _inter(n_users, per_user, seed)
    for train, test in (stratified_split(inter, ratio, seed), leave_last_n(inter, 1), time_cut(inter)):
        assert len(train) + len(test) == len(inter)
        both = sorted(np.concatenate([train.ts, test.ts]).tolist())
        assert both == sorted(inter.ts.tolist())
