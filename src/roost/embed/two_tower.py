"""Two-tower (DSSM / YouTube candidate generation) user-item model, trained with PyTorch.

The **item tower** embeds an item from its id (a vocabulary of the items that had events
at fit time), its text (title, text and tags as a hashed bag of words, through
scikit-learn's ``HashingVectorizer`` into an ``EmbeddingBag``) and its category. The
**user tower** pools the item-tower vectors of the user's recent history (mean or
attention) and adds the user's free-form fields (hashed ``key=value`` tokens). Both end in
unit vectors; training predicts each event from the user's other events (or, with
``objective="next-item"``, from the events before it) with a softmax over the batch's
items (in-batch negatives, optional logQ correction, temperature).

Unseen item ids (and items with fewer than ``min_item_events`` events at fit time) share
id row 0, which training keeps useful by dropping ids to it at rate ``id_dropout``: such
items are embedded from their text and category alone. Torch is an optional extra
(``roost[torch]``); it is imported only when a model is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from types import ModuleType
from typing import Any, Self

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from roost.data.frames import Catalog
from roost.embed.base import Embedder
from roost.types import EmbeddingSet, RoostError, UnknownIdError

TEXT_FIELDS = ("title", "text", "tags", "author")
POOLINGS = ("mean", "attention")
OBJECTIVES = ("held-out", "next-item")
_WORDS = HashingVectorizer().build_analyzer()  # scikit-learn's lowercase word tokenizer


def _model() -> ModuleType:
    try:
        return importlib.import_module("roost.embed.two_tower_model")
    except ImportError as e:
        if e.name is not None and e.name.split(".")[0] != "torch":
            raise
        raise RoostError("the two-tower method needs PyTorch: pip install 'roost[torch]'") from e


def _tokens(doc: list[str]) -> list[str]:
    return doc  # documents arrive already tokenised


def _hashed(docs: list[list[str]], n_features: int) -> sp.csr_matrix:
    """Token lists as L1-normalised hashed counts (rows sum to 1, empty rows stay empty)."""
    if not docs:  # HashingVectorizer cannot transform an empty batch
        return sp.csr_matrix((0, n_features), dtype=np.float32)
    hv = HashingVectorizer(
        analyzer=_tokens, n_features=n_features, alternate_sign=False, norm="l1", dtype=np.float32
    )
    return hv.transform(docs).tocsr()


def _item_docs(items: pa.Table, fields: tuple[str, ...]) -> list[list[str]]:
    cols = [(f, items.column(f).to_pylist()) for f in fields]
    docs = []
    for i in range(items.num_rows):
        doc: list[str] = []
        for f, col in cols:
            v = col[i]
            if not v:
                continue
            if f == "tags":  # a tag is one token, kept apart from the same word in a title
                doc += ["tag:" + t.strip().lower() for t in v if t and t.strip()]
            elif f == "author":
                doc.append("author:" + v)
            else:
                doc += _WORDS(v)
        docs.append(doc)
    return docs


def _user_docs(users: pa.Table, user_ids: list[str]) -> list[list[str]]:
    """``key=value`` tokens from each user's ``fields`` JSON (list values give one each)."""
    raw = dict(zip(users.column("id").to_pylist(), users.column("fields").to_pylist(), strict=True))
    docs = []
    for uid in user_ids:
        text = raw.get(uid)
        try:
            obj = json.loads(text) if text else {}
        except ValueError as e:
            raise RoostError(f"user {uid!r}: fields is not valid JSON: {e}") from None
        doc = []
        for k, v in obj.items() if isinstance(obj, dict) else ():
            for x in v if isinstance(v, list) else [v]:
                doc.append(f"{k}={x}")
        docs.append(doc)
    return docs


class TwoTower(Embedder):
    """Two-tower user/item model with in-batch softmax (DSSM; Covington et al., 2016).

    Parameters
    ----------
    embedding_dim : output dimension of both towers (and of the id/text/category embeddings).
    hidden : width of each tower's hidden layer.
    epochs, batch_size, lr : Adam training budget; every event is one example per epoch.
    objective : what predicts an event in training. ``"held-out"``: up to ``max_history``
        of the user's other items, earlier and later (a random stretch of their history),
        the same kind of input the user tower gets when it embeds a user from their
        history; ``"next-item"``: the items before it only (sequential recommendation).
        On ML-100K's random 75/25 split next-item training ranked barely above
        popularity and got worse with more epochs: an item a user consumed first is never
        predicted from anything but an empty history.
    temperature : softmax temperature on cosine scores (lower is sharper).
    max_history : the user tower sees at most ``max_history`` items (a user's last ones
        when embedding users).
    pooling : ``"mean"`` or ``"attention"`` (a learned query) over the history.
    logq : subtract log item frequency from in-batch logits (popularity correction).
    id_dropout : rate at which ids are replaced by the shared unknown-id row in training.
    min_item_events : items with fewer events at fit time get no id row of their own.
    text_fields : item columns hashed into the text bag (title, text, tags, author).
    n_text_features, n_user_features : hashing buckets for item text and user fields.
    event_kinds, min_value : which events count (see :meth:`Catalog.interactions`).
    seed : seeds torch and the sampling; fits are repeatable for a given ``n_threads``.
    n_threads : torch intra-op threads during fit/transform (None: torch's default).

    Vectors are unit-norm and compared by ``cosine`` (the similarity the softmax trains
    on; on these unit vectors it equals the dot product).

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(
    ...     items={"id": ["a", "b", "c"], "title": ["red fox", "red hen", "blue jay"]},
    ...     events={"user_id": ["u", "u", "v"], "item_id": ["a", "b", "c"],
    ...             "kind": ["like"] * 3, "value": [1.0] * 3, "ts": [1, 2, 3]})
    >>> tt = TwoTower(embedding_dim=8, hidden=16, epochs=2).fit(c)
    >>> tt.transform(c).shape, tt.user_vector(["a"]).shape
    ((3, 8), (8,))
    """

    name = "two-tower"
    metric = "cosine"
    supports_new_items = True
    learns_users = True
    collaborative = True
    positive_params = ("embedding_dim", "hidden", "epochs", "batch_size", "max_history",
                       "n_text_features", "n_user_features", "temperature")  # fmt: skip
    non_negative_params = ("n_threads",)
    choices = {"pooling": POOLINGS, "objective": OBJECTIVES}

    def __init__(
        self,
        embedding_dim: int = 64,
        hidden: int = 128,
        epochs: int = 4,
        batch_size: int = 1024,
        lr: float = 0.005,
        temperature: float = 0.05,
        max_history: int = 100,
        objective: str = "held-out",
        pooling: str = "mean",
        logq: bool = True,
        id_dropout: float = 0.1,
        min_item_events: int = 1,
        text_fields: tuple[str, ...] = ("title", "text", "tags"),
        n_text_features: int = 2**15,
        n_user_features: int = 2**12,
        event_kinds: tuple[str, ...] | None = None,
        min_value: float | None = None,
        seed: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.temperature = temperature
        self.max_history = max_history
        self.objective = objective
        self.pooling = pooling
        self.logq = logq
        self.id_dropout = id_dropout
        self.min_item_events = min_item_events
        self.text_fields = text_fields
        self.n_text_features = n_text_features
        self.n_user_features = n_user_features
        self.event_kinds = event_kinds
        self.min_value = min_value
        self.seed = seed
        self.n_threads = n_threads

    # --- fitting ------------------------------------------------------------------------
    def fit(self, catalog: Catalog) -> Self:
        """Train both towers on the catalog's events; returns ``self``."""
        self._check_params()
        model = _model()
        self._check_items(catalog)
        inter = self._interactions(catalog)
        if len(inter) == 0:
            raise RoostError(
                "two-tower learns from events and the catalog has none"
                + (" that pass event_kinds/min_value" if catalog.events.num_rows else "")
            )
        counts = np.bincount(inter.items, minlength=len(inter.item_ids))
        own_row = counts >= max(self.min_item_events, 1)
        cats = catalog.items.column("category").to_pylist()
        self.id_vocab_ = [str(x) for x in catalog.item_ids[own_row]]
        self.categories_ = sorted({c for c in cats if c})
        self.item_ids_ = [str(x) for x in catalog.item_ids]
        self._feats = self._features(catalog)
        fields = _hashed(_user_docs(catalog.users, list(inter.user_ids)), self.n_user_features)
        with model.torch_env(self.seed, self.n_threads):
            self._net = self._build(model)
            self.loss_ = model.train(self._net, self._feats, inter.sequences(), fields, self)
        return self

    def _check_params(self) -> None:
        super()._check_params()
        bad = [f for f in self.text_fields if f not in TEXT_FIELDS]
        if bad:
            raise RoostError(f"two-tower: text_fields {bad} not among {TEXT_FIELDS}")
        if not 0 <= self.id_dropout < 1:
            raise RoostError(f"two-tower: id_dropout must be in [0, 1), got {self.id_dropout!r}")

    def _interactions(self, catalog: Catalog):
        kinds = tuple(self.event_kinds) if self.event_kinds is not None else None
        return catalog.interactions(kinds=kinds, min_value=self.min_value)

    def _build(self, model: ModuleType):
        return model.TwoTowerNet(
            len(self.id_vocab_) + 1,
            len(self.categories_) + 1,
            self.n_text_features,
            self.n_user_features,
            self,
        )

    def _features(self, catalog: Catalog):
        """Item-tower inputs for ``catalog.items``: unseen ids and categories map to row 0."""
        id_row = {k: j + 1 for j, k in enumerate(self.id_vocab_)}
        cat_row = {k: j + 1 for j, k in enumerate(self.categories_)}
        ids = catalog.items.column("id").to_pylist()
        cats = catalog.items.column("category").to_pylist()
        return _model().ItemFeatures(
            id_rows=np.array([id_row.get(k, 0) for k in ids], np.int64),
            cat_rows=np.array([cat_row.get(c, 0) for c in cats], np.int64),
            text=_hashed(_item_docs(catalog.items, tuple(self.text_fields)), self.n_text_features),
        )

    # --- item vectors -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        self._check_fitted()
        return self.embedding_dim

    def transform(self, catalog: Catalog) -> np.ndarray:
        """Unit float32 item vectors for ``catalog.items``; new items embed from their text."""
        self._check_fitted()
        model = _model()
        with model.torch_env(self.seed, self.n_threads):
            return model.item_vectors(self._net, self._features(catalog))

    def embedding_set(self, catalog: Catalog) -> EmbeddingSet:
        s = super().embedding_set(catalog)
        return dataclasses.replace(s, extra={"loss": [round(x, 5) for x in self.loss_]})

    # --- user vectors -------------------------------------------------------------------
    def user_embedding_set(self, catalog: Catalog) -> EmbeddingSet:
        """One vector per user of ``catalog`` (events or users table), from their full history.

        Users are sorted by id; a user without events gets the tower's empty-history
        vector (moved by their fields, if any).
        """
        self._check_fitted()
        model = _model()
        inter = self._interactions(catalog)
        by_user = dict(zip(inter.user_ids, inter.sequences(), strict=True))
        ids = sorted(set(by_user) | set(catalog.users.column("id").to_pylist()))
        empty = np.zeros(0, np.int64)
        seqs = [by_user.get(u, empty).astype(np.int64) for u in ids]
        fields = _hashed(_user_docs(catalog.users, ids), self.n_user_features)
        with model.torch_env(self.seed, self.n_threads):
            vecs = model.user_vectors(
                self._net, self._features(catalog), seqs, fields, self.max_history
            )
        return EmbeddingSet(
            ids=np.asarray(ids, dtype=object),
            vectors=np.ascontiguousarray(vecs, dtype=np.float32),
            method=self.name,
            params=self._json_params(),
            fingerprint=catalog.fingerprint,
            metric=self.metric,
            kind="user",
            normalized=True,
        )

    def user_vectors(
        self, histories: list[list[str]], fields: list[dict[str, Any]] | None = None
    ) -> np.ndarray:
        """Fold in users from their item ids (oldest first): one unit vector per history.

        Item ids must be items of the fitted catalog (:class:`UnknownIdError` otherwise);
        ``fields`` are the users' free-form fields, as in the users table.

        Examples
        --------
        >>> tt.user_vectors([["a", "b"], []]).shape  # doctest: +SKIP
        (2, 8)
        """
        self._check_fitted()
        model = _model()
        row = {k: j for j, k in enumerate(self.item_ids_)}
        seqs = []
        for h in histories:
            missing = [x for x in h if x not in row]
            if missing:
                raise UnknownIdError(f"unknown item id {missing[0]!r}: not in the fitted catalog")
            seqs.append(np.array([row[x] for x in h], np.int64))
        docs = [
            [f"{k}={x}" for k, v in (f or {}).items() for x in (v if isinstance(v, list) else [v])]
            for f in (fields or [{}] * len(seqs))
        ]
        if len(docs) != len(seqs):
            raise RoostError(f"{len(docs)} field dicts for {len(seqs)} histories")
        with model.torch_env(self.seed, self.n_threads):
            return model.user_vectors(
                self._net, self._feats, seqs, _hashed(docs, self.n_user_features), self.max_history
            )

    def user_vector(self, item_ids: list[str], fields: dict[str, Any] | None = None) -> np.ndarray:
        """One new user's unit vector from their item ids: the batch of one."""
        return self.user_vectors([list(item_ids)], None if fields is None else [fields])[0]

    # --- persistence --------------------------------------------------------------------
    def _json_params(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "id_vocab": self.id_vocab_,
            "categories": self.categories_,
            "item_ids": self.item_ids_,
            "loss": self.loss_,
        }
        text = self._feats.text
        arrays = {f"net.{k}": v for k, v in _model().state_arrays(self._net).items()}
        arrays |= {
            "item_id_rows": self._feats.id_rows,
            "item_cat_rows": self._feats.cat_rows,
            "text_indptr": text.indptr.astype(np.int64),
            "text_indices": text.indices.astype(np.int64),
            "text_data": text.data.astype(np.float32),
        }
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        model = _model()
        self.id_vocab_ = list(meta["id_vocab"])
        self.categories_ = list(meta["categories"])
        self.item_ids_ = list(meta["item_ids"])
        self.loss_ = list(meta["loss"])
        text = sp.csr_matrix(
            (arrays["text_data"], arrays["text_indices"], arrays["text_indptr"]),
            shape=(len(self.item_ids_), self.n_text_features),
        )
        self._feats = model.ItemFeatures(arrays["item_id_rows"], arrays["item_cat_rows"], text)
        with model.torch_env(self.seed, self.n_threads):
            self._net = self._build(model)
        model.load_arrays(self._net, {k[4:]: v for k, v in arrays.items() if k.startswith("net.")})
