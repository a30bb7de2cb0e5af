"""The conformance suite every registered embedder must pass (one parametrised test per rule).

Every name in ``roost.embed.REGISTRY`` is tested. A method whose module does not exist yet
is skipped with a reason naming the module; once every module exists nothing may skip.
A module that exists but fails to import is a failure, not a skip.

To add a method: register it in ``roost.embed.REGISTRY`` and give it small, fast
parameters in ``TEST_PARAMS`` below (``{}`` if its defaults are already fast). Set the
class attribute ``collaborative = True`` if ``fit`` learns from events.

The fixture catalog is a "checkerboard": two groups of items with disjoint vocabularies,
tags, categories and authors, and two groups of users, each consuming only its own group's
items (with timestamps). Every method, collaborative or content-based, must place
same-group items nearer than cross-group ones.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from roost.data.frames import Catalog
from roost.embed import REGISTRY, Embedder, get
from roost.types import METRICS, EmbeddingSet, NotFittedError, RoostError, UnknownIdError

# --- per-method fast parameters: add yours here ------------------------------------------
# Keep fits well under a second on the 40-item checkerboard. Multi-threaded trainers must
# pin one thread here so that equal seeds give equal vectors.
TEST_PARAMS: dict[str, dict] = {
    "onehot": {},
    "bow": {},
    "tfidf": {},
    "bm25": {},
    "lsa": {"n_components": 8},
    "pca": {"n_components": 8},
    "lda": {"n_components": 4, "max_iter": 30},
    # No subsampling: on a 40-item corpus every word counts as frequent and would be dropped.
    "word2vec": {"vector_size": 16, "sg": 1, "sample": 0, "epochs": 10, "min_count": 1,
                 "workers": 1},
    "glove": {},
    # Starting values for the collaborative and neural methods; their owners tune them.
    # Tiny corpora need sample=0 (subsampling would drop every "frequent" token).
    "item2vec": {"embedding_dim": 8, "sample": 0, "epochs": 20, "n_threads": 1},
    "deepwalk": {"embedding_dim": 8, "walk_length": 10, "walks_per_node": 5, "sample": 0,
                 "epochs": 5, "n_threads": 1},
    "node2vec": {"embedding_dim": 8, "walk_length": 10, "walks_per_node": 5, "p": 2.0,
                 "q": 0.5, "sample": 0, "epochs": 5, "n_threads": 1},
    # Few factors and more regularisation than implicit's defaults: 40 items overfit.
    "als": {"factors": 4, "regularization": 0.1, "n_threads": 1},
    "bpr": {"factors": 4, "learning_rate": 0.1, "iterations": 300, "regularization": 0.05,
            "n_threads": 1},
    # 2 epochs leave the groups unseparated for some seeds; 5 separate them for every seed
    # tried (0-5) in ~0.5 s. n_threads defaults to 1.
    "two-tower": {"embedding_dim": 16, "hidden": 32, "epochs": 5, "batch_size": 64},
    # The packaged weight-only int8 file: no torch, no export, rows independent of batch-mates
    # (the optimised default's dynamic int8 scales depend slightly on them).
    "transformer": {"onnx_model": "packaged", "threads": 1},
    # A tiny real fine-tune (2 steps), encoded with the torch reference to skip the export.
    "finetune": {"max_pairs": 16, "train_batch_size": 8, "backend": "sentence-transformers",
                 "threads": 1},
}

# --- the checkerboard ---------------------------------------------------------------------
GROUPS = {
    "a": {
        "words": "cat dog horse bird fish cow sheep rabbit wolf fox tiger lion".split(),
        "tags": ["pets", "wildlife", "farm", "zoo"],
        "category": "animals",
        "authors": ["ann", "amy"],
    },
    "b": {
        "words": "car truck bus train engine wheel road driver motor highway traffic vehicle".split(),
        "tags": ["transport", "cars", "roads", "travel"],
        "category": "vehicles",
        "authors": ["bob", "ben"],
    },
}
N_PER_GROUP = 20
USERS_PER_GROUP = 20
ITEMS_PER_USER = 8


def _item_rows(prefix: str, group: str, n: int, seed: int) -> dict[str, list]:
    g = GROUPS[group]
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in
                             ("id", "title", "text", "tags", "category", "author", "created_at",
                              "fields")}  # fmt: skip
    for i in range(n):
        words = rng.choice(g["words"], size=9, replace=True)
        rows["id"].append(f"{prefix}{group}{i:02d}")
        rows["title"].append(" ".join(words[:3]))
        rows["text"].append(" ".join(words[3:]))
        rows["tags"].append(list(rng.choice(g["tags"], size=2, replace=False)))
        rows["category"].append(g["category"])
        rows["author"].append(g["authors"][i % 2])
        rows["created_at"].append(1_600_000_000 + 3600 * i)
        rows["fields"].append(json.dumps({"group": group, "year": 2000 + i % 5}))
    return rows


def checkerboard(with_events: bool = True, extra_users: tuple[str, ...] = ()) -> Catalog:
    items: dict[str, list] = {}
    for seed, group in enumerate(GROUPS):
        for k, v in _item_rows("", group, N_PER_GROUP, seed).items():
            items.setdefault(k, []).extend(v)
    users, events = [], {"user_id": [], "item_id": [], "kind": [], "value": [], "ts": []}
    rng = np.random.default_rng(7)
    for group in GROUPS:
        for u in range(USERS_PER_GROUP):
            uid = f"u{group}{u:02d}"
            users.append(uid)
            # Windows of consecutive items cover each item exactly ITEMS_PER_USER times;
            # the order (and so the timestamps) is shuffled per user.
            picks = [(u + k) % N_PER_GROUP for k in range(ITEMS_PER_USER)]
            for t, i in enumerate(rng.permutation(picks)):
                events["user_id"].append(uid)
                events["item_id"].append(f"{group}{i:02d}")
                events["kind"].append("like")
                events["value"].append(1.0)
                events["ts"].append(1_700_000_000 + 60 * (u * ITEMS_PER_USER + t))
    users += list(extra_users)
    user_rows = {"id": users, "name": users, "fields": [json.dumps({"n": i}) for i in range(len(users))]}
    if not with_events:
        return Catalog.from_pydict(items=items, users=user_rows)
    return Catalog.from_pydict(items=items, users=user_rows, events=events)


def new_items() -> Catalog:
    """Items unseen in fit: two of group a, one of group b, with their group's content."""
    rows: dict[str, list] = {}
    for group, n, seed in (("a", 2, 11), ("b", 1, 12)):
        for k, v in _item_rows("new-", group, n, seed).items():
            rows.setdefault(k, []).extend(v)
    return Catalog.from_pydict(items=rows)


def one_item() -> Catalog:
    return Catalog.from_pydict(
        items={"id": ["x"], "title": ["cat dog"], "tags": [["pets"]], "category": ["animals"],
               "author": ["ann"]},
        users={"id": ["u"]},
        events={"user_id": ["u"], "item_id": ["x"], "kind": ["like"], "value": [1.0], "ts": [1]},
    )  # fmt: skip


def no_text() -> Catalog:
    """Items with ids only (no title, text, tags, category, author), but with events."""
    ids = [f"i{k}" for k in range(6)]
    users = [f"u{k}" for k in range(4)]
    ev_u = [users[k % 4] for k in range(12)]
    ev_i = [ids[(k * 5) % 6] for k in range(12)]
    return Catalog.from_pydict(
        items={"id": ids},
        users={"id": users},
        events={"user_id": ev_u, "item_id": ev_i, "kind": ["view"] * 12, "value": [1.0] * 12,
                "ts": list(range(12))},
    )  # fmt: skip


def groups_of(ids) -> np.ndarray:
    return np.array([str(i).removeprefix("new-")[0] for i in ids])


def similarity(x: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """Pairwise similarity under the method's metric (higher is nearer), in float64."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if metric == "cosine":
        nx = np.linalg.norm(x, axis=1, keepdims=True)
        ny = np.linalg.norm(y, axis=1, keepdims=True)
        x = np.divide(x, nx, out=np.zeros_like(x), where=nx > 0)
        y = np.divide(y, ny, out=np.zeros_like(y), where=ny > 0)
    if metric == "l2":
        return -((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return x @ y.T


# --- which methods -----------------------------------------------------------------------
def _method_params() -> list:
    out = []
    for name, target in REGISTRY.items():
        module = target.partition(":")[0]
        if importlib.util.find_spec(module) is None:
            out.append(pytest.param(name, marks=pytest.mark.skip(
                reason=f"module {module} does not exist yet")))  # fmt: skip
        else:
            out.append(name)
    return out


METHODS = _method_params()


def make(name: str, **override) -> Embedder:
    if name not in TEST_PARAMS:
        pytest.fail(f"add fast test parameters for {name!r} to TEST_PARAMS in {__file__}")
    return get(name)(**{**TEST_PARAMS[name], **override})


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return checkerboard()


_FITTED: dict[str, Embedder] = {}


@pytest.fixture(params=METHODS)
def name(request) -> str:
    return request.param


@pytest.fixture
def fitted(name, catalog) -> Embedder:
    """One fit per method on the checkerboard, shared by the read-only checks."""
    if name not in _FITTED:
        _FITTED[name] = make(name).fit(catalog)
    return _FITTED[name]


# --- the class and its constructor --------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_registered_class_declares_the_contract(method):
    klass = get(method)
    assert issubclass(klass, Embedder)
    assert klass.name == method, "the class's name must be its registry key"
    assert klass.metric in METRICS
    for flag in ("supports_new_items", "learns_users", "collaborative"):
        assert isinstance(getattr(klass, flag), bool), flag


def test_constructor_only_stores_parameters(name):
    emb = make(name)
    params = emb.get_params()
    assert set(vars(emb)) == set(params), "__init__ must store its arguments and nothing else"
    assert not emb._is_fitted()
    json.dumps(params, default=list)  # parameters must be JSON-able: they are saved as JSON
    clone = type(emb)(**params)
    assert clone.get_params() == params
    assert repr(emb).startswith(type(emb).__name__ + "(")


def test_unfitted_use_raises_not_fitted(name, catalog):
    emb = make(name)
    for call in (lambda: emb.transform(catalog), lambda: emb.dim,
                 lambda: emb.embedding_set(catalog)):  # fmt: skip
        with pytest.raises(NotFittedError):
            call()
    with pytest.raises(NotFittedError):
        emb.save("never-written")


def test_fit_returns_self(name, catalog):
    emb = make(name)
    assert emb.fit(catalog) is emb
    assert emb._is_fitted()


# --- vectors ------------------------------------------------------------------------------
def test_shapes_dtype_finite(fitted, catalog):
    v = fitted.transform(catalog)
    assert isinstance(v, np.ndarray)
    assert v.shape == (catalog.items.num_rows, fitted.dim)
    assert fitted.dim >= 1
    assert v.dtype == np.float32
    assert np.isfinite(v).all()
    assert np.abs(v).sum(axis=1).min() > 0, "every checkerboard item has content and events"


def test_embedding_set_carries_ids_and_provenance(fitted, catalog):
    s = fitted.embedding_set(catalog)
    assert isinstance(s, EmbeddingSet)
    assert s.ids.tolist() == catalog.item_ids.tolist()
    assert s.kind == "item" and s.method == fitted.name and s.metric == fitted.metric
    assert s.fingerprint == catalog.fingerprint
    assert s.vectors.dtype == np.float32 and s.vectors.flags.c_contiguous
    np.testing.assert_array_equal(s.vectors, fitted.transform(catalog))
    json.dumps(s.params)
    json.dumps(s.extra)


def test_deterministic_with_a_seed(name, fitted, catalog):
    again = make(name).fit(catalog)
    np.testing.assert_array_equal(again.transform(catalog), fitted.transform(catalog))


def test_ids_stable_under_reordering(fitted, catalog):
    """Rows follow the ids, not positions: a reordered subset gives the same rows."""
    order = np.array([39, 0, 17, 22, 5, 30])
    sub = Catalog(items=catalog.items.take(order), users=catalog.users, events=catalog.events)
    full = fitted.transform(catalog)
    np.testing.assert_allclose(fitted.transform(sub), full[order], rtol=1e-5, atol=1e-6)


def test_save_load_gives_identical_vectors(fitted, catalog, tmp_path):
    folder = fitted.save(tmp_path / "emb")
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "embedder.json"]
    with np.load(folder / "arrays.npz", allow_pickle=False) as z:  # no object arrays
        assert all(z[k].dtype != object for k in z.files)
    loaded = Embedder.load(folder)
    assert type(loaded) is type(fitted)
    assert json.dumps(loaded.get_params(), default=list) == json.dumps(
        fitted.get_params(), default=list)  # fmt: skip
    assert loaded.dim == fitted.dim
    np.testing.assert_array_equal(loaded.transform(catalog), fitted.transform(catalog))
    assert type(fitted).load(folder).dim == fitted.dim


def test_new_items(name, fitted, catalog):
    fresh = new_items()
    if not fitted.supports_new_items:
        with pytest.raises(UnknownIdError, match="new-a00"):
            fitted.transform(fresh)
        return
    v = fitted.transform(fresh)
    assert v.shape == (fresh.items.num_rows, fitted.dim)
    assert v.dtype == np.float32 and np.isfinite(v).all()
    if not fitted.collaborative:  # content methods: a new item lands among its group
        known = fitted.transform(catalog)
        sim = similarity(v, known, fitted.metric)
        same = groups_of(fresh.item_ids)[:, None] == groups_of(catalog.item_ids)[None, :]
        for r in range(len(v)):
            assert sim[r, same[r]].mean() > sim[r, ~same[r]].mean(), fresh.item_ids[r]


# --- known answer: the checkerboard -------------------------------------------------------
def test_checkerboard_separates_the_groups(fitted, catalog):
    v = fitted.transform(catalog)
    sim = similarity(v, v, fitted.metric)
    g = groups_of(catalog.item_ids)
    same = g[:, None] == g[None, :]
    np.fill_diagonal(same, False)
    other = g[:, None] != g[None, :]
    within = np.array([sim[i, same[i]].mean() for i in range(len(v))])
    across = np.array([sim[i, other[i]].mean() for i in range(len(v))])
    assert (within > across).mean() >= 0.9, f"only {(within > across).mean():.0%} of items"
    assert within.mean() > across.mean()


# --- errors and degenerate input ----------------------------------------------------------
def test_empty_catalog_is_a_clear_error(name):
    with pytest.raises(RoostError):
        make(name).fit(Catalog())


def test_transform_of_no_items(fitted, catalog):
    """The batch of none: an empty (0, dim) array, or a clear RoostError."""
    empty = Catalog(items=catalog.items.slice(0, 0), users=catalog.users, events=catalog.events)
    try:
        v = fitted.transform(empty)
    except RoostError:
        return
    assert v.shape == (0, fitted.dim) and v.dtype == np.float32


def _valid_or_clear_error(emb: Embedder, data: Catalog) -> None:
    try:
        emb.fit(data)
    except RoostError:
        return
    v = emb.transform(data)
    assert v.shape == (data.items.num_rows, emb.dim)
    assert v.dtype == np.float32 and np.isfinite(v).all()


def test_one_item(name):
    _valid_or_clear_error(make(name), one_item())


def test_items_without_text(name):
    _valid_or_clear_error(make(name), no_text())


def test_catalog_without_events(name):
    """Content methods fit on items alone; collaborative ones say clearly that they can't."""
    data = checkerboard(with_events=False)
    emb = make(name)
    if emb.collaborative:
        with pytest.raises(RoostError):
            emb.fit(data)
        return
    try:
        emb.fit(data)
    except RoostError as e:
        pytest.fail(f"{name} needs events ({e}): set collaborative = True on its class")
    v = emb.transform(data)
    assert v.shape == (data.items.num_rows, emb.dim) and np.isfinite(v).all()


def test_user_with_no_events(name):
    data = checkerboard(extra_users=("lonely",))
    emb = make(name).fit(data)
    assert np.isfinite(emb.transform(data)).all()
    if not emb.learns_users:
        with pytest.raises(RoostError):
            emb.user_embedding_set(data)
        return
    s = emb.user_embedding_set(data)
    assert s.kind == "user" and s.vectors.dtype == np.float32
    assert np.isfinite(s.vectors).all() and s.vectors.shape == (len(s.ids), emb.dim)
    assert len(set(s.ids.tolist())) == len(s.ids)
    assert set(s.ids.tolist()) <= set(data.users.column("id").to_pylist())


def test_users_of_a_group_are_near_their_items(name, catalog):
    """Where a method learns users: a user is nearer their own group's items."""
    emb = make(name).fit(catalog)
    if not emb.learns_users:
        return  # test_user_with_no_events checks that asking is a clear error
    users = emb.user_embedding_set(catalog)
    sim = similarity(users.vectors, emb.transform(catalog), emb.metric)
    ug = np.array([str(u)[1] for u in users.ids])
    same = ug[:, None] == groups_of(catalog.item_ids)[None, :]
    within = np.array([sim[i, same[i]].mean() for i in range(len(ug))])
    across = np.array([sim[i, ~same[i]].mean() for i in range(len(ug))])
    assert (within > across).mean() >= 0.9
