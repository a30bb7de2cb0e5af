"""Samples of vectors for drift between time windows, or between old and new items.

Drift needs two samples from one space. Between versions those are the sets themselves;
between time windows they come from the events: what was consumed in a window (the item
vector of every event in it) or who consumed it (each active user's mean item vector); or
from the catalog: the items created in a window.

A window is written ``START..END`` (:func:`parse_window`), the form ``roost drift`` takes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from roost.data.frames import Catalog, Interactions
from roost.monitor.neighbours import normalize_rows
from roost.types import EmbeddingSet, RoostError, as_id_array

PER = ("event", "user")
#: What :func:`window_sample` draws from a window: events, active users, created items.
SAMPLES = ("event", "user", "item")
_WINDOW_RE = re.compile(r"([^.\s]*)\.\.([^.\s]*)")


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


# --- time windows written as text ---------------------------------------------------------
def is_window(text: str) -> bool:
    """Whether ``text`` is written as a window (``START..END``, each side empty or starting
    with a digit), not a version id or alias (those start with a letter or ``_``)."""
    m = _WINDOW_RE.fullmatch(text.strip())
    return bool(m) and all(not side or side[0].isdigit() for side in m.groups())


def parse_window(text: str) -> tuple[int | None, int | None]:
    """``START..END`` as epoch seconds ``(start, end)``: the window ``start <= t < end``.

    Each side is a date (``2013-06-04``, midnight UTC), an ISO 8601 time
    (``2013-06-04T12:00``, UTC unless it names an offset) or epoch seconds (digits only);
    an empty side leaves the window open there.

    Examples
    --------
    >>> parse_window("2013-01-01..2013-07-01")
    (1356998400, 1372636800)
    >>> parse_window("1372636800..")
    (1372636800, None)
    """
    m = _WINDOW_RE.fullmatch(text.strip())
    if not m or not is_window(text):
        raise RoostError(
            f"time window {text!r}: expected START..END, e.g. 2013-01-01..2013-07-01 "
            "(dates, ISO times or epoch seconds; either side may be empty)"
        )
    start, end = (_parse_time(side, text) if side else None for side in m.groups())
    if start is not None and end is not None and end <= start:
        raise RoostError(f"time window {text!r}: its end is not after its start")
    return start, end


def _parse_time(side: str, text: str) -> int:
    if side.isdigit():
        return int(side)
    try:
        t = datetime.fromisoformat(side)
    except ValueError:
        raise RoostError(
            f"time window {text!r}: {side!r} is not a date (YYYY-MM-DD), an ISO time or "
            "epoch seconds"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp())


def window_sample(
    items: EmbeddingSet,
    catalog: Catalog,
    start: int | None = None,
    end: int | None = None,
    per: str = "event",
) -> np.ndarray:
    """Vectors describing the window ``start <= t < end`` of a catalog, in ``items``' space.

    ``per="event"`` and ``"user"`` are :func:`window_vectors` over the catalog's events
    (every event's item; each active user's mean item). ``per="item"`` gives the vectors
    of the items whose ``created_at`` falls in the window (old vs new items); items
    without a creation time, or missing from ``items``, are skipped. Rows of cosine
    spaces are unit-normalised, as in :func:`window_vectors`.

    Examples
    --------
    >>> s = EmbeddingSet(np.array(["a", "b"], dtype=object), np.eye(2, dtype=np.float32),
    ...                  "onehot", {}, "f")
    >>> c = Catalog.from_pydict(items={"id": ["a", "b"], "created_at": [10, 20]})
    >>> window_sample(s, c, start=15, per="item").tolist()
    [[0.0, 1.0]]
    """
    if per not in SAMPLES:
        raise RoostError(f"per must be one of {SAMPLES}, got {per!r}")
    if per != "item":
        return window_vectors(items, catalog.interactions(), start, end, per)
    created = catalog.items.column("created_at")
    keep = pc.is_valid(created)
    if start is not None:
        keep = pc.and_(keep, pc.greater_equal(created, start))
    if end is not None:
        keep = pc.and_(keep, pc.less(created, end))
    ids = catalog.items.column("id").filter(pc.fill_null(keep, False)).to_pylist()
    pos = {x: j for j, x in enumerate(as_id_array(items.ids))}
    rows = [pos[i] for i in ids if i in pos]
    if not rows:
        raise RoostError(f"no items of the set were created in the window [{start}, {end})")
    vectors = np.asarray(items.vectors[rows], dtype=np.float32)
    return normalize_rows(vectors) if items.metric == "cosine" else vectors
