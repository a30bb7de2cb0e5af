"""The version store: put/get round trips, id maps, aliases and rollback, gc, diff, validation."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from roost.store import open_store
from roost.store.manifest import UnknownVersionError, ValidationError, VersionError
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet, RoostError, UnknownIdError


def make_set(n=20, dim=8, *, seed=0, method="als", metric="cosine", prefix="i", **kw) -> EmbeddingSet:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    ids = np.array([f"{prefix}{j}" for j in range(n)], dtype=object)
    kw.setdefault("params", {"factors": dim})
    return EmbeddingSet(ids=ids, vectors=x, method=method, fingerprint=f"data-{seed}", metric=metric, **kw)


@pytest.fixture
def vs(db_home):
    s = VersionStore(db_home)
    yield s
    s.close()


def test_put_get_roundtrip_and_manifest(vs):
    es = make_set(params={"factors": 8, "reg": np.float32(0.5)}, extra={"loss": 0.25})
    info = vs.put(es, name="nightly")
    assert info.id.startswith("v0001-als-") and info.method == "als" and info.dim == 8
    v = vs.get(info.id)
    assert isinstance(v.vectors, np.memmap) and not v.vectors.flags.writeable
    np.testing.assert_array_equal(v.vectors, es.vectors)
    assert v.ids.tolist() == es.ids.tolist()
    m = v.manifest
    assert (m["method"], m["metric"], m["dim"], m["count"], m["dtype"]) == ("als", "cosine", 8, 20, "float32")
    assert m["params"] == {"factors": 8, "reg": 0.5} and m["extra"] == {"loss": 0.25}
    assert m["fingerprint"] == "data-0" and m["normalized"] is False and m["parent"] is None
    assert m["roost_version"] and m["created"].endswith("Z") and m["name"] == "nightly"
    assert set(m["files"]) == {"vectors.npy", "ids.parquet"}
    # the raw float32 sha256 is what an index binds to
    assert m["vectors_sha256"] == hashlib.sha256(es.vectors.tobytes()).hexdigest()
    # the folder describes itself without the catalog
    assert json.loads((v.path / "manifest.json").read_text()) == m
    # np.load reads the file as a plain .npy
    np.testing.assert_array_equal(np.load(v.path / "vectors.npy"), es.vectors)
    back = v.as_embedding_set()
    assert back.method == "als" and back.params == m["params"] and back.dim == 8


def test_users_companion_set(vs):
    items, users = make_set(30, 4), make_set(10, 4, seed=1, prefix="u", kind="user")
    info = vs.put(items, users=users)
    assert info.users == 10
    v = vs.get(info.id, verify=True)
    np.testing.assert_array_equal(v.users.lookup(["u3", "u1"]), users.vectors[[3, 1]])
    assert v.users.as_embedding_set().kind == "user"
    assert set(v.manifest["files"]) == {"vectors.npy", "ids.parquet", "users.npy", "user_ids.parquet"}
    with pytest.raises(ValidationError, match="dimension 5 differs"):
        vs.put(items, users=make_set(10, 5, prefix="u"))


def test_lookup_by_external_id(vs):
    es = make_set(50, 6)
    v = vs.get(vs.put(es).id)
    np.testing.assert_array_equal(v.lookup(["i7", "i0", "i7"]), es.vectors[[7, 0, 7]])
    np.testing.assert_array_equal(v.vector("i49"), es.vectors[49])
    assert v.lookup([]).shape == (0, 6)
    with pytest.raises(UnknownIdError, match=r"unknown id 'nope' \(and 1 more\)"):
        v.lookup(["i1", "nope", "nada"])
    with pytest.raises(TypeError):
        v.lookup("i1")


def test_references(vs):
    a = vs.put(make_set(seed=1)).id
    b = vs.put(make_set(seed=2), parent=a).id
    assert vs.resolve("v1") == vs.resolve("v0001") == a
    assert vs.resolve("latest") == b and vs.info(b).parent == a
    vs.alias("production", "v1")
    assert vs.resolve("production") == a
    for bad in ("v3", "nope", ""):
        with pytest.raises(UnknownVersionError):
            vs.get(bad)
    for bad in ("latest", "v2", "v12-x", "has space", "", "-x"):
        with pytest.raises(VersionError):
            vs.alias(bad, a)
    with pytest.raises(UnknownVersionError):
        vs.put(make_set(), parent="v9")


def test_alias_rollback_and_history(vs):
    a, b, c = (vs.put(make_set(seed=s)).id for s in (1, 2, 3))
    vs.alias("production", a)
    vs.alias("production", b)
    vs.alias("production", b)  # same target: no new history entry
    vs.alias("production", c)
    assert vs.rollback("production").id == b
    assert vs.rollback("production").id == a
    with pytest.raises(VersionError, match="no previous target"):
        vs.rollback("production")
    assert vs.aliases() == {"production": a}
    hist = vs.history("production")
    assert [h["version"] for h in hist] == [a, b, c]
    assert [h["undone_at"] is None for h in hist] == [True, False, False]
    with pytest.raises(UnknownVersionError):
        vs.rollback("candidate")


def test_put_with_alias_is_one_commit(vs):
    a = vs.put(make_set(seed=1), alias="production").id
    b = vs.put(make_set(seed=2), alias="production").id
    assert vs.info(b).aliases == ("production",)
    assert vs.rollback("production").id == a


def test_delete_refused_while_aliased(vs):
    a = vs.put(make_set(seed=1), alias="production").id
    b = vs.put(make_set(seed=2)).id
    with pytest.raises(VersionError, match="target of alias production"):
        vs.delete(a)
    with pytest.raises(VersionError):
        vs.delete("production")
    assert vs.delete(b) == b
    assert not (vs.dir / b).exists() and [i.id for i in vs.list()] == [a]
    vs.unalias("production")
    vs.delete(a)
    assert vs.list() == []
    # numbers are never reused
    assert vs.put(make_set(seed=3)).id.startswith("v0003-")


def test_rollback_to_a_deleted_version_is_refused(vs):
    a = vs.put(make_set(seed=1), alias="production").id
    vs.put(make_set(seed=2), alias="production")
    vs.alias("candidate", a)
    vs.alias("candidate", "production")
    vs.delete(a)
    with pytest.raises(VersionError, match="was deleted"):
        vs.rollback("production")


def test_gc_keeps_aliased_rollback_targets_and_newest(vs):
    ids = [vs.put(make_set(seed=s)).id for s in range(7)]
    vs.alias("production", ids[0])
    vs.alias("production", ids[1])  # ids[0] is now production's rollback target
    vs.alias("candidate", ids[3])
    assert vs.gc(keep=2, dry_run=True) == [ids[2], ids[4]]
    assert len(vs.list()) == 7
    assert vs.gc(keep=2) == [ids[2], ids[4]]
    assert [i.id for i in vs.list()] == [ids[0], ids[1], ids[3], ids[5], ids[6]]
    assert sorted(p.name for p in vs.dir.iterdir() if not p.name.startswith(".")) == [
        ids[0], ids[1], ids[3], ids[5], ids[6]]
    assert vs.rollback("production").id == ids[0]
    with pytest.raises(VersionError):
        vs.gc(keep=-1)


def test_delete_and_gc_remove_the_versions_indexes(vs):
    from roost.index import index_version

    ids = [vs.put(make_set(seed=s)).id for s in range(3)]
    for vid in ids:
        index_version(vs.get(vid).as_embedding_set(), vid, vs.artifacts.index(vid, "exact"),
                      kind="exact")
    vs.delete(ids[0])
    assert vs.gc(keep=1) == [ids[1]]
    left = sorted(p.name for p in vs.artifacts.indexes.iterdir() if not p.name.startswith("."))
    assert left == [ids[2]]
    # an index folder left by a crash between the row delete and the folder removal goes at
    # the next open
    orphan = vs.artifacts.indexes_of(ids[0])
    shutil.copytree(vs.artifacts.indexes_of(ids[2]), orphan)
    VersionStore(vs.home).close()
    assert not orphan.exists()


def test_diff(vs):
    a = vs.put(make_set(20, 8, seed=1), name="one").id
    b = vs.put(make_set(25, 16, seed=2, method="bpr", metric="dot"), parent=a).id
    d = vs.diff(a, b)
    assert (d["a"], d["b"]) == (a, b)
    assert d["changed"]["method"] == ["als", "bpr"]
    assert d["changed"]["params.factors"] == [8, 16]
    assert d["changed"]["metric"] == ["cosine", "dot"]
    assert d["changed"]["parent"] == [None, a]
    assert "fingerprint" in d["changed"] and "kind" not in d["changed"]
    assert d["ids"] == {"common": 20, "only_a": 0, "only_b": 5}
    assert vs.diff(a, a)["changed"] == {}


def test_list_and_json(vs):
    a = vs.put(make_set(seed=1), alias="production").id
    vs.alias("candidate", a)
    rows = [i.to_dict() for i in vs.list()]
    assert json.loads(json.dumps(rows))[0]["aliases"] == ["candidate", "production"]
    assert {"id", "method", "dim", "metric", "aliases", "created"} <= rows[0].keys()


def test_store_shares_the_home_with_the_catalog(tmp_path):
    home = tmp_path / "home"
    cat = open_store(home)
    with VersionStore(home) as vs:
        vid = vs.put(make_set()).id
    assert cat.counts()["items"] == 0
    cat.close()
    with VersionStore(home, create=False) as vs:
        assert vs.get(vid).dim == 8
    with pytest.raises(RoostError, match="no Roost home"):
        VersionStore(tmp_path / "elsewhere", create=False)


# --- validation --------------------------------------------------------------------------
def _with(es: EmbeddingSet, **changes) -> EmbeddingSet:
    return EmbeddingSet(**{**es.__dict__, **changes})


def _vec(es, row, value):
    x = es.vectors.copy()
    x[row] = value
    return x


BASE = make_set(10, 4)
BAD = {
    "nan": (_with(BASE, vectors=_vec(BASE, 3, np.nan)), r"row 3 \(id 'i3'\) holds NaN"),
    "inf": (_with(BASE, vectors=_vec(BASE, 5, -np.inf)), r"row 5 \(id 'i5'\) holds an infinite"),
    "overflow": (_with(BASE, vectors=_vec(BASE, 2, 1).astype(np.float64) * np.where(
        np.arange(10)[:, None] == 2, 1e300, 1)), r"row 2 .* infinite"),
    "1-d": (_with(BASE, vectors=BASE.vectors[0]), "must be 2-D"),
    "3-d": (_with(BASE, vectors=BASE.vectors[None]), "must be 2-D"),
    "no rows": (_with(BASE, vectors=BASE.vectors[:0], ids=BASE.ids[:0]), "non-empty"),
    "no dims": (_with(BASE, vectors=BASE.vectors[:, :0]), "non-empty"),
    "fewer ids": (_with(BASE, ids=BASE.ids[:9]), "9 ids for 10 vector rows"),
    "duplicate": (_with(BASE, ids=np.array([*BASE.ids[:9], "i4"], dtype=object)),
                  "duplicate id 'i4' at rows 4 and 9"),
    "int id": (_with(BASE, ids=np.array([*BASE.ids[:9], 7], dtype=object)), "row 9 is 7"),
    "empty id": (_with(BASE, ids=np.array(["", *BASE.ids[1:]], dtype=object)), "row 0 is ''"),
    "surrogate": (_with(BASE, ids=np.array(["\ud800", *BASE.ids[1:]], dtype=object)), "UTF-8"),
    "zero cosine": (_with(BASE, vectors=_vec(BASE, 6, 0.0)), r"row 6 \(id 'i6'\) is a zero vector"),
    "not normalized": (_with(BASE, normalized=True), "normalized=True but row 0"),
    "strings": (_with(BASE, vectors=BASE.vectors.astype(str)), "cannot be cast to float32"),
    "metric": (_with(BASE, metric="hamming"), "metric 'hamming'"),
    "params": (_with(BASE, params={"f": object()}), "params must be plain JSON"),
    "params nan": (_with(BASE, params={"lr": float("nan")}), "params must be plain JSON"),
    "fingerprint": (_with(BASE, fingerprint=""), "fingerprint"),
    "method": (_with(BASE, method=""), "method"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_put_refuses_bad_sets_and_stores_nothing(vs, case):
    es, message = BAD[case]
    with pytest.raises(ValidationError, match=message):
        vs.put(es)
    with pytest.raises(ValidationError, match="^users: .*" + message):
        dim = es.vectors.shape[-1] if es.vectors.ndim == 2 and es.vectors.shape[-1] else 4
        vs.put(make_set(10, dim), users=es)
    assert vs.list() == []
    assert [p.name for p in vs.dir.iterdir()] in ([], [".lock"])


def test_zero_vectors_are_fine_without_cosine(vs):
    for metric in ("dot", "l2"):
        es = _with(BASE, metric=metric, vectors=_vec(BASE, 6, 0.0))
        assert vs.get(vs.put(es).id).vector("i6").tolist() == [0.0] * 4
    unit = BASE.vectors / np.linalg.norm(BASE.vectors, axis=1, keepdims=True)
    assert vs.put(_with(BASE, vectors=unit, normalized=True)).count == 10


# --- properties --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    s = VersionStore(tmp_path_factory.mktemp("prop") / "home")
    yield s
    s.close()


_ID = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=10)


@st.composite
def embedding_sets(draw):
    ids = draw(st.lists(_ID, min_size=1, max_size=25, unique=True))
    dim = draw(st.integers(1, 6))
    x = draw(arrays(np.float32, (len(ids), dim),
                    elements=st.floats(width=32, allow_nan=False, allow_infinity=False)))
    metric = draw(st.sampled_from(["cosine", "dot", "l2"]))
    if metric == "cosine":
        x[~np.any(x != 0, axis=1), 0] = 1.0
    params = draw(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3))
    return EmbeddingSet(ids=np.array(ids, dtype=object), vectors=x, method="prop", params=params,
                        fingerprint=draw(st.text(min_size=1, max_size=8)), metric=metric)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(es=embedding_sets(), data=st.data())
def test_property_save_load_and_id_map(shared, es, data):
    v = shared.get(shared.put(es).id, verify=True)
    assert v.ids.tolist() == es.ids.tolist()
    # bit for bit, -0.0 and subnormals included
    assert np.array_equal(np.asarray(v.vectors).view(np.uint32), es.vectors.view(np.uint32))
    assert (v.manifest["params"], v.manifest["metric"], v.manifest["fingerprint"]) == (
        es.params, es.metric, es.fingerprint)
    wanted = data.draw(st.lists(st.sampled_from(es.ids.tolist()), max_size=30))
    rows = [es.ids.tolist().index(i) for i in wanted]
    assert np.array_equal(v.lookup(wanted).view(np.uint32), es.vectors[rows].view(np.uint32))
    stranger = data.draw(_ID.filter(lambda s: s not in set(es.ids.tolist())))
    with pytest.raises(UnknownIdError, match="unknown id"):
        v.lookup([*wanted, stranger])


NAMES = ("production", "candidate")


class AliasMachine(RuleBasedStateMachine):
    """The store against a model: alias stacks, deletes, gc."""

    versions = Bundle("versions")

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.mkdtemp()
        self.vs = VersionStore(self.tmp)
        self.live: list[str] = []
        self.stacks: dict[str, list[str]] = {}
        self.n = 0

    def _aliased(self) -> set[str]:
        return {s[-1] for s in self.stacks.values()}

    @rule(target=versions, alias=st.none() | st.sampled_from(NAMES))
    def put(self, alias):
        self.n += 1
        vid = self.vs.put(make_set(3, 2, seed=self.n), alias=alias).id
        self.live.append(vid)
        if alias:
            self.stacks.setdefault(alias, []).append(vid)
        return vid

    @rule(name=st.sampled_from(NAMES), vid=versions)
    def alias(self, name, vid):
        if vid not in self.live:
            with pytest.raises(UnknownVersionError):
                self.vs.alias(name, vid)
            return
        self.vs.alias(name, vid)
        stack = self.stacks.setdefault(name, [])
        if not stack or stack[-1] != vid:
            stack.append(vid)

    @rule(name=st.sampled_from(NAMES))
    def rollback(self, name):
        stack = self.stacks.get(name, [])
        if len(stack) < 2 or stack[-2] not in self.live:
            with pytest.raises(VersionError):
                self.vs.rollback(name)
            return
        assert self.vs.rollback(name).id == stack[-2]
        stack.pop()

    @rule(name=st.sampled_from(NAMES))
    def unalias(self, name):
        if name not in self.stacks:
            with pytest.raises(UnknownVersionError):
                self.vs.unalias(name)
            return
        self.vs.unalias(name)
        del self.stacks[name]

    @rule(vid=versions)
    def delete(self, vid):
        if vid not in self.live:
            with pytest.raises(UnknownVersionError):
                self.vs.delete(vid)
        elif vid in self._aliased():
            with pytest.raises(VersionError):
                self.vs.delete(vid)
        else:
            self.vs.delete(vid)
            self.live.remove(vid)

    @rule(keep=st.integers(0, 3))
    def gc(self, keep):
        protected = self._aliased() | {s[-2] for s in self.stacks.values() if len(s) > 1}
        protected |= set(self.live[max(0, len(self.live) - keep):] if keep else [])
        expect = sorted(set(self.live) - protected)
        assert self.vs.gc(keep) == expect
        self.live = [v for v in self.live if v not in expect]

    @invariant()
    def agrees_with_model(self):
        assert self.vs.aliases() == {n: s[-1] for n, s in self.stacks.items()}
        assert [i.id for i in self.vs.list()] == self.live
        on_disk = sorted(p.name for p in self.vs.dir.iterdir() if not p.name.startswith("."))
        assert on_disk == sorted(self.live)

    def teardown(self):
        self.vs.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


TestAliasMachine = AliasMachine.TestCase
TestAliasMachine.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
