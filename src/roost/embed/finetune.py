"""A pretrained transformer fine-tuned on the catalog: items that the same users liked
become positive pairs for sentence-transformers' ``MultipleNegativesRankingLoss``.

Needs torch and sentence-transformers (the ``roost[torch]`` extra). The budget is small by
default (one epoch over at most 512 pairs, batches of 16) so that a fit takes a few
minutes on two cores. The training loop is a plain torch loop over the library's own
``preprocess`` and loss: sentence-transformers' trainer needs the ``datasets`` package and
``accelerate``, which this small job does not need.

A fitted embedder keeps the tuned model folder (sentence-transformers' own save:
safetensors weights, JSON config, tokenizer) inside its ``arrays.npz``, each file as its
exact bytes (no pickle); at load the folder is rebuilt in the cache, checked against its
checksum, and encoded exactly like :class:`Transformer`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Self

import numpy as np

from roost.data.frames import Catalog
from roost.embed import onnx_export
from roost.embed.base import Embedder
from roost.embed.torch_state import torch_state
from roost.embed.transformer import DEFAULT_MODEL, Transformer, resolve_model
from roost.types import RoostError


def co_interacted_pairs(catalog: Catalog, kinds, min_value, max_pairs: int, seed: int):
    """Up to ``max_pairs`` distinct item index pairs (i < j) that one user both touched.

    Users are visited in a seeded random order and each gives pairs of its items in a
    seeded random order, round-robin, so that heavy users do not fill the budget alone.

    Examples
    --------
    >>> c = Catalog.from_pydict(items={"id": ["a", "b", "c"]},
    ...     events={"user_id": ["u", "u", "v"], "item_id": ["a", "b", "c"],
    ...             "kind": ["like"] * 3, "value": [1.0] * 3, "ts": [0, 1, 2]})
    >>> co_interacted_pairs(c, None, None, 10, 0).tolist()
    [[0, 1]]
    """
    inter = catalog.interactions(kinds=kinds, min_value=min_value)
    rng = np.random.default_rng(seed)
    per_user = [np.unique(s) for s in inter.sequences()]
    per_user = [s for s in per_user if len(s) >= 2]
    queues = []
    for items in (per_user[k] for k in rng.permutation(len(per_user))):
        a, b = np.triu_indices(len(items), k=1)
        pick = rng.permutation(len(a))[:max_pairs]
        queues.append(np.stack([items[a[pick]], items[b[pick]]], axis=1))
    seen, out, depth = set(), [], 0
    while len(out) < max_pairs and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q):
                pair = (int(q[depth, 0]), int(q[depth, 1]))
                if pair not in seen:
                    seen.add(pair)
                    out.append(pair)
                    if len(out) == max_pairs:
                        break
        depth += 1
    return np.asarray(out, np.int64).reshape(-1, 2)


def hard_negatives(lexical, anchors: list[str], exclude: list[set[str]], depth: int = 20,
                   seed: int = 0) -> list[str | None]:  # fmt: skip
    """One hard negative per anchor: an id drawn (seeded) from the anchor's top ``depth``
    hits in ``lexical`` (a fitted :class:`~roost.search.lexical.BM25Search`) that is not in
    its ``exclude`` set (its positives, itself); None when every hit is excluded.

    Such documents share the anchor's words without being its match: harder than the
    in-batch negatives of MultipleNegativesRankingLoss alone. On SciFact they lifted the
    fine-tuned MiniLM (docs/quality.md).

    Examples
    --------
    >>> from roost.search.lexical import BM25Search
    >>> lex = BM25Search().fit(["a", "b", "c"], ["red bird", "red bird song", "blue fish"])
    >>> hard_negatives(lex, ["red bird"], [{"a"}], depth=2)
    ['b']
    """
    rng = np.random.default_rng(seed)
    top = lexical.search(list(anchors), int(depth)).ids
    out: list[str | None] = []
    for row, skip in zip(top, exclude, strict=True):
        pool = [d for d in row if d is not None and d not in skip]
        out.append(pool[rng.integers(len(pool))] if pool else None)
    return out


class FineTuned(Embedder):
    """:class:`~roost.embed.transformer.Transformer` fine-tuned on co-interacted items.

    Parameters
    ----------
    model : base model (see :class:`Transformer`).
    kinds, min_value : which events make two items "liked by the same user" (for ratings
        0-10, ``min_value=7`` keeps the high ones).
    max_pairs : cap on training pairs. epochs, train_batch_size, learning_rate : training.
    hard_negatives : 0 (in-batch negatives only), or N: each pair also gets a hard
        negative, an item among the top N BM25 hits for the first item's text that no user
        touched together with it (see :func:`hard_negatives`; needs the ``search`` extra).
    seed : pair sampling, shuffling and dropout.
    backend, pooling, max_length, batch_size, normalize, fields, show_progress,
    onnx_model, threads, cache_dir : encoding, as in :class:`Transformer`.

    Examples
    --------
    >>> emb = FineTuned(max_pairs=200, min_value=7.0)   # doctest: +SKIP
    >>> emb.fit(catalog).transform(catalog).shape       # doctest: +SKIP
    (10506, 384)
    """

    name = "finetune"
    metric = "cosine"
    supports_new_items = True
    collaborative = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        kinds: tuple[str, ...] | None = None,
        min_value: float | None = None,
        max_pairs: int = 512,
        epochs: int = 1,
        train_batch_size: int = 16,
        learning_rate: float = 2e-5,
        hard_negatives: int = 0,
        seed: int = 0,
        backend: str = "onnx",
        pooling: str = "mean",
        max_length: int = 128,
        batch_size: int = 32,
        normalize: bool = True,
        fields: tuple[str, ...] = ("title", "text", "tags"),
        show_progress: bool = False,
        onnx_model: str = "auto",
        threads: int | None = None,
        cache_dir: str | None = None,
    ):
        self.model = model
        self.kinds = kinds
        self.min_value = min_value
        self.max_pairs = max_pairs
        self.epochs = epochs
        self.train_batch_size = train_batch_size
        self.learning_rate = learning_rate
        self.hard_negatives = hard_negatives
        self.seed = seed
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

    def fit(self, catalog: Catalog) -> Self:
        self._check_items(catalog)
        encoder = self._encoder(DEFAULT_MODEL)
        encoder._check_params()
        texts = encoder._item_texts(catalog)
        kinds = tuple(self.kinds) if self.kinds is not None else None
        pairs = co_interacted_pairs(catalog, kinds, self.min_value, int(self.max_pairs),
                                    int(self.seed))  # fmt: skip
        if len(pairs) < 2:
            raise RoostError(
                "fine-tuning needs co-interacted items (users who interacted with two or more "
                f"items); found {len(pairs)} pair(s) in the events"
            )
        if int(self.hard_negatives) > 0:
            pairs = _with_negatives(catalog, texts, pairs, kinds, self)
        base = resolve_model(self.model)
        base.require_weights("fine-tuning")
        st = _train(base.folder, texts, pairs, self)
        with tempfile.TemporaryDirectory() as tmp:
            st.save(tmp)
            folder = _publish(Path(tmp), self._cache())
        self.n_pairs_ = int(len(pairs))
        self.encoder_ = self._encoder(str(folder)).fit(catalog)
        return self

    def transform(self, catalog: Catalog) -> np.ndarray:
        self._check_fitted()
        return self.encoder_.transform(catalog)

    def encode(self, texts) -> np.ndarray:
        """float32 vectors for free texts (queries), as :meth:`Transformer.encode`."""
        self._check_fitted()
        return self.encoder_.encode(texts)

    @property
    def dim(self) -> int:
        self._check_fitted()
        return self.encoder_.dim

    # --- persistence: the tuned weights travel in arrays.npz ------------------------------
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        # Each file of the tuned model folder as its exact bytes (a uint8 array): the
        # safetensors weights stay safetensors, and the rebuilt folder has the same checksum.
        folder = resolve_model(self.encoder_.model).folder
        arrays = {
            f"model/{f.relative_to(folder).as_posix()}": np.frombuffer(f.read_bytes(), np.uint8)
            for f in sorted(p for p in folder.rglob("*") if p.is_file())
        }
        enc_meta, _ = self.encoder_._get_state()
        return {"files": sorted(arrays), "n_pairs": self.n_pairs_, "encoder": enc_meta}, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for key in meta["files"]:
                dest = tmp / key.removeprefix("model/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(arrays[key].tobytes())
            folder = _publish(tmp, self._cache())
        encoder = self._encoder(str(folder))
        encoder._set_state(meta["encoder"], {})
        self.n_pairs_ = int(meta["n_pairs"])
        self.encoder_ = encoder

    # --- helpers ------------------------------------------------------------------------
    def _encoder(self, model: str) -> Transformer:
        return Transformer(
            model=model, backend=self.backend, pooling=self.pooling, max_length=self.max_length,
            batch_size=self.batch_size, normalize=self.normalize, fields=tuple(self.fields),
            show_progress=self.show_progress, onnx_model=self.onnx_model, threads=self.threads,
            cache_dir=self.cache_dir,
        )  # fmt: skip

    def _cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else onnx_export.default_cache_dir()


def _with_negatives(catalog: Catalog, texts, pairs: np.ndarray, kinds, p: FineTuned):
    """``pairs`` with a third column: a lexical hard negative per pair (pairs without one
    are dropped)."""
    from roost.search.lexical import BM25Search

    inter = catalog.interactions(kinds=kinds, min_value=p.min_value)
    together: dict[int, set[str]] = {}
    for seq in inter.sequences():
        items = {str(i) for i in np.unique(seq).tolist()}
        for i in items:
            together.setdefault(int(i), set()).update(items)
    rows = [str(r) for r in range(len(texts))]
    lexical = BM25Search().fit(rows, [t or "" for t in texts])
    exclude = [together.get(int(a), set()) | {str(int(a)), str(int(b))} for a, b in pairs]
    neg = hard_negatives(lexical, [texts[int(a)] for a in pairs[:, 0]], exclude,
                         int(p.hard_negatives), int(p.seed))  # fmt: skip
    keep = np.array([n is not None for n in neg], bool)
    col = np.array([int(n) if n is not None else -1 for n in neg], np.int64)
    return np.concatenate([pairs, col[:, None]], axis=1)[keep]


def _publish(tmp: Path, cache: Path) -> Path:
    """Move a saved model folder into ``<cache>/finetuned/<weights sha>/`` (once)."""
    dest = cache / "finetuned" / onnx_export.weights_sha256(tmp)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent))
        for f in tmp.rglob("*"):
            if f.is_file():
                (staging / f.relative_to(tmp)).parent.mkdir(parents=True, exist_ok=True)
                (staging / f.relative_to(tmp)).write_bytes(f.read_bytes())
        try:
            staging.rename(dest)
        except OSError:  # another process published the same weights first
            pass
    return dest


def _train(base: Path, texts: list[str], pairs: np.ndarray, p: FineTuned):
    """``base`` fine-tuned with MultipleNegativesRankingLoss on rows of ``pairs``: indices
    into ``texts`` as (anchor, positive) or (anchor, positive, hard negative, ...)."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
        from sentence_transformers.sentence_transformer.modules import Pooling
        from sentence_transformers.sentence_transformer.modules import (
            Transformer as STTransformer,
        )
    except ImportError as e:
        raise RoostError("fine-tuning needs torch: pip install 'roost[torch]'") from e
    from tqdm.auto import tqdm

    # Seed and threads for the training only: the caller's torch state is restored.
    threads = int(p.threads) if p.threads else None
    with torch_state(seed=int(p.seed), n_threads=threads):
        body = STTransformer(str(base), max_seq_length=int(p.max_length))
        dim = body.get_embedding_dimension() if hasattr(body, "get_embedding_dimension") else None
        dim = dim or resolve_model(str(base)).dim
        model = SentenceTransformer(modules=[body, Pooling(dim, pooling_mode=p.pooling)],
                                    device="cpu")  # fmt: skip
        loss = MultipleNegativesRankingLoss(model)
        opt = torch.optim.AdamW(model.parameters(), lr=float(p.learning_rate))
        rng = np.random.default_rng(int(p.seed))
        bs = max(2, int(p.train_batch_size))  # in-batch negatives need two pairs at least
        steps = [(e, s) for e in range(int(p.epochs)) for s in range(0, len(pairs), bs)]
        model.train()
        order = None
        for _epoch, start in tqdm(steps, disable=not p.show_progress, desc="fine-tune"):
            if start == 0:
                order = rng.permutation(len(pairs))
            batch = pairs[order[start : start + bs]]
            if len(batch) < 2:
                continue
            # Column 0 is the anchor, 1 its positive, any further column a hard negative
            # (the loss scores it against the anchor next to the in-batch negatives).
            feats = [model.preprocess([texts[i] for i in batch[:, c]])
                     for c in range(batch.shape[1])]  # fmt: skip
            value = loss(feats, torch.empty(0))
            opt.zero_grad()
            value.backward()
            opt.step()
        model.eval()
        return model
