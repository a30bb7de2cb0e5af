"""Known answers on the checkerboard: item-to-item, user-to-item and cluster recall stay in
the user's group; the learned ranker round-trips without pickle."""

from __future__ import annotations

import numpy as np
import pytest
from boards import served_board

from roost.recommend import spaces as spaces_mod
from roost.recommend.context import RecContext
from roost.recommend.learned import LearnedRanker
from roost.recommend.surfaces import default
from roost.recommend.training import time_split, train_ranker
from roost.recommend.vector_channels import ClusterRecall, ItemToItem, UserToItem, elbow


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    catalog, spaces = served_board(tmp_path_factory.mktemp("vc") / "home")
    return catalog, spaces["collab"]


@pytest.fixture
def ctx(board):
    return RecContext.from_catalog(board[0])


def group(user: str) -> str:
    return "a" if int(user[1:]) < 15 else "b"


def test_the_saved_faiss_index_is_served(board):
    assert board[1].index.kind == "faiss-hnsw" or board[1].index.kind == "hnsw"


@pytest.mark.parametrize("user", ["u1", "u7", "u16", "u28"])
def test_item_to_item_stays_in_group_and_says_why(board, ctx, user):
    ch = ItemToItem(board[1], cutoff=0.3)
    out = ch.candidates(ctx, user, 5)
    assert out
    liked = {ctx.item_ids[r] for r in ctx.liked(user, 10)}
    for r, _, why in out:
        assert ctx.item_ids[r].startswith(group(user))
        assert why["because"] in liked and why["similarity"] >= 0.3 and why["version"] == "collab"


def test_item_to_item_cutoff_is_respected(board, ctx):
    assert ItemToItem(board[1], cutoff=1.01).candidates(ctx, "u1", 5) == []


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("user", ["u2", "u22"])
def test_user_to_item_stays_in_group(board, ctx, user, multi):
    out = UserToItem(board[1], multi=multi).candidates(ctx, user, 4)
    assert out and all(ctx.item_ids[r].startswith(group(user)) for r, _, _ in out)


def test_user_to_item_folds_in_a_user_the_version_never_saw(board, ctx):
    for i in ("b1", "b2", "b3"):
        ctx.add_event("newcomer", i, "like", ts=10**7)
    out = UserToItem(board[1]).candidates(ctx, "newcomer", 4)
    assert out and all(ctx.item_ids[r].startswith("b") for r, _, _ in out)


def test_exact_and_index_neighbours_agree(board, monkeypatch):
    space = board[1]
    exact = space.neighbours(["a1", "b2"], 3)
    monkeypatch.setattr(spaces_mod, "EXACT_NEIGHBOUR_FLOPS", 0)
    space._nn.clear()
    via_index = space.neighbours(["a1", "b2"], 3)
    space._nn.clear()
    assert [[i for i, _ in h] for h in exact] == [[i for i, _ in h] for h in via_index]


def test_cluster_recall_finds_the_two_groups(board, ctx):
    ch = ClusterRecall(board[1], n_clusters=2).fit(ctx)
    clusters = {u: ch.assign_[u] for u in ctx.histories}
    assert len({clusters[f"u{i}"] for i in range(15)}) == 1
    assert clusters["u0"] != clusters["u20"]
    out = ch.candidates(ctx, "u3", 5)
    assert out and all(ctx.item_ids[r].startswith("a") for r, _, _ in out)


def test_cluster_recall_assigns_new_users_and_counts_live_events(board, ctx):
    ch = ClusterRecall(board[1], n_clusters=2).fit(ctx)
    ctx.add_event("late", "b4", "like", ts=ctx.now)
    assert ch.cluster_of(ctx, "late") == ch.assign_["u20"]
    before = ch.tally_[ch.assign_["u20"]][ctx.index["b5"]]
    ctx.add_event("late", "b5", "share", ts=ctx.now)
    ch.observe(ctx, "late", ctx.index["b5"], 3.0)
    assert ch.tally_[ch.assign_["u20"]][ctx.index["b5"]] == before + 3.0
    assert ch.refresh(ctx).assign_["late"] == ch.assign_["u20"]


def test_elbow_finds_four_blobs():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:4] * 10
    x = np.vstack([c + rng.normal(scale=0.3, size=(50, 8)) for c in centres]).astype(np.float32)
    assert elbow(x, 32) == 4


def test_time_split_labels_only_the_future(board):
    past, labels, cut = time_split(board[0], holdout=0.3)
    assert past.events.column("ts").to_numpy().max() < cut
    assert labels and all(i[0] == group(u) for u, items in labels.items() for i in items)


@pytest.mark.parametrize("model", ["lightgbm", "logistic"])
def test_learned_ranker_round_trips_without_pickle(board, tmp_path, model):
    catalog, space = board
    ranker, metrics = train_ranker(
        catalog,
        default()["home"],
        {},
        collab_params={"factors": 8, "iterations": 5},
        model=model,
        holdout=0.3,
    )
    assert metrics["model"] == model and metrics["train_users"] > 0
    folder = ranker.save(tmp_path / "r", metrics)
    assert {p.name for p in folder.iterdir()} <= {"ranker.json", "model.txt"}
    back = LearnedRanker.load(folder, spaces={"collab": space})
    x = np.random.default_rng(0).random((6, len(ranker.features_.names))).astype(np.float32)
    assert np.allclose(back.predict(x), ranker.predict(x))
    assert back.metrics["model"] == model
