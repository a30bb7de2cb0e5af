"""The Embedder contract that every method of the ladder implements.

scikit-learn style: ``__init__`` only stores its keyword arguments (all visible in the
signature), ``fit(catalog)`` learns and returns ``self``, learned state ends in ``_``.
Persistence never pickles: a fitted embedder is a folder with ``embedder.json`` (method,
params, JSON state) and ``arrays.npz`` (numeric and unicode arrays, loaded with
``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from roost.data.frames import Catalog
from roost.types import EmbeddingSet, NotFittedError, RoostError

FORMAT_VERSION = 1
#: What a content method gives an item with no usable feature (its ``fallback`` parameter):
#: ``"id"``, a feature of the item's id alone (see :func:`id_directions`, :func:`id_buckets`);
#: ``None``, a zero row (which a store refuses under the cosine metric).
FALLBACKS = ("id", None)


class Embedder(ABC):
    """Base class: fit on a :class:`~roost.data.frames.Catalog`, give float32 vectors.

    Subclasses set ``name`` (the registry key), ``metric`` (the similarity their space is
    meant for), ``supports_new_items`` (``transform`` accepts items unseen in ``fit``),
    ``learns_users`` (``user_embedding_set`` is available) and ``collaborative`` (``fit``
    learns from events, so a catalog without events is an error; content methods learn
    from the items alone and must fit without events), and implement ``fit``,
    ``transform``, ``_get_state`` and ``_set_state``.
    """

    name: ClassVar[str] = ""
    metric: ClassVar[str] = "cosine"
    supports_new_items: ClassVar[bool] = False
    learns_users: ClassVar[bool] = False
    collaborative: ClassVar[bool] = False
    #: constructor parameters checked by :meth:`_check_params`: must be > 0, must be >= 0,
    #: must be one of the given values
    positive_params: ClassVar[tuple[str, ...]] = ()
    non_negative_params: ClassVar[tuple[str, ...]] = ()
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {}

    # --- hyperparameters (scikit-learn's get_params convention) -----------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        """Refuse out-of-range hyperparameters (from the class's declarations) at fit time."""
        for k in self.positive_params:
            v = getattr(self, k)
            if not (isinstance(v, int | float) and v > 0):
                raise RoostError(f"{self.name}: {k} must be > 0, got {v!r}")
        for k in self.non_negative_params:
            v = getattr(self, k)
            if not (isinstance(v, int | float) and v >= 0):
                raise RoostError(f"{self.name}: {k} must be >= 0, got {v!r}")
        for k, allowed in self.choices.items():
            v = getattr(self, k)
            if v not in allowed:
                shown = ", ".join(repr(a) for a in allowed)
                raise RoostError(f"{self.name}: {k} must be one of {shown}; got {v!r}")

    # --- the contract -------------------------------------------------------------------
    @abstractmethod
    def fit(self, catalog: Catalog) -> Self:
        """Learn from the catalog (items and/or events); returns ``self``."""

    @abstractmethod
    def transform(self, catalog: Catalog) -> np.ndarray:
        """float32 vectors, one row per item of ``catalog.items`` in its order.

        Methods that cannot embed unseen items raise :class:`~roost.types.UnknownIdError`
        naming the first unknown id.
        """

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector dimension (available once fitted)."""

    def fit_transform(self, catalog: Catalog) -> np.ndarray:
        return self.fit(catalog).transform(catalog)

    def embedding_set(self, catalog: Catalog) -> EmbeddingSet:
        """The fitted method's item vectors for ``catalog`` as an :class:`EmbeddingSet`."""
        self._check_fitted()
        vectors = np.ascontiguousarray(self.transform(catalog), dtype=np.float32)
        return EmbeddingSet(
            ids=catalog.item_ids,
            vectors=vectors,
            method=self.name,
            params=_jsonable(self.get_params()),
            fingerprint=catalog.fingerprint,
            metric=self.metric,
            kind="item",
            normalized=bool(np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4))
            if len(vectors)
            else False,
        )

    def user_embedding_set(self, catalog: Catalog) -> EmbeddingSet:
        """User vectors learned by the method (only where ``learns_users``)."""
        raise RoostError(f"method {self.name!r} does not learn user vectors")

    # --- persistence --------------------------------------------------------------------
    @abstractmethod
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Learned state as (JSON-able dict, dict of non-object numpy arrays)."""

    @abstractmethod
    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`_get_state`."""

    def save(self, path: str | Path) -> Path:
        """Write the fitted embedder to the folder ``path`` (created); returns it."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta, arrays = self._get_state()
        for k, a in arrays.items():
            if np.asarray(a).dtype == object:
                raise TypeError(f"state array {k!r} has dtype object; store str arrays as 'U'")
        doc = {
            "format": FORMAT_VERSION,
            "method": self.name,
            "params": _jsonable(self.get_params()),
            "state": meta,
        }
        text = json.dumps(doc, indent=1, sort_keys=True)
        # Each file is written aside and renamed into place, so a reader never sees half a
        # file; the arrays go first so that a complete embedder.json means a complete save.
        tmp = path / "arrays.npz.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        tmp.replace(path / "arrays.npz")
        tmp = path / "embedder.json.tmp"
        tmp.write_text(text)
        tmp.replace(path / "embedder.json")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Embedder:
        """Read an embedder written by :meth:`save` (any registered method)."""
        from roost.embed import get

        path = Path(path)
        try:
            doc = json.loads((path / "embedder.json").read_text())
        except (OSError, ValueError) as e:
            raise RoostError(f"{path / 'embedder.json'}: cannot read saved embedder: {e}") from e
        method = doc.get("method", "")
        if cls is not Embedder and method != cls.name:
            raise RoostError(
                f"{path}: holds a saved {method!r} embedder, not {cls.name!r}; "
                "use Embedder.load to read any method"
            )
        klass = get(method) if cls is Embedder else cls
        obj = klass(**doc["params"])
        try:
            with np.load(path / "arrays.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise RoostError(f"{path / 'arrays.npz'}: cannot read saved embedder: {e}") from e
        obj._set_state(doc["state"], arrays)
        return obj

    # --- helpers ------------------------------------------------------------------------
    def _is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def _check_items(self, catalog: Catalog) -> None:
        """Refuse to fit on a catalog without items (every method needs some)."""
        if catalog.items.num_rows == 0:
            raise RoostError(f"{self.name}: the catalog has no items")

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(catalog) first")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


# --- features of the item id alone ------------------------------------------------------
# An item with no usable feature (no known word, no category, no event) still needs a row:
# a zero vector has no direction under cosine. A feature of its id alone gives it one that
# is unrelated to every other item, instead of making all such items each other's nearest
# neighbours (a shared "unknown" vector would).
def id_directions(ids: np.ndarray, dim: int, seed: int, scale: float) -> np.ndarray:
    """Per id a unit Gaussian direction seeded by ``(seed, id)``, times ``scale`` (float32)."""
    out = np.empty((len(ids), dim), np.float32)
    for r, i in enumerate(ids):
        digest = hashlib.blake2b(f"{seed}\x00{i}".encode(), digest_size=8).digest()
        v = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(dim)
        out[r] = v * (scale / np.linalg.norm(v))
    return out


def id_buckets(ids: np.ndarray, n_buckets: int) -> np.ndarray:
    """Per id a bucket in ``0..n_buckets-1`` from a stable hash (the same in every process)."""
    out = np.empty(len(ids), np.int64)
    for r, i in enumerate(ids):
        digest = hashlib.blake2b(str(i).encode(), digest_size=8).digest()
        out[r] = int.from_bytes(digest, "little") % n_buckets
    return out


def fill_empty_rows(vectors: np.ndarray, ids: np.ndarray, seed: int) -> np.ndarray:
    """Dense rows that are all zero get :func:`id_directions`, scaled to the median norm of
    the other rows (1 when there are none, so unit rows stay unit); in place, returned."""
    empty = ~vectors.any(axis=1)
    if empty.any():
        norms = np.linalg.norm(vectors[~empty], axis=1)
        scale = float(np.median(norms)) if len(norms) else 1.0
        rows = np.flatnonzero(empty)
        vectors[rows] = id_directions(np.asarray(ids)[rows], vectors.shape[1], seed, scale or 1.0)
    return vectors
