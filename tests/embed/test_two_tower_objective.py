"""Two-tower training examples: an event is predicted from the user's other items."""

from __future__ import annotations

import numpy as np
import pytest

from roost.data.frames import Catalog
from roost.embed.two_tower import TwoTower

torch = pytest.importorskip("torch")
from roost.embed.two_tower_model import HISTORIES  # noqa: E402

FAST = {"embedding_dim": 16, "hidden": 32, "epochs": 30, "batch_size": 32}


def first_items(seed: int, n_users: int = 24) -> Catalog:
    """Bare ids; every user's first event is their group's opener (``a0`` or ``b0``), then
    three of the group's other items (``a1..a5`` or ``b1..b5``)."""
    rng = np.random.default_rng(seed)
    u, i, ts = [], [], []
    for k in range(n_users):
        g = "ab"[k % 2]
        for t, j in enumerate([0, *(rng.permutation(5)[:3] + 1)]):
            u.append(f"u{k:02d}")
            i.append(f"{g}{j}")
            ts.append(100 * k + t)
    return Catalog.from_pydict(
        items={"id": [f"{g}{j}" for g in "ab" for j in range(6)]},
        events={
            "user_id": u,
            "item_id": i,
            "kind": ["like"] * len(u),
            "value": [1.0] * len(u),
            "ts": ts,
        },  # fmt: skip
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_an_item_consumed_first_is_learned_from_what_follows(seed):
    # With next-item training a0 and b0 were only ever predicted from an empty history, so
    # both were pulled to that one user vector and became each other's nearest item.
    c = first_items(seed)
    v = TwoTower(**FAST, seed=seed).fit(c).transform(c)
    group = np.array([str(x)[0] for x in c.item_ids])
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    assert (group[sim.argmax(axis=1)] == group).all()


def test_held_out_histories_hold_the_users_other_items():
    # two users: items 10..14, then 20..21 (flat, in time order)
    flat = np.array([10, 11, 12, 13, 14, 20, 21])
    start, length = np.array([0, 0, 5, 0]), np.array([5, 5, 2, 5])
    end = np.array([0, 4, 6, 2])
    rng = np.random.default_rng(0)
    steps = np.arange(3)
    for _ in range(20):
        h = HISTORIES["held-out"](flat, start, length, end, steps, rng)
        assert h.shape == (4, 3)
        for r in range(4):
            got = h[r][h[r] >= 0]
            mine = set(flat[start[r] : start[r] + length[r]]) - {flat[end[r]]}
            assert set(got) <= mine and len(got) == len(set(got))
            assert len(got) >= min(3, length[r]) - 1
    # the first event gets later items; the next-item form gives it none
    assert (HISTORIES["held-out"](flat, start, length, end, steps, rng)[0] >= 0).any()
    assert (HISTORIES["next-item"](flat, start, length, end, steps, rng)[0] < 0).all()
