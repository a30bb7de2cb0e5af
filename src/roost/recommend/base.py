"""Contracts of the four stages: channels find candidates, filters drop them, rankers
order them. A :class:`Candidate` carries every channel's score and every reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

from roost.recommend.context import RecContext


@dataclass
class Candidate:
    """One item on its way through the pipeline."""

    row: int
    scores: dict[str, float] = field(default_factory=dict)  # channel name -> score
    why: list[dict[str, Any]] = field(default_factory=list)
    final: float = 0.0
    features: dict[str, float] = field(default_factory=dict)  # the ranker's top reasons
    raw: Any = None  # the feature row a learned ranker scored, kept for its explanation

    def add(self, channel: str, score: float, why: dict[str, Any]) -> None:
        if score > self.scores.get(channel, float("-inf")):
            self.scores[channel] = score
        if len(self.why) < 8:
            self.why.append({"channel": channel, **why})


class Shortlist(Sequence):
    """One channel's candidates as arrays: item rows and scores, best first, and the
    reasons kept by column (``why[key]`` is one value per candidate, or one value shared
    by all). A reason becomes a dict only when someone reads it, which a request does for
    the k items it returns, not for the hundreds each channel offers.

    It reads as the sequence of ``(row, score, why)`` tuples it stands for.

    Parameters
    ----------
    rows, scores : one per candidate, best first.
    why : reason columns: key -> array/list (per candidate) or a plain value (shared).
    digits : key -> decimal places the value is rounded to when read.
    """

    __slots__ = ("rows", "scores", "why", "digits", "_dicts")

    def __init__(self, rows, scores, why=None, digits=None):
        self.rows = np.asarray(rows, np.int64)
        self.scores = np.asarray(scores, np.float64)
        self.why: dict[str, Any] = why or {}
        self.digits: dict[str, int] = digits or {}
        self._dicts: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, hits: Shortlist | Sequence[tuple[int, float, dict[str, Any]]]) -> Shortlist:
        """A shortlist from a channel's answer, whichever form it took."""
        if isinstance(hits, Shortlist):
            return hits
        n = len(hits)
        out = cls(np.fromiter((h[0] for h in hits), np.int64, n),
                  np.fromiter((h[1] for h in hits), np.float64, n))  # fmt: skip
        out._dicts = [h[2] for h in hits]
        return out

    def reason(self, j: int) -> dict[str, Any]:
        """The reason of candidate ``j`` as a new dict."""
        if self._dicts is not None:
            return dict(self._dicts[j])
        out = {}
        for key, col in self.why.items():
            v = col[j] if isinstance(col, np.ndarray | list) else col
            if isinstance(v, np.generic):
                v = v.item()
            d = self.digits.get(key)
            out[key] = round(v, d) if d is not None else v
        return out

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, j):
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(len(self)))]
        return int(self.rows[j]), float(self.scores[j]), self.reason(j)

    def __eq__(self, other) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # mutable, like a list

    def __repr__(self) -> str:
        return f"Shortlist({list(self)!r})"


class Channel(ABC):
    """Candidate generation: items one user might want, each with a score and a reason.

    Subclasses keep hyperparameters in ``__init__`` and may precompute in ``fit(ctx)``.
    """

    name: ClassVar[str] = ""

    def fit(self, ctx: RecContext) -> Self:
        return self

    def observe(self, ctx: RecContext, user: str, row: int, weight: float) -> None:  # noqa: B027
        """A live event (already in ``ctx``): channels with state of their own update it."""

    @abstractmethod
    def candidates(self, ctx: RecContext, user: str, k: int) -> Shortlist | list[tuple]:
        """Up to ``k`` candidates, best first: a :class:`Shortlist` (arrays), or a list of
        ``(item row, score, why)`` tuples; empty when it has none."""


class Filter(ABC):
    """A business rule: removes candidates; ``removed`` counts what it took, per call."""

    name: ClassVar[str] = ""

    @abstractmethod
    def keep(self, ctx: RecContext, user: str, rows: list[int]) -> list[bool]:
        """For each candidate row, whether it may be shown to ``user``."""


class Ranker(ABC):
    """Orders candidates; sets ``Candidate.final`` (higher is better)."""

    name: ClassVar[str] = ""

    @abstractmethod
    def score(self, ctx: RecContext, user: str, cands: list[Candidate]) -> None: ...

    def explain(self, ctx: RecContext, user: str, chosen: list[Candidate]) -> None:  # noqa: B027
        """Fill ``features`` of the chosen few with the ranker's reasons (optional: it
        runs after selection, on k items rather than the whole pool)."""


class Pool(Sequence):
    """One request's candidates as arrays: every channel's score in a matrix, the
    reasons kept as the channels gave them and turned into per-item lists only for the
    items someone reads (the chosen k). Indexing gives :class:`Candidate`-like views.

    Parameters
    ----------
    rows : item rows, one per candidate.
    channels : channel names, one per column of ``scores``.
    scores : ``(n, len(channels))``, each channel's best score for the item, NaN where
        the channel did not find it.
    """

    def __init__(self, rows, channels, scores, *, hits=None, hit_of=None, items=None):
        self.rows = np.asarray(rows, np.int64)
        self.channels = list(channels)
        self.scores = np.asarray(scores, np.float64).reshape(len(self.rows), len(self.channels))
        self.final = np.zeros(len(self.rows))
        self.raw: np.ndarray | None = None  # the feature rows a learned ranker scored
        self._hits = hits  # per channel: its Shortlist
        self._hit_of = hit_of  # (candidate, channel, hit) of every hit, channel order
        self._src = np.arange(len(self.rows))  # candidate number in _hit_of
        self._items = items  # the Candidate objects this pool was made from, if any
        self._by_candidate: tuple[np.ndarray, np.ndarray] | None = None
        self._views: dict[int, Any] = {}

    @classmethod
    def merge(cls, found: list[tuple[str, Any]], drop: np.ndarray | None = None) -> Pool:
        """Merge channel results ``[(name, shortlist or [(row, score, why), ...]), ...]``
        per item; rows where ``drop`` is true are left out."""
        names = [name for name, _ in found]
        lists = [Shortlist.of(h) for _, h in found]
        sizes = [len(h) for h in lists]
        n = sum(sizes)
        if n:
            rows = np.concatenate([h.rows for h in lists])
            score = np.concatenate([h.scores for h in lists])
        else:
            rows, score = np.zeros(0, np.int64), np.zeros(0)
        ch = np.repeat(np.arange(len(found)), sizes)
        hit = np.concatenate([np.arange(s) for s in sizes]) if n else np.zeros(0, np.int64)
        if drop is not None and n:
            ok = (rows >= len(drop)) | ~drop[np.minimum(rows, len(drop) - 1)]
            rows, score, ch, hit = rows[ok], score[ok], ch[ok], hit[ok]
        uniq, first, inv = np.unique(rows, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # first-found order, as channels ranked
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        inv = rank[inv]
        scores = np.full((len(uniq), len(names)), -np.inf)
        np.maximum.at(scores, (inv, ch), score)
        scores[np.isneginf(scores)] = np.nan
        return cls(uniq[order], names, scores, hits=lists, hit_of=(inv, ch, hit))

    @classmethod
    def of(cls, cands: Sequence[Candidate]) -> Pool:
        """A pool over :class:`Candidate` objects; scores set on it reach them too."""
        if isinstance(cands, Pool):
            return cands
        names = list(dict.fromkeys(ch for c in cands for ch in c.scores))
        col = {ch: j for j, ch in enumerate(names)}
        scores = np.full((len(cands), len(names)), np.nan)
        for i, c in enumerate(cands):
            for ch, s in c.scores.items():
                scores[i, col[ch]] = s
        return cls([c.row for c in cands], names, scores, items=list(cands))

    def column(self, channel: str) -> np.ndarray:
        """The channel's scores, 0 where it did not find the item."""
        if channel not in self.channels:
            return np.zeros(len(self.rows))
        return np.nan_to_num(self.scores[:, self.channels.index(channel)], nan=0.0)

    def set_final(self, values: np.ndarray, raw: np.ndarray | None = None) -> None:
        self.final = np.asarray(values, np.float64)
        self.raw = raw
        self._views.clear()  # views carry the old scores
        if self._items is not None:
            for j, c in enumerate(self._items):
                c.final = float(self.final[j])
                c.raw = None if raw is None else raw[j]

    def take(self, keep: np.ndarray) -> Pool:
        """The candidates where ``keep`` is true (a mask or indices), reasons kept."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        out = Pool(self.rows[idx], self.channels, self.scores[idx], hits=self._hits,
                   hit_of=self._hit_of)  # fmt: skip
        out.final = self.final[idx]
        out.raw = None if self.raw is None else self.raw[idx]
        out._src = self._src[idx]
        out._by_candidate = self._by_candidate
        if self._items is not None:
            out._items = [self._items[j] for j in idx]
        return out

    def why(self, j: int) -> list[dict[str, Any]]:
        """The reasons of candidate ``j``: up to 8, in the order the channels gave them."""
        if self._hit_of is None:
            return []
        inv, ch, hit = self._hit_of
        if self._by_candidate is None:
            # every hit's position grouped by candidate (channel order kept), found once
            # per pool rather than by a scan of all hits per candidate read
            order = np.argsort(inv, kind="stable")
            self._by_candidate = (order, np.searchsorted(inv[order], np.arange(inv.max() + 2)))
        order, start = self._by_candidate
        c = self._src[j]
        at = order[start[c] : min(start[c + 1], start[c] + 8)]
        return [
            {"channel": self.channels[c], **self._hits[c].reason(h)}
            for c, h in zip(ch[at].tolist(), hit[at].tolist(), strict=True)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, j):
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(len(self)))]
        j = int(j) + (len(self) if j < 0 else 0)
        if self._items is not None:
            return self._items[j]
        if j not in self._views:
            s = self.scores[j]
            c = Candidate(
                int(self.rows[j]),
                {ch: float(v) for ch, v in zip(self.channels, s, strict=True) if v == v},
                self.why(j),
                float(self.final[j]),
            )
            c.raw = None if self.raw is None else self.raw[j]
            self._views[j] = c
        return self._views[j]
