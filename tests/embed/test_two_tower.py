"""Two-tower specifics beyond the conformance suite: cold start from content, user fold-in,
user fields, the optional torch extra, and the training helpers' invariants."""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.data.frames import Catalog
from roost.embed import get
from roost.embed.base import Embedder
from roost.embed.two_tower import TwoTower
from roost.types import NotFittedError, RoostError, UnknownIdError

torch = pytest.importorskip("torch")

FAST = {"embedding_dim": 16, "hidden": 32, "epochs": 8, "batch_size": 64}
WORDS = {
    "a": "owl wren finch robin heron crane swan stork".split(),
    "b": "bolt nut screw gear axle lever pulley spring".split(),
}


def board(seed: int = 0, content: bool = True, n_items: int = 8, n_users: int = 16) -> Catalog:
    """Two item groups, two user groups; each user consumes 5 items of their own group.

    With ``content`` the groups also have disjoint words, tags and categories; without it
    items are bare ids, so only the events can separate them. Users ``ua*`` have a
    ``group`` field; ``ub*`` users have none.
    """
    rng = np.random.default_rng(seed)
    items: dict[str, list] = {"id": [], "title": [], "tags": [], "category": []}
    for g, words in WORDS.items():
        for i in range(n_items):
            items["id"].append(f"{g}{i}")
            items["title"].append(" ".join(rng.choice(words, 3)) if content else None)
            items["tags"].append([f"tag-{g}"] if content else None)
            items["category"].append(f"cat-{g}" if content else None)
    ev: dict[str, list] = {"user_id": [], "item_id": [], "kind": [], "value": [], "ts": []}
    for g in WORDS:
        for u in range(n_users):
            for t, i in enumerate(rng.choice(n_items, 5, replace=False)):
                ev["user_id"].append(f"u{g}{u:02d}")
                ev["item_id"].append(f"{g}{i}")
                ev["kind"].append("like")
                ev["value"].append(1.0)
                ev["ts"].append(100 * u + t)
    user_ids = [f"ua{u:02d}" for u in range(n_users)] + ["lonely"]
    fields = [json.dumps({"group": "a"})] * n_users + [json.dumps({"group": "b"})]
    return Catalog.from_pydict(items=items, events=ev, users={"id": user_ids, "fields": fields})


def group(ids) -> np.ndarray:
    return np.array([str(i).removeprefix("new-").removeprefix("u")[0] for i in ids])


@pytest.fixture(scope="module")
def data() -> Catalog:
    return board()


@pytest.fixture(scope="module")
def model(data) -> TwoTower:
    return TwoTower(**FAST).fit(data)


def test_registered():
    assert get("two-tower") is TwoTower
    assert TwoTower.supports_new_items and TwoTower.learns_users and TwoTower.collaborative


# --- known answers ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_checkerboard_from_events_alone(seed):
    """Bare ids: each item's nearest neighbour is in its group, and so is each user's."""
    data = board(seed, content=False, n_items=6, n_users=20)
    tt = TwoTower(**{**FAST, "epochs": 20, "batch_size": 32}, seed=seed).fit(data)
    v = tt.transform(data)
    g = group(data.item_ids)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    assert (g[sim.argmax(1)] == g).all()
    same = g[:, None] == g[None, :]
    np.fill_diagonal(same, False)
    within = np.array([sim[i, same[i]].mean() for i in range(len(g))])
    across = np.array([sim[i, g != g[i]].mean() for i in range(len(g))])
    assert (within > across).all()
    users = tt.user_embedding_set(data)
    ug = group(users.ids)
    has_events = ug != "l"  # "lonely" has no events
    best = (users.vectors @ v.T).argmax(1)
    assert (g[best][has_events] == ug[has_events]).all()


def test_unseen_items_embed_from_their_content(model, data):
    """New ids share the unknown-id row; their words, tags and category place them."""
    new = Catalog.from_pydict(
        items={"id": ["new-a", "new-b"], "title": ["owl heron swan", "gear axle bolt"],
               "tags": [["tag-a"], ["tag-b"]], "category": ["cat-a", "cat-b"]})  # fmt: skip
    v = model.transform(new)
    assert v.shape == (2, 16) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    sim = v @ model.transform(data).T
    g = group(data.item_ids)
    for r, want in enumerate("ab"):
        assert sim[r, g == want].mean() > sim[r, g != want].mean()


def test_items_without_an_id_row_depend_only_on_content(data):
    """min_item_events above every count: all items use row 0, so same content, same vector."""
    tt = TwoTower(**FAST, min_item_events=10_000).fit(data)
    assert tt.id_vocab_ == []
    twin = Catalog.from_pydict(items={"id": ["x", "y"], "title": ["owl wren", "owl wren"]})
    v = tt.transform(twin)
    np.testing.assert_array_equal(v[0], v[1])


# --- users ----------------------------------------------------------------------------------
def test_user_vector_folds_in_like_the_user_set(model, data):
    users = model.user_embedding_set(data)
    assert users.ids.tolist() == sorted(users.ids.tolist())
    assert users.metric == "cosine" and users.normalized and users.kind == "user"
    by_id = dict(zip(users.ids, users.vectors, strict=True))
    inter = data.interactions()
    seqs = dict(zip(inter.user_ids, inter.sequences(), strict=True))
    hist = [str(x) for x in inter.item_ids[seqs["ua03"]]]
    np.testing.assert_allclose(
        model.user_vector(hist, {"group": "a"}), by_id["ua03"], rtol=1e-5, atol=1e-6
    )
    hist = [str(x) for x in inter.item_ids[seqs["ub03"]]]  # no users-table row: no fields
    np.testing.assert_allclose(model.user_vector(hist), by_id["ub03"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        model.user_vector([], {"group": "b"}), by_id["lonely"], rtol=1e-5, atol=1e-6
    )


def test_user_fields_move_the_vector(model):
    assert not np.allclose(model.user_vector([], {"group": "a"}), model.user_vector([]))
    batch = model.user_vectors([["a1", "a2"], []], [{"group": "a"}, {}])
    assert batch.shape == (2, 16) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[1], model.user_vector([]), rtol=1e-5, atol=1e-6)


def test_user_vector_errors(model):
    with pytest.raises(UnknownIdError, match="nope"):
        model.user_vector(["a1", "nope"])
    with pytest.raises(RoostError, match="2 histories"):
        model.user_vectors([["a1"], ["b1"]], [{}])
    with pytest.raises(NotFittedError):
        TwoTower().user_vector(["a1"])
    with pytest.raises(NotFittedError):
        TwoTower().user_embedding_set(Catalog())


def test_bad_user_fields_json_is_a_clear_error(data):
    users = Catalog.from_pydict(users={"id": ["ua00"], "fields": ["{oops"]}).users
    bad = Catalog(items=data.items, events=data.events, users=users)
    with pytest.raises(RoostError, match="ua00"):
        TwoTower(**FAST).fit(bad)


def test_attention_pooling(data):
    tt = TwoTower(**FAST, pooling="attention").fit(data)
    users = tt.user_embedding_set(data)
    assert np.isfinite(users.vectors).all()
    score = users.vectors @ tt.transform(data).T
    g, ug = group(data.item_ids), group(users.ids)
    for r in np.flatnonzero(ug != "l"):
        assert score[r, g == ug[r]].mean() > score[r, g != ug[r]].mean()


# --- persistence and provenance ------------------------------------------------------------
def test_save_load_keeps_user_vectors(model, data, tmp_path):
    loaded = Embedder.load(model.save(tmp_path / "tt"))
    np.testing.assert_array_equal(
        loaded.user_embedding_set(data).vectors, model.user_embedding_set(data).vectors
    )
    hist = ["a1", "a3"]
    np.testing.assert_array_equal(loaded.user_vector(hist), model.user_vector(hist))
    doc = json.loads((tmp_path / "tt" / "embedder.json").read_text())
    assert doc["state"]["id_vocab"] == model.id_vocab_


def test_embedding_set_reports_the_loss(model, data):
    s = model.embedding_set(data)
    assert s.normalized and len(s.extra["loss"]) == FAST["epochs"]
    assert s.extra["loss"][-1] < s.extra["loss"][0]


def test_seed_matters(data, model):
    other = TwoTower(**FAST, seed=1).fit(data)
    assert not np.array_equal(other.transform(data), model.transform(data))


def _torch_globals() -> tuple:
    return (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_rng_state())  # fmt: skip


def _assert_same_globals(before: tuple) -> None:
    now = _torch_globals()
    assert now[:3] == before[:3]
    assert torch.equal(now[3], before[3])


@pytest.fixture
def pinned_torch():
    """A known starting state, whatever earlier tests left (the fine-tune and the
    sentence-transformers backend used to leave their seed and thread count behind, which
    made this module's results depend on the order tests ran in); restored afterwards."""
    saved = _torch_globals()
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.set_rng_state(saved[3])


def test_torch_global_state_is_restored(data, pinned_torch):
    before = _torch_globals()
    TwoTower(**{**FAST, "epochs": 1}, n_threads=2).fit(data).transform(data)
    _assert_same_globals(before)  # warn-only too: it used to come back as False


def test_torch_state_is_restored_when_setting_it_fails(pinned_torch):
    """A refused thread count used to leave deterministic mode switched on."""
    from roost.embed.torch_state import torch_state

    torch.use_deterministic_algorithms(False)
    before = _torch_globals()
    with pytest.raises(RuntimeError), torch_state(seed=0, n_threads=-1, deterministic=True):
        pass
    _assert_same_globals(before)
    with pytest.raises(ValueError), torch_state(seed=0, n_threads=2, deterministic=True):
        raise ValueError("inside the block")
    _assert_same_globals(before)
    with pytest.raises(RoostError, match="n_threads"):
        TwoTower(**FAST, n_threads=-1).fit(board())


# --- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        ({"pooling": "max"}, "pooling"),
        ({"text_fields": ("body",)}, "text_fields"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"temperature": 0.0}, "temperature"),
        ({"event_kinds": ("purchase",)}, "event_kinds"),
    ],
)
def test_bad_parameters_and_filtered_out_events(data, params, match):
    with pytest.raises(RoostError, match=match):
        TwoTower(**{**FAST, **params}).fit(data)


def test_missing_torch_names_the_extra(monkeypatch, data):
    # Importing the method must not need torch; building a model must say what to install.
    monkeypatch.setitem(sys.modules, "torch", None)
    for mod in ("roost.embed.two_tower", "roost.embed.two_tower_model"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    fresh = importlib.import_module("roost.embed.two_tower")
    with pytest.raises(RoostError, match=r"roost\[torch\]"):
        fresh.TwoTower(**FAST).fit(data)


# --- invariants -----------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_in_history_matches_the_broadcast(b, length, seed):
    from roost.embed.two_tower_model import _in_history

    rng = np.random.default_rng(seed)
    hist = rng.integers(-1, 8, (b, length))
    target = rng.integers(0, 8, b)
    want = (hist[:, :, None] == target[None, None, :]).any(1)
    np.testing.assert_array_equal(_in_history(hist, target), want)


events = st.lists(
    st.tuples(st.sampled_from("pqrs"), st.sampled_from("abcdef"), st.integers(0, 50)),
    min_size=1, max_size=30,
)  # fmt: skip


@settings(max_examples=8, deadline=None)
@given(events)
def test_any_event_log_round_trips(tmp_path_factory, log):
    users, items, ts = zip(*log, strict=True)
    data = Catalog.from_pydict(
        items={"id": list("abcdef"), "title": ["x y", None, "z", "", "x", None]},
        events={"user_id": list(users), "item_id": list(items), "kind": ["view"] * len(log),
                "value": [1.0] * len(log), "ts": list(ts)},
    )  # fmt: skip
    tt = TwoTower(embedding_dim=4, hidden=8, epochs=1, batch_size=8).fit(data)
    v = tt.transform(data)
    assert v.shape == (6, 4) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    u = tt.user_embedding_set(data)
    assert sorted(set(users)) == u.ids.tolist() and np.isfinite(u.vectors).all()
    loaded = Embedder.load(tt.save(tmp_path_factory.mktemp("tt")))
    np.testing.assert_array_equal(loaded.transform(data), v)
    np.testing.assert_array_equal(loaded.user_embedding_set(data).vectors, u.vectors)
