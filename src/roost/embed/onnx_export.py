"""Build a fast int8 ONNX file from a sentence-transformers folder, once, into a cache.

The recipe (``RECIPE``), measured on all-MiniLM-L6-v2 on an AVX-512 VNNI CPU
(docs/benchmarks.md):

1. export the fp32 weights with torch's TorchScript exporter, eager attention (so that
   ONNX Runtime's own graph optimiser fuses what it can at session start: onnxruntime's
   offline transformer optimiser, with its fused Attention op, ran slower here);
2. split the few *outlier channels* out of every weight MatMul's input: BERT-class models
   carry a handful of hidden dimensions (MiniLM's 99 and 223, ...) whose activations are
   10-20x the rest, and a per-tensor int8 scale sized for them crushes every other channel.
   Those channels go through a small fp32 MatMul, the rest through int8 (LLM.int8()'s
   decomposition; no library does it for ONNX graphs, hence the few lines below);
3. quantise the weight MatMuls with ``quantize_dynamic`` (int8 weights per output channel,
   uint8 activations, no ``reduce_range``: VNNI's u8s8 dot product does not saturate),
   leaving the attention *value* projections in fp32: they are the most sensitive
   (on MiniLM they hold most of the remaining error at 8% of the weights);
4. check the result against the fp32 export on a few built-in texts; if the mean cosine
   falls under ``min_cosine`` the fp32 export is kept instead (so any model is safe).

Needs torch (the ``roost[torch]`` extra) for step 1. The file lands in
``<cache_dir>/onnx/<key>/`` where the key hashes the weights, the recipe and the library
versions, written aside and renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from roost.types import RoostError

RECIPE = "fp32-export+outlier-split+dyn-int8-no-value/1"
OUTLIER_RATIO = 3.0  # a channel is an outlier when its calibration |max| > ratio * median
MAX_OUTLIERS = 32
KEEP_FP32 = ("value",)  # MatMul name parts left in fp32 (see step 3 above)

# Calibration texts: outlier channels are a property of the weights, not of the texts, so
# a few varied sentences of different lengths find them.
CALIBRATION = [
    "The Shawshank Redemption (1994)",
    "A bird sings on the fence at dawn.",
    "How do I reset my password?",
    "Cheap flights to Lisbon in May",
    "Stainless steel kettle, 1.7 litres, auto shut-off",
    "Dark chocolate with sea salt",
    "Quarterly revenue rose 12% on strong demand for cloud services.",
    "The committee postponed the vote until next week after a long debate.",
    "Protein folding determines the three-dimensional structure of enzymes and "
    "antibodies, and misfolding is implicated in neurodegenerative disease.",
    "We measured the thermal conductivity of thin graphene films between 10 and 300 K "
    "and found a strong dependence on grain size and substrate coupling.",
    "Elle a pris le train de nuit pour Marseille.",
    "best pizza near me open now",
    "Install the package, then run the command with the --help flag to list options.",
    "Randomised controlled trial of vitamin D supplementation in elderly patients with "
    "low bone density: fracture rates after five years of follow-up were not reduced.",
    "cat",
    "A young wizard discovers his heritage and attends a school of magic, where friendship "
    "and courage are tested against a dark lord returning to power.",
]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_sha256(folder: Path) -> str:
    """sha256 over a model folder's weight files (safetensors or torch bin), 16 hex."""
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise RoostError(f"{folder}: no model weights (*.safetensors) in this folder")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(file_sha256(f).encode())
    return h.hexdigest()[:16]


def _versions() -> str:
    out = []
    for pkg in ("onnxruntime", "onnx", "torch", "transformers"):
        try:
            out.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg}=-")
    return ",".join(out)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "roost"


def cached_path(folder: Path, cache_dir: Path, recipe: str = RECIPE) -> Path:
    """Where the file built from ``folder`` by ``recipe`` lives (built or not)."""
    key = hashlib.sha256(f"{weights_sha256(folder)}|{recipe}|{_versions()}".encode())
    return cache_dir / "onnx" / key.hexdigest()[:16] / "model.onnx"


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise RoostError(
            "exporting a transformer to ONNX needs torch: pip install 'roost[torch]' "
            "(or pass onnx_model='packaged' to use the file a package ships)"
        ) from e


def build_fp32(folder: Path, cache_dir: Path) -> Path:
    """The cached plain fp32 export of ``folder`` (step 1 only), built first if missing."""
    out = cached_path(folder, cache_dir, "fp32-export/1")
    if out.exists():
        return out
    _need_torch()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        _export_fp32(folder, Path(tmp) / "fp32.onnx")
        (Path(tmp) / "fp32.onnx").replace(out)
    return out


def build_optimized(
    folder: Path, cache_dir: Path, tokenizer_file: Path, min_cosine: float = 0.998
) -> Path:
    """The cached optimised int8 file for ``folder``, built first if missing.

    Examples
    --------
    >>> from roost.embed.transformer import resolve_model   # doctest: +SKIP
    >>> ref = resolve_model("all-MiniLM-L6-v2")              # doctest: +SKIP
    >>> build_optimized(ref.folder, default_cache_dir(), ref.tokenizer)  # doctest: +SKIP
    """
    out = cached_path(folder, cache_dir)
    if out.exists():
        return out
    _need_torch()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp = Path(tmp)
        fp32 = tmp / "fp32.onnx"
        _export_fp32(folder, fp32)
        split = tmp / "split.onnx"
        quant_nodes = _split_outliers(fp32, split, tokenizer_file)
        q8 = tmp / "int8.onnx"
        _quantize(split, q8, quant_nodes)
        cos = _agreement(fp32, q8, tokenizer_file)
        chosen, kind = (q8, "int8") if cos >= min_cosine else (fp32, "fp32")
        info = {"recipe": RECIPE, "versions": _versions(), "kind": kind,
                "calibration_cosine": cos, "source_weights": weights_sha256(folder)}
        (tmp / "info.json").write_text(json.dumps(info, indent=1))
        (tmp / "info.json").replace(out.parent / "info.json")
        chosen.replace(out)  # rename last: a present model.onnx is a complete one
    return out


def _export_fp32(folder: Path, dest: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    # Models without segment ids (DistilBERT, MPNet ...) take two inputs, not three.
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])

    class Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    # The example batch is padded so that the traced graph keeps the masking path.
    ids = torch.tensor([[101, 2000, 2001, 2002, 102], [101, 2003, 102, 0, 0]])
    example = (ids, (ids > 0).long(), torch.zeros_like(ids))[: len(names)]
    axes = {k: {0: "batch", 1: "sequence"} for k in [*names, "last_hidden_state"]}
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export, which needs
        # onnxscript (not installed) and does not yet give graphs ORT fuses as well.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message=r"The feature will be removed")
        # Tracing notes that Python bools become constants: the mask-padding check they
        # come from is a no-op whenever the mask is as long as the input, as here.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"Exporting aten::index operator")
        with torch.no_grad():
            torch.onnx.export(
                Hidden(model), example, str(dest), dynamo=False,
                input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                opset_version=17, do_constant_folding=True,
            )  # fmt: skip


def _feeds(tokenizer_file: Path, texts: list[str], max_length: int = 256) -> dict[str, Any]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_file))
    tok.enable_truncation(max_length)
    tok.enable_padding()
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], np.int64)
    mask = np.array([e.attention_mask for e in enc], np.int64)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _session(model: Any):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    src = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def _run(session: Any, outputs: list[str] | None, feeds: dict[str, Any]) -> list:
    names = {i.name for i in session.get_inputs()}
    return session.run(outputs, {k: v for k, v in feeds.items() if k in names})


def _split_outliers(src: Path, dest: Path, tokenizer_file: Path) -> list[str]:
    """Rewrite ``src`` with outlier channels split off; returns the MatMuls to quantise."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    weight_mms = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    inputs = sorted({n.input[0] for n in weight_mms})
    probe = onnx.load(str(src))
    for x in inputs:
        probe.graph.output.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, None))
    feeds = _feeds(tokenizer_file, CALIBRATION)
    valid = feeds["attention_mask"].astype(bool)
    acts = _run(_session(probe), inputs, feeds)
    outliers = {}
    for x, a in zip(inputs, acts, strict=True):
        amax = np.abs(a[valid]).max(axis=0)
        top = np.argsort(-amax, kind="stable")[:MAX_OUTLIERS]
        top = np.sort(top[amax[top] > OUTLIER_RATIO * np.median(amax)])
        if len(top):
            outliers[x] = top
    nodes = list(model.graph.node)
    model.graph.ClearField("node")
    new, quant, done = [], [], set()
    for n in nodes:
        is_weight_mm = n.op_type == "MatMul" and n.input[1] in inits
        keep_fp32 = any(k in n.name for k in KEEP_FP32)
        if not is_weight_mm or keep_fp32 or n.input[0] not in outliers:
            if is_weight_mm and not keep_fp32:
                quant.append(n.name)
            new.append(n)
            continue
        x, w_name, y = n.input[0], n.input[1], n.output[0]
        out_idx = outliers[x]
        w = numpy_helper.to_array(inits[w_name])
        mask = np.ones(w.shape[0], np.float32)
        mask[out_idx] = 0.0
        if x not in done:
            # A Mul by a 0/1 mask rather than a Gather of the inliers: same shapes, and an
            # elementwise Mul is far cheaper than a strided gather on the last axis.
            done.add(x)
            model.graph.initializer.extend([
                numpy_helper.from_array(mask, f"{x}__inlier_mask"),
                numpy_helper.from_array(out_idx.astype(np.int64), f"{x}__outlier_idx"),
            ])  # fmt: skip
            new += [
                helper.make_node("Mul", [x, f"{x}__inlier_mask"], [f"{x}__in"], name=f"{x}__mul"),
                helper.make_node("Gather", [x, f"{x}__outlier_idx"], [f"{x}__out"], axis=-1,
                                 name=f"{x}__gather"),
            ]  # fmt: skip
        w_in = np.where(mask[:, None] > 0, w, 0.0).astype(np.float32)
        model.graph.initializer.extend([
            numpy_helper.from_array(w_in, f"{w_name}__in"),
            numpy_helper.from_array(np.ascontiguousarray(w[out_idx]), f"{w_name}__out"),
        ])  # fmt: skip
        new += [
            helper.make_node("MatMul", [f"{x}__in", f"{w_name}__in"], [f"{y}__in"], name=f"{n.name}__in"),
            helper.make_node("MatMul", [f"{x}__out", f"{w_name}__out"], [f"{y}__out"],
                             name=f"{n.name}__out"),
            helper.make_node("Add", [f"{y}__in", f"{y}__out"], [y], name=f"{n.name}__add"),
        ]  # fmt: skip
        quant.append(f"{n.name}__in")
    model.graph.node.extend(_toposort(new, model))
    used = {i for n in model.graph.node for i in n.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(kept)
    onnx.save(model, str(dest))
    return quant


def _toposort(nodes: list, model: Any) -> list:
    ready = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer}
    ready.add("")
    out, pending = [], nodes
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                out.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise RoostError("ONNX rewrite left a node whose inputs are never produced")
        pending = rest
    return out


@contextlib.contextmanager
def _quiet_root_logger():
    # quantize_dynamic logs advice ("consider pre-processing") through the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(src: Path, dest: Path, nodes: list[str]) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            str(src), str(dest), op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes,
            per_channel=True, reduce_range=False, weight_type=QuantType.QInt8,
            # The split MatMuls have no inferred output type; they are all float.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )  # fmt: skip


def _agreement(ref: Path, cand: Path, tokenizer_file: Path) -> float:
    feeds = _feeds(tokenizer_file, CALIBRATION)
    mask = feeds["attention_mask"][..., None].astype(np.float32)

    def pooled(path: Path) -> np.ndarray:
        h = _run(_session(path), None, feeds)[0]
        v = (h * mask).sum(1) / mask.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return float((pooled(ref) * pooled(cand)).sum(1).mean())
