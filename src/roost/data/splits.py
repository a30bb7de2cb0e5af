"""Deterministic train/test splits over :class:`~roost.data.frames.Interactions`.

Each returns ``(train, test)`` as Interactions sharing the same id maps, so that score
matrices of one line up with relevance of the other.
"""

from __future__ import annotations

import numpy as np

from roost.data.frames import Interactions


def stratified_split(
    inter: Interactions, ratio: float = 0.75, seed: int = 42
) -> tuple[Interactions, Interactions]:
    """Per user, a random ``ratio`` of their events to train and the rest to test.

    Follows Microsoft Recommenders' ``python_stratified_split``: each user's events are
    shuffled with the seed and cut at ``round(ratio * n)``, so every user is in both sides
    (users with one event stay in train).

    Examples
    --------
    >>> inter = Interactions.from_arrays(["u"] * 4, ["a", "b", "c", "d"])
    >>> train, test = stratified_split(inter, 0.75, seed=1)
    >>> len(train), len(test)
    (3, 1)
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    rng = np.random.default_rng(seed)
    n = len(inter)
    order = np.lexsort((rng.random(n), inter.users))  # users grouped, random within
    users = inter.users[order]
    starts = np.searchsorted(users, users, side="left")
    counts = np.bincount(inter.users, minlength=len(inter.user_ids))[users]
    rank = np.arange(n) - starts
    cut = np.maximum(np.round(ratio * counts), 1)
    train = np.zeros(n, bool)
    train[order[rank < cut]] = True
    return inter.subset(train), inter.subset(~train)


def leave_last_n(inter: Interactions, n: int = 1) -> tuple[Interactions, Interactions]:
    """Per user, the last ``n`` events by time to test (ties broken by input order).

    Users with ``n`` or fewer events stay wholly in train.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    order = np.lexsort((np.arange(len(inter)), inter.ts, inter.users))
    users = inter.users[order]
    counts = np.bincount(inter.users, minlength=len(inter.user_ids))[users]
    ends = np.searchsorted(users, users, side="right")
    from_end = ends - np.arange(len(inter))
    test = np.zeros(len(inter), bool)
    test[order[(from_end <= n) & (counts > n)]] = True
    return inter.subset(~test), inter.subset(test)


def time_cut(inter: Interactions, cut: int | None = None, quantile: float = 0.8) -> tuple[Interactions, Interactions]:
    """Events before ``cut`` (epoch seconds) to train, the rest to test.

    Without ``cut``, the time at ``quantile`` of all events: the global time split that
    mimics deploying a model trained on the past.
    """
    if cut is None:
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        cut = int(np.quantile(inter.ts, quantile)) if len(inter) else 0
    train = inter.ts < cut
    return inter.subset(train), inter.subset(~train)


def official_fold(path, fold: str = "u1") -> tuple[Interactions, Interactions]:
    """An official MovieLens-100K fold (u1..u5, ua, ub) read from ``path``, with shared maps
    (items: the sorted union of both files)."""
    import pyarrow as pa

    from roost.data.datasets.movielens import MovieLens100K

    train, test = MovieLens100K.fold(path, fold)
    both = pa.concat_tables([train, test])
    inter = Interactions.from_arrays(
        both.column("user_id").to_numpy(zero_copy_only=False),
        both.column("item_id").to_numpy(zero_copy_only=False),
        both.column("value").to_numpy(),
        both.column("ts").to_numpy(),
    )
    is_train = np.zeros(len(inter), bool)
    is_train[: train.num_rows] = True
    return inter.subset(is_train), inter.subset(~is_train)


SPLITS = {"stratified": stratified_split, "leave-last": leave_last_n, "time": time_cut}
