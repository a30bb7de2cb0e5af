"""item2vec, DeepWalk, node2vec, ALS and BPR: known answers, fold-in, walks, errors."""

from __future__ import annotations

import sys

import implicit.utils
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info, threadpool_limits

from roost.data.frames import Catalog, Interactions
from roost.embed import get
from roost.embed.base import Embedder, id_directions
from roost.embed.graph import bipartite, random_walks
from roost.types import NotFittedError, RoostError, UnknownIdError

HALF = 10  # items per group
# Small, fast settings that still learn the checkerboard (tests pin threads to 1).
FAST = {
    "item2vec": dict(embedding_dim=8, sample=0.0, epochs=20, n_threads=1),
    "deepwalk": dict(
        embedding_dim=8, sample=0.0, walk_length=10, walks_per_node=5, epochs=5, n_threads=1
    ),
    "node2vec": dict(
        embedding_dim=8, sample=0.0, walk_length=10, walks_per_node=5, p=2.0, q=0.5, epochs=5,
        n_threads=1,
    ),
    "als": dict(factors=4, regularization=0.1, n_threads=1),
    "bpr": dict(factors=4, learning_rate=0.1, iterations=300, regularization=0.05, n_threads=1),
}
METHODS = list(FAST)
USER_METHODS = ["deepwalk", "node2vec", "als", "bpr"]
# (registry name, extra params): item2vec's set form is a known-answer case of its own
VARIANTS = [(m, {}) for m in METHODS] + [("item2vec", {"mode": "set"})]


def checkerboard(seed: int = 0, n_users: int = 40, per_user: int = 8) -> Catalog:
    """Even users consume group A (i0..i9), odd users group B (i10..i19); "cold" has no event."""
    rng = np.random.default_rng(seed)
    u, i, ts, val = [], [], [], []
    for k in range(n_users):
        pick = rng.permutation(HALF)[:per_user] + (k % 2) * HALF
        for t, j in enumerate(pick):
            u.append(f"u{k}")
            i.append(f"i{j}")
            ts.append(1000 * k + t)
            val.append(float(1 + t % 5))
    items = [f"i{j}" for j in range(2 * HALF)] + ["cold"]
    return Catalog.from_pydict(
        items={"id": items},
        users={"id": [f"u{k}" for k in range(n_users)] + ["lurker"]},
        events={"user_id": u, "item_id": i, "kind": ["view"] * len(u), "value": val, "ts": ts},
    )


def group(ids) -> np.ndarray:
    """The group of items ``i<j>`` (j // 10) or users ``u<k>`` (k % 2)."""
    return np.array([int(x[1:]) // HALF if x[0] == "i" else int(x[1:]) % 2 for x in map(str, ids)])


def similarities(vectors: np.ndarray, metric: str) -> np.ndarray:
    if metric == "cosine":
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors @ vectors.T


def make(name: str, **params) -> Embedder:
    return get(name)(**{**FAST[name], **params})


@pytest.fixture(scope="module")
def board() -> Catalog:
    return checkerboard()


@pytest.fixture(scope="module")
def fitted(board) -> dict[str, Embedder]:
    return {name: make(name).fit(board) for name in METHODS}


# --- known answers ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("name", "extra"), VARIANTS, ids=[*METHODS, "item2vec-set"])
def test_checkerboard_every_same_group_item_is_nearer_than_every_other(name, extra, seed):
    c = checkerboard(seed)
    s = make(name, seed=seed, **extra).fit(c).embedding_set(c)
    warm = s.ids != "cold"
    sim = similarities(s.vectors[warm], s.metric)
    g = group(s.ids[warm])
    for r in range(len(g)):
        same = (g == g[r]) & (np.arange(len(g)) != r)
        assert sim[r, same].min() > sim[r, g != g[r]].max(), (name, s.ids[warm][r])


@pytest.mark.parametrize("name", USER_METHODS)
def test_users_score_their_own_group_items_higher(fitted, board, name):
    m = fitted[name]
    users, items = m.user_embedding_set(board), m.embedding_set(board)
    assert users.kind == "user" and users.metric == items.metric == m.metric
    warm = items.ids != "cold"
    iv, uv = items.vectors[warm], users.vectors
    if m.metric == "cosine":
        iv = iv / np.linalg.norm(iv, axis=1, keepdims=True)
        uv = uv / np.linalg.norm(uv, axis=1, keepdims=True)
    scores = uv @ iv.T
    ug, ig = group(users.ids), group(items.ids[warm])
    assert set(ug) == {0, 1}
    # MF fits each user's own pattern (an unconsumed own-group item may score low), so
    # ask for the head of the ranking and the averages, not every pair
    top = np.argsort(-scores, axis=1)[:, : HALF // 2]
    assert (ig[top] == ug[:, None]).all()
    own = np.where(ug[:, None] == ig[None, :], scores, np.nan)
    other = np.where(ug[:, None] != ig[None, :], scores, np.nan)
    assert (np.nanmean(own, axis=1) > np.nanmean(other, axis=1)).all()


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_fold_in_of_group_a_items_ranks_group_a_first(fitted, board, name):
    m = fitted[name]
    v = m.fold_in_user(["i0", "i1", "i2"])
    assert v.shape == (m.dim,) and v.dtype == np.float32
    s = m.embedding_set(board)
    top = s.ids[np.argsort(-(s.vectors @ v))[: HALF // 2]]
    assert (group(top) == 0).all()


def test_als_fold_in_reproduces_a_training_users_vector(fitted, board):
    m = fitted["als"]
    inter = board.interactions()
    histories = [inter.item_ids[seq].tolist() for seq in inter.sequences()]
    folded = m.fold_in_users(histories)
    trained = m.user_embedding_set(board)
    assert list(trained.ids) == list(inter.user_ids)
    cos = (folded * trained.vectors).sum(1) / (
        np.linalg.norm(folded, axis=1) * np.linalg.norm(trained.vectors, axis=1)
    )
    assert cos.min() > 0.99


def test_fold_in_batch_matches_single_and_binary_ignores_values(fitted):
    m = fitted["als"]
    batch = m.fold_in_users([["i0", "i3"], ["i12"]])
    assert np.allclose(batch[1], m.fold_in_user(["i12"]), atol=1e-6)
    assert np.array_equal(m.fold_in_user(["i0", "i3"], values=[5.0, 1.0]), batch[0])


def test_als_with_values_weighs_strong_events_more(board):
    m = make("als", binary=False).fit(board)
    a, b = m.fold_in_user(["i0", "i10"], values=[9.0, 1.0]), m.fold_in_user(["i0", "i10"], values=[1.0, 9.0])
    s = m.embedding_set(board)
    assert s.ids[np.argmax(s.vectors @ a)] in {f"i{j}" for j in range(HALF)}
    assert s.ids[np.argmax(s.vectors @ b)] in {f"i{j}" for j in range(HALF, 2 * HALF)}


# --- contract details -------------------------------------------------------------------
@pytest.mark.parametrize("name", METHODS)
def test_cold_item_gets_the_documented_fallback(fitted, board, name):
    s = fitted[name].embedding_set(board)
    assert s.extra["cold_items"] == 1 and s.vectors.dtype == np.float32
    cold = s.vectors[list(s.ids).index("cold")]
    warm_norm = np.median(np.linalg.norm(s.vectors[s.ids != "cold"], axis=1))
    assert np.isfinite(cold).all() and 0 < np.linalg.norm(cold) < 0.01 * warm_norm
    expected = id_directions(np.array(["cold"], object), s.dim, 0, float(np.linalg.norm(cold)))
    assert np.allclose(cold, expected[0], rtol=1e-5)


def test_cold_vectors_are_distinct_per_id_and_seed():
    a = id_directions(np.array(["x", "y"], object), 16, 0, 1.0)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert not np.allclose(a[0], a[1])
    assert not np.allclose(a, id_directions(np.array(["x", "y"], object), 16, 1, 1.0))


@pytest.mark.parametrize("name", METHODS)
def test_seeded_fits_repeat_and_seeds_matter(board, name):
    a, b = make(name).fit_transform(board), make(name).fit_transform(board)
    assert np.array_equal(a, b)
    assert not np.allclose(a, make(name, seed=7).fit_transform(board))


@pytest.mark.parametrize("name", METHODS)
def test_save_load_gives_identical_vectors_users_and_fold_in(fitted, board, name, tmp_path):
    m = fitted[name]
    back = Embedder.load(m.save(tmp_path / name))
    assert type(back) is type(m) and back.get_params() == m.get_params()
    assert np.array_equal(back.transform(board), m.transform(board))
    assert back.embedding_set(board).extra == m.embedding_set(board).extra
    if m.learns_users:
        u1, u2 = m.user_embedding_set(board), back.user_embedding_set(board)
        assert list(u1.ids) == list(u2.ids) and np.array_equal(u1.vectors, u2.vectors)
    if hasattr(m, "fold_in_user"):
        assert np.array_equal(back.fold_in_user(["i1", "i2"]), m.fold_in_user(["i1", "i2"]))
    assert "pickle" not in (tmp_path / name / "embedder.json").read_text()


def test_transform_follows_the_given_catalog_order(fitted, board):
    m = fitted["item2vec"]
    sub = Catalog.from_pydict(items={"id": ["i3", "cold", "i0"]})
    full = dict(zip(board.item_ids, m.transform(board), strict=True))
    assert np.array_equal(m.transform(sub), np.stack([full["i3"], full["cold"], full["i0"]]))


def test_user_set_lists_users_with_events_and_counts_the_rest(fitted, board):
    s = fitted["deepwalk"].user_embedding_set(board)
    assert "lurker" not in set(s.ids) and len(s) == 40
    assert s.extra["users_without_vector"] == 1 and s.fingerprint == board.fingerprint


def test_item2vec_learns_no_users(fitted, board):
    with pytest.raises(RoostError, match="does not learn user vectors"):
        fitted["item2vec"].user_embedding_set(board)


def test_event_kinds_and_min_value_choose_the_events(board):
    # values cycle 1..5 per user; keeping value >= 5 leaves one event per user
    m = make("als", min_value=5.0).fit(board)
    assert m.training_["n_events"] == 40
    with pytest.raises(RoostError, match="event_kinds/min_value"):
        make("als", event_kinds=("like",)).fit(board)


def test_ns_exponent_and_mode_change_item2vec(board):
    base = make("item2vec").fit_transform(board)
    assert not np.allclose(base, make("item2vec", ns_exponent=-0.5).fit_transform(board))
    assert not np.allclose(base, make("item2vec", mode="set").fit_transform(board))


def test_bpr_vectors_carry_the_item_bias_column(fitted, board):
    m = fitted["bpr"]
    assert m.dim == 5
    assert np.array_equal(m.user_embedding_set(board).vectors[:, -1], np.ones(40, np.float32))


# --- errors and degenerate input ---------------------------------------------------------
@pytest.mark.parametrize("name", METHODS)
def test_unfitted_use_is_a_clear_error(board, name):
    m = make(name)
    with pytest.raises(NotFittedError):
        m.transform(board)
    with pytest.raises(NotFittedError):
        m.save("/nonexistent")


@pytest.mark.parametrize("name", METHODS)
def test_no_items_no_events_and_unknown_items_are_clear_errors(fitted, name):
    with pytest.raises(RoostError, match="no items"):
        make(name).fit(Catalog())
    with pytest.raises(RoostError, match="has none"):
        make(name).fit(Catalog.from_pydict(items={"id": ["a"]}))
    with pytest.raises(UnknownIdError, match="'zz'"):
        fitted[name].transform(Catalog.from_pydict(items={"id": ["i1", "zz"]}))


@pytest.mark.parametrize("name", METHODS)
def test_one_item_one_event(name):
    c = Catalog.from_pydict(
        items={"id": ["a"]},
        events={"user_id": ["u"], "item_id": ["a"], "kind": ["like"], "value": [1.0], "ts": [0]},
    )
    v = make(name).fit_transform(c)
    assert v.shape == (1, make(name).fit(c).dim) and np.isfinite(v).all() and v.any()


def test_fold_in_errors(fitted):
    m = fitted["als"]
    with pytest.raises(UnknownIdError, match="'nope'"):
        m.fold_in_user(["i1", "nope"])
    with pytest.raises(RoostError, match="at least one item"):
        m.fold_in_user([])
    with pytest.raises(RoostError, match="align"):
        make("als", binary=False).fit(checkerboard()).fold_in_user(["i1"], values=[1.0, 2.0])


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("item2vec", {"mode": "bag"}, "mode"),
        ("item2vec", {"negative": 0}, "negative"),
        ("item2vec", {"event_kinds": "like"}, "event_kinds"),
        ("item2vec", {"min_count": 99}, "min_count"),
        ("deepwalk", {"walk_length": 1}, "walk_length"),
        ("node2vec", {"q": 0.0}, "q"),
        ("als", {"factors": 0}, "factors"),
        ("bpr", {"regularization": -1.0}, "regularization"),
    ],
)
def test_bad_params_are_clear_errors(board, name, params, match):
    with pytest.raises(RoostError, match=match):
        make(name, **params).fit(board)


def test_missing_gensim_names_the_extra(board, monkeypatch):
    monkeypatch.setitem(sys.modules, "gensim", None)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(RoostError, match=r"roost\[train\]"):
        make("item2vec").fit(board)


def test_als_limits_blas_threads_instead_of_warning(board, monkeypatch):
    # implicit warns once per process when BLAS runs its own pool; make it check again,
    # with BLAS at 2 threads, under warnings-as-errors.
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with threadpool_limits(2, "blas"):
        make("als").fit(board)
        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert blas and set(blas) == {2}  # restored afterwards


# --- walks ------------------------------------------------------------------------------
edges = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7)), min_size=1, max_size=30)


@settings(max_examples=30, deadline=None)
@given(edges, st.sampled_from([(1.0, 1.0), (0.5, 2.0), (4.0, 0.25)]), st.integers(0, 2**16))
def test_walks_follow_edges_and_start_everywhere(pairs, pq, seed):
    users, items = zip(*pairs, strict=True)
    inter = Interactions.from_arrays([f"u{u}" for u in users], [f"i{i}" for i in items])
    adj = bipartite(inter)
    assert (adj != adj.T).nnz == 0
    walks = random_walks(adj, 6, 3, np.random.default_rng(seed), *pq)
    a = adj.tolil()
    for w in walks:
        assert all(a[x, y] for x, y in zip(w[:-1], w[1:], strict=True))
    starts, counts = np.unique(walks[:, 0], return_counts=True)
    assert list(starts) == list(range(adj.shape[0])) and (counts == 3).all()


@pytest.mark.parametrize(("p", "q"), [(0.25, 1.0), (1.0, 1.0), (4.0, 0.5)])
def test_node2vec_returns_as_often_as_the_bias_says(p, q):
    r = sp.random(30, 40, density=0.15, random_state=1, format="csr")
    users, items = r.nonzero()
    inter = Interactions.from_arrays(users.astype(str), items.astype(str))
    adj = bipartite(inter)
    walks = random_walks(adj, 12, 50, np.random.default_rng(0), p, q).astype(np.int64)
    deg = np.diff(adj.indptr)[walks[:, 1:-1]]
    expected = (1 / p) / (1 / p + (deg - 1) / q)
    observed = walks[:, 2:] == walks[:, :-2]
    # each step returns with its own probability given the path so far, so the summed
    # surprises are a martingale with variance sum p(1-p): a z-score
    z = (observed - expected).sum() / np.sqrt((expected * (1 - expected)).sum())
    assert abs(z) < 4.5


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_refit_refreshes_what_fold_in_precomputes(name):
    m = make(name).fit(checkerboard(0))
    m.fold_in_user(["i1"])
    m.fit(checkerboard(1))
    assert np.array_equal(m.fold_in_user(["i1"]), make(name).fit(checkerboard(1)).fold_in_user(["i1"]))
