"""item2vec: skip-gram with negative sampling over what users consumed (gensim Word2Vec).

Each user's interactions are one "sentence" of item tokens, either in time order with a
sliding window (``mode="sequence"``) or as a set whose every other item is context
(``mode="set"``, Barkan & Koenigstein 2016). The negative-sampling exponent is exposed:
recommendation data is far more skewed than text and the word2vec default (0.75) is often
not the best there (Caselles-Dupré et al. 2018).

This module also holds :class:`CollaborativeEmbedder`, the base that item2vec, the graph
walks (:mod:`roost.embed.graph`) and matrix factorisation (:mod:`roost.embed.mf`) share:
which events count, the catalog's item map, the cold-item fallback, users, persistence.

Cold items
----------
An item of the fit catalog that no counted event names (or, for item2vec, below
``min_count``) learned nothing. It still needs a row, and a zero vector is refused under
cosine, so it gets a **small deterministic random direction**: a unit Gaussian vector seeded
by ``(seed, item id)`` scaled to ``1e-3`` of the median norm of the learned vectors. Unlike
the mean vector, this keeps cold items from all being each other's (and every popular
item's) nearest neighbour; under dot scoring it ranks them below every learned item.
``EmbeddingSet.extra["cold_items"]`` counts them.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from roost.data.frames import Catalog, Interactions
from roost.embed.base import Embedder, _jsonable, id_directions
from roost.types import EVENT_KINDS, EmbeddingSet, RoostError, UnknownIdError

COLD_SCALE = 1e-3
COLD_FALLBACK = "small deterministic random direction (seed, item id), 1e-3 x median norm"
# gensim's Cython loop truncates a sentence at 10,000 tokens (MAX_WORDS_IN_BATCH).
MAX_SENTENCE = 10_000


def require(module: str, what: str) -> ModuleType:
    """Import an optional training library or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name is not None and e.name.split(".")[0] != module.split(".")[0]:
            raise
        raise RoostError(f"{what} needs {module.split('.')[0]}: pip install 'roost[train]'") from e


def skipgram(
    corpus: list[np.ndarray],
    n_tokens: int,
    *,
    dim: int,
    window: int,
    negative: int,
    ns_exponent: float,
    sample: float,
    epochs: int,
    learning_rate: float,
    min_count: int,
    seed: int,
    n_threads: int,
    shrink_windows: bool = True,
    with_context: bool = False,
) -> tuple[np.ndarray, ...]:
    """Train gensim skip-gram on sentences of int tokens ``0..n_tokens-1``.

    Returns ``(vectors, learned)``: a ``(n_tokens, dim)`` float32 matrix (zero rows where
    ``learned`` is False, i.e. tokens under ``min_count``) and that mask; with
    ``with_context`` also the output-layer ("context") vectors of negative sampling, in the
    same layout: ``vectors[a] . context[b]`` is the model's logit for ``b`` near ``a``.
    """
    models = require("gensim.models", "skip-gram training")
    names = np.array([str(i) for i in range(n_tokens)], dtype=object)
    sentences = [names[s].tolist() for s in corpus if len(s)]
    counts = np.bincount(np.concatenate(corpus) if corpus else np.zeros(0, int), minlength=n_tokens)
    if not (counts >= min_count).any():
        raise RoostError(f"no item reaches min_count={min_count}; lower it or add events")
    model = models.Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=1,
        hs=0,
        negative=negative,
        ns_exponent=ns_exponent,
        sample=sample,
        epochs=epochs,
        alpha=learning_rate,
        seed=seed,
        workers=n_threads,
        shrink_windows=shrink_windows,
    )
    vectors = np.zeros((n_tokens, dim), np.float32)
    learned = np.zeros(n_tokens, bool)
    rows = np.fromiter((int(k) for k in model.wv.index_to_key), np.int64)
    vectors[rows] = model.wv.vectors
    learned[rows] = True
    if not with_context:
        return vectors, learned
    context = np.zeros((n_tokens, dim), np.float32)
    context[rows] = model.syn1neg
    return vectors, learned, context


class CollaborativeEmbedder(Embedder):
    """Base of the methods that learn item (and user) vectors from events alone.

    Subclasses implement :meth:`_train` and define ``event_kinds``, ``min_value`` and
    ``seed`` constructor parameters. Fitted state: ``item_ids_`` (the fit catalog's items,
    in order), ``item_vectors_`` (cold rows already filled), ``cold_items_`` (mask),
    ``user_ids_``/``user_vectors_`` (users with at least one counted event; empty where the
    method learns no users), ``fingerprint_`` (of the fit catalog), ``training_`` (facts).
    """

    supports_new_items: ClassVar[bool] = False
    collaborative: ClassVar[bool] = True
    event_kinds: tuple[str, ...] | None
    min_value: float | None
    seed: int

    # --- subclass hooks -------------------------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        if self.event_kinds is not None:
            bad = sorted(set(self.event_kinds) - set(EVENT_KINDS))
            if bad or isinstance(self.event_kinds, str):
                raise RoostError(
                    f"{self.name}: event_kinds must be a list of {', '.join(EVENT_KINDS)}; "
                    f"got {self.event_kinds!r}"
                )

    def _train(self, inter: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Learn from ``inter``: ``(item_vectors, learned_items, user_vectors, facts)``."""
        raise NotImplementedError

    # --- fit / transform -----------------------------------------------------------------
    def fit(self, catalog: Catalog) -> Self:
        """Learn from the catalog's events; returns ``self``."""
        self._check_params()
        self._check_items(catalog)
        inter = catalog.interactions(kinds=self.event_kinds, min_value=self.min_value)
        if len(inter) == 0:
            raise RoostError(
                f"{self.name} learns from events and the catalog has none"
                + (" that pass event_kinds/min_value" if catalog.events.num_rows else "")
            )
        items, learned, users, facts = self._train(inter)
        items = np.ascontiguousarray(items, np.float32)
        cold = ~learned
        if cold.any():
            norms = np.linalg.norm(items[learned], axis=1)
            scale = COLD_SCALE * (float(np.median(norms)) if len(norms) else 1.0) or COLD_SCALE
            items[cold] = id_directions(inter.item_ids[cold], items.shape[1], self.seed, scale)
        self.item_ids_ = np.asarray(inter.item_ids, dtype=object)
        self.item_vectors_ = items
        self.cold_items_ = cold
        self.user_ids_ = np.asarray(inter.user_ids if self.learns_users else [], dtype=object)
        self.user_vectors_ = np.ascontiguousarray(users, np.float32)
        self.fingerprint_ = catalog.fingerprint
        self.training_ = {"n_users": len(inter.user_ids), "n_events": len(inter), **facts}
        return self

    @property
    def dim(self) -> int:
        self._check_fitted()
        return int(self.item_vectors_.shape[1])

    def _rows(self, item_ids: Any) -> np.ndarray:
        """Rows of ``item_ids`` in ``item_vectors_``; unknown ids raise UnknownIdError."""
        ids = np.asarray(item_ids, dtype=object).reshape(-1)
        rows = pd.Index(self.item_ids_).get_indexer(ids)
        if (rows < 0).any():
            bad = ids[np.flatnonzero(rows < 0)[0]]
            raise UnknownIdError(
                f"item {bad!r} was not in the catalog this {self.name} model was fit on; "
                "refit to embed it"
            )
        return rows

    def transform(self, catalog: Catalog) -> np.ndarray:
        """Vectors of ``catalog.items`` (in its order); every item must have been in fit."""
        self._check_fitted()
        return self.item_vectors_[self._rows(catalog.item_ids)]

    def embedding_set(self, catalog: Catalog) -> EmbeddingSet:
        s = super().embedding_set(catalog)
        cold = int(self.cold_items_[self._rows(catalog.item_ids)].sum())
        extra = {"cold_items": cold, "cold_fallback": COLD_FALLBACK, **self.training_}
        return dataclasses.replace(s, extra=extra)

    def user_embedding_set(self, catalog: Catalog) -> EmbeddingSet:
        """Learned user vectors: every user with a counted event at fit time.

        ``catalog`` gives the users table: ``extra["users_without_vector"]`` counts its
        users that had no counted event (recommend to them from popularity instead).
        """
        if not self.learns_users:
            return super().user_embedding_set(catalog)
        self._check_fitted()
        known = set(self.user_ids_.tolist())
        missing = sum(1 for u in catalog.users.column("id").to_pylist() if u not in known)
        norms = np.linalg.norm(self.user_vectors_, axis=1)
        return EmbeddingSet(
            ids=self.user_ids_.copy(),
            vectors=self.user_vectors_.copy(),
            method=self.name,
            params=_jsonable(self.get_params()),
            fingerprint=self.fingerprint_,
            metric=self.metric,
            kind="user",
            normalized=bool(len(norms) and np.allclose(norms, 1.0, atol=1e-4)),
            extra={"users_without_vector": missing, **self.training_},
        )

    # --- persistence ---------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"fingerprint": self.fingerprint_, "training": self.training_}
        arrays = {
            "item_ids": np.array(self.item_ids_.tolist(), dtype=str),
            "item_vectors": self.item_vectors_,
            "cold_items": self.cold_items_,
            "user_ids": np.array(self.user_ids_.tolist(), dtype=str),
            "user_vectors": self.user_vectors_,
        }
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.item_ids_ = arrays["item_ids"].astype(object)
        self.item_vectors_ = arrays["item_vectors"].astype(np.float32)
        self.cold_items_ = arrays["cold_items"].astype(bool)
        self.user_ids_ = arrays["user_ids"].astype(object)
        self.user_vectors_ = arrays["user_vectors"].astype(np.float32)
        self.fingerprint_ = meta["fingerprint"]
        self.training_ = meta["training"]


def _sequence_corpus(inter: Interactions, rng: np.random.Generator) -> list[np.ndarray]:
    return inter.sequences()


def _set_corpus(inter: Interactions, rng: np.random.Generator) -> list[np.ndarray]:
    """Each user's distinct items, shuffled, cut into gensim-sized chunks."""
    out = []
    for seq in inter.sequences():
        items = rng.permutation(np.unique(seq))
        out += [items[i : i + MAX_SENTENCE] for i in range(0, max(len(items), 1), MAX_SENTENCE)]
    return out


MODES = {"sequence": _sequence_corpus, "set": _set_corpus}


class Item2Vec(CollaborativeEmbedder):
    """Item vectors from skip-gram over users' interactions (item2vec).

    Parameters
    ----------
    embedding_dim : vector dimension.
    mode : ``"sequence"``: each user's items in time order, context = ``window`` items on
        each side; ``"set"``: each user's distinct items shuffled (seeded), context = the
        whole set (``window`` is ignored; sets over 10,000 items are split).
    window : context half-width in ``sequence`` mode.
    negative : negative samples per positive pair.
    ns_exponent : exponent of the negative-sampling distribution (count ** ns_exponent):
        0.75 is word2vec's; 0 samples uniformly, negative values favour rare items.
    sample : frequent-item downsampling threshold (0 disables it).
    epochs, learning_rate : SGD passes and initial step (gensim's ``alpha``).
    min_count : items with fewer counted events are cold (see the module notes).
    event_kinds, min_value : which events count (:meth:`Catalog.interactions`); ``None``
        counts all kinds and values.
    seed : seeds gensim and the set shuffling.
    n_threads : gensim workers; only 1 gives bit-identical vectors from run to run.

    Vectors are compared by cosine. Users get vectors from :mod:`roost.embed.users`.

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(
    ...     items={"id": ["a", "b", "c"]},
    ...     events={"user_id": ["u", "u", "v", "v"], "item_id": ["a", "b", "b", "c"],
    ...             "kind": ["view"] * 4, "value": [1.0] * 4, "ts": [1, 2, 3, 4]})
    >>> Item2Vec(embedding_dim=8, sample=0).fit(c).transform(c).shape
    (3, 8)
    """

    name = "item2vec"
    metric = "cosine"
    positive_params = ("embedding_dim", "window", "negative", "epochs", "learning_rate",
                       "min_count", "n_threads")  # fmt: skip
    non_negative_params = ("sample",)
    choices = {"mode": tuple(MODES)}

    def __init__(
        self,
        embedding_dim: int = 64,
        mode: str = "sequence",
        window: int = 5,
        negative: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        epochs: int = 10,
        learning_rate: float = 0.025,
        min_count: int = 1,
        event_kinds: tuple[str, ...] | None = None,
        min_value: float | None = None,
        seed: int = 0,
        n_threads: int = 1,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.mode = mode
        self.window = window
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.min_count = min_count
        self.event_kinds = event_kinds
        self.min_value = min_value
        self.seed = seed
        self.n_threads = n_threads

    def _train(self, inter: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        corpus = MODES[self.mode](inter, np.random.default_rng(self.seed))
        whole_set = self.mode == "set"
        longest = max((len(s) for s in corpus), default=1)
        vectors, learned = skipgram(
            corpus,
            len(inter.item_ids),
            dim=self.embedding_dim,
            window=max(longest, 1) if whole_set else self.window,
            negative=self.negative,
            ns_exponent=self.ns_exponent,
            sample=self.sample,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            min_count=self.min_count,
            seed=self.seed,
            n_threads=self.n_threads,
            # the set form has no order: every item of the set is context, never fewer
            shrink_windows=not whole_set,
        )
        users = np.zeros((0, self.embedding_dim), np.float32)
        return vectors, learned, users, {"n_sentences": len(corpus)}
