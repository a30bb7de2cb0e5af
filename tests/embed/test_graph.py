"""DeepWalk and node2vec as recommenders: user . item ranks what users go on to consume."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from roost.data.frames import Catalog
from roost.embed import get

N_ITEMS = 100
N_GROUPS = 4


def preference(seed: int) -> np.ndarray:
    """(group, item) probabilities: a global Zipf popularity, times 4 in the group's taste."""
    group_of = np.random.default_rng(1000 + seed).permutation(N_ITEMS) % N_GROUPS
    base = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    w = base * np.where(group_of[None, :] == np.arange(N_GROUPS)[:, None], 4.0, 1.0)
    return w / w.sum(axis=1, keepdims=True)


def sampled(seed: int, n_users: int = 120, per_user: int = 12) -> Catalog:
    """Users ``0..n_users-1`` (group ``k % 4``) draw items ``0..99`` from their group's row.

    Users and items are both numbered from 0, so their ids collide.
    """
    rng = np.random.default_rng(seed)
    w = preference(seed)
    u, i = [], []
    for k in range(n_users):
        for j in rng.choice(N_ITEMS, per_user, replace=False, p=w[k % N_GROUPS]):
            u.append(str(k))
            i.append(str(j))
    return Catalog.from_pydict(
        items={"id": [str(j) for j in range(N_ITEMS)]},
        events={
            "user_id": u,
            "item_id": i,
            "kind": ["view"] * len(u),
            "value": [1.0] * len(u),
            "ts": list(range(len(u))),
        },  # fmt: skip
    )


def scores(model, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, user x item scores in the model's metric, catalog item order)."""
    users, items = model.user_embedding_set(catalog), model.embedding_set(catalog)
    uv, iv = users.vectors, items.vectors
    if model.metric == "cosine":
        uv = uv / np.linalg.norm(uv, axis=1, keepdims=True)
        iv = iv / np.linalg.norm(iv, axis=1, keepdims=True)
    return users.ids, uv @ iv.T


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["deepwalk", "node2vec"])
def test_user_item_scores_follow_what_users_consume(name, seed):
    # Scoring skip-gram input vectors of users against input vectors of items (and word2vec's
    # 0.75 negative sampling, which divides popularity out) gave rank correlations of
    # 0.23-0.35 with the true preferences here; users against the items' output vectors
    # with uniform negatives give 0.52-0.63.
    c = sampled(seed)
    ids, s = scores(get(name)(seed=seed).fit(c), c)
    truth = preference(seed)[np.array([int(u) for u in ids]) % N_GROUPS]
    rho = [spearmanr(s[r], truth[r]).statistic for r in range(len(ids))]
    assert np.mean(rho) > 0.45


def test_user_and_item_with_the_same_id_are_two_nodes():
    # user "0" consumed items 1 and 2; item "0" was consumed by user "1" only
    c = Catalog.from_pydict(
        items={"id": ["0", "1", "2", "3"]},
        events={
            "user_id": ["0", "0", "1", "1"],
            "item_id": ["1", "2", "0", "3"],
            "kind": ["view"] * 4,
            "value": [1.0] * 4,
            "ts": [1, 2, 3, 4],
        },  # fmt: skip
    )
    m = get("deepwalk")(embedding_dim=8, walk_length=6, walks_per_node=2, sample=0).fit(c)
    assert m.training_["n_edges"] == 4 and m.training_["n_walks"] == 2 * 6
    assert m.user_embedding_set(c).ids.tolist() == ["0", "1"]
    assert m.transform(c).shape == (4, 8) and not m.cold_items_.any()
