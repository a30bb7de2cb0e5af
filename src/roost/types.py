"""The few value types every stage shares.

External ids are strings everywhere; row numbers stay inside the module that owns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

Metric = Literal["cosine", "dot", "l2"]
METRICS: tuple[str, ...] = ("cosine", "dot", "l2")
EventKind = Literal["view", "click", "like", "share", "rating", "purchase"]
EVENT_KINDS: tuple[str, ...] = ("view", "click", "like", "share", "rating", "purchase")


class RoostError(Exception):
    """Base of every error Roost raises on purpose: a user-facing message, no traceback needed."""


class NotFittedError(RoostError, ValueError):
    """A component was used before ``fit``."""


class UnknownIdError(RoostError, KeyError):
    """An external id that the component has never seen."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else "unknown id"


def as_id_array(ids: Any) -> np.ndarray:
    """External ids as a 1-D numpy array of Python ``str`` (dtype object)."""
    arr = np.asarray(ids, dtype=object)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    return np.array([str(x) for x in arr], dtype=object)


@dataclass(frozen=True)
class EmbeddingSet:
    """Vectors with their external ids and where they came from: the unit the store versions.

    Parameters
    ----------
    ids : 1-D array of str, unique.
    vectors : float32 array of shape ``(len(ids), dim)``.
    method : registry name of the method that made them.
    params : the method's hyperparameters (JSON-serialisable).
    fingerprint : hash of the data the method was fit on.
    metric : the similarity the space is meant for: ``cosine``, ``dot`` or ``l2``.
    kind : what the ids name: ``item``, ``user`` or ``word``.
    normalized : whether rows have unit L2 norm.
    extra : any further JSON-serialisable facts (training loss, vocabulary size ...).

    Examples
    --------
    >>> import numpy as np
    >>> s = EmbeddingSet(ids=np.array(["a", "b"], dtype=object),
    ...                  vectors=np.eye(2, dtype=np.float32), method="onehot",
    ...                  params={}, fingerprint="x")
    >>> s.dim
    2
    """

    ids: np.ndarray
    vectors: np.ndarray
    method: str
    params: dict[str, Any]
    fingerprint: str
    metric: str = "cosine"
    kind: str = "item"
    normalized: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


class Hits(NamedTuple):
    """Batch search results: ``ids[q, r]`` is the r-th hit of query q, best first.

    Rows with fewer than k hits are padded with ``None`` ids and ``-inf`` scores.
    Higher score is always better (L2 results carry negated squared distances).
    """

    ids: np.ndarray  # object, (n_queries, k)
    scores: np.ndarray  # float32, (n_queries, k)

    def row(self, q: int) -> list[tuple[str, float]]:
        """The hits of query ``q`` as ``(id, score)`` pairs, padding dropped."""
        return [
            (i, float(s)) for i, s in zip(self.ids[q], self.scores[q], strict=True) if i is not None
        ]
