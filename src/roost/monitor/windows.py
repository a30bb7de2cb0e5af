"""Samples of vectors for drift between time windows, or between old and new items.

Drift needs two samples from one space. Between versions those are the sets themselves;
between time windows they come from the events: what was consumed in a window (the item
vector of every event in it) or who consumed it (each active user's mean item vector).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from roost.data.frames import Interactions
from roost.monitor.neighbours import normalize_rows
from roost.types import EmbeddingSet, RoostError, as_id_array

PER = ("event", "user")


def window_vectors(
    items: EmbeddingSet,
    interactions: Interactions,
    start: int | None = None,
    end: int | None = None,
    per: str = "event",
) -> np.ndarray:
    """Vectors describing one time window ``start <= ts < end`` of the events.

    Parameters
    ----------
    items : item vectors (rows of cosine spaces are unit-normalised first).
    interactions : the events; their item ids are looked up in ``items`` (events on items
        the set lacks are skipped).
    start, end : window bounds in the events' time unit (epoch seconds); ``None`` is open.
    per : ``event`` gives one row per event (the consumed item's vector: what was popular);
        ``user`` gives one row per active user, the mean of the items they touched in the
        window (who was active and what they liked).

    Examples
    --------
    >>> import numpy as np
    >>> from roost.data.frames import Interactions
    >>> from roost.types import EmbeddingSet
    >>> s = EmbeddingSet(np.array(["a", "b"], dtype=object), np.eye(2, dtype=np.float32),
    ...                  "onehot", {}, "f")
    >>> ev = Interactions.from_arrays(["u", "u", "v"], ["a", "b", "b"], ts=[1, 2, 3])
    >>> window_vectors(s, ev, per="user").tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    >>> window_vectors(s, ev, start=2).tolist()
    [[0.0, 1.0], [0.0, 1.0]]
    """
    if per not in PER:
        raise RoostError(f"per must be one of {PER}, got {per!r}")
    vectors = np.asarray(items.vectors, dtype=np.float32)
    if items.metric == "cosine":
        vectors = normalize_rows(vectors)
    pos = {x: j for j, x in enumerate(as_id_array(items.ids))}
    col = np.array([pos.get(str(x), -1) for x in interactions.item_ids], dtype=np.int64)
    rows = col[interactions.items]
    keep = rows >= 0
    if start is not None:
        keep &= interactions.ts >= start
    if end is not None:
        keep &= interactions.ts < end
    if not keep.any():
        raise RoostError(f"no events with known items in the window [{start}, {end})")
    if per == "event":
        return vectors[rows[keep]]
    users = interactions.users[keep]
    # users x events averaging matrix: one sparse product gives every user's mean vector.
    uniq, inv = np.unique(users, return_inverse=True)
    counts = np.bincount(inv).astype(np.float32)
    avg = sp.csr_matrix(
        (1.0 / counts[inv], (inv, np.arange(len(inv)))), shape=(len(uniq), len(inv))
    )
    return np.asarray(avg @ vectors[rows[keep]], dtype=np.float32)


def time_split(ts: np.ndarray, fractions: Sequence[float] = (0.5,)) -> list[int]:
    """Window bounds at the given quantiles of the event times (equal-count windows).

    Examples
    --------
    >>> time_split(np.arange(10), (0.5,))
    [5]
    """
    ts = np.asarray(ts)
    if len(ts) == 0:
        raise RoostError("no events to split")
    return [int(np.quantile(ts, f, method="higher")) for f in fractions]


def subset(items: EmbeddingSet, ids: Sequence[str]) -> np.ndarray:
    """The vectors of ``ids`` (present ones, in the given order): e.g. old vs new items."""
    pos = {x: j for j, x in enumerate(as_id_array(items.ids))}
    rows = [pos[i] for i in map(str, ids) if i in pos]
    if not rows:
        raise RoostError("none of the ids is in the set")
    return np.asarray(items.vectors[rows])
