"""Contracts of the four stages: channels find candidates, filters drop them, rankers
order them. A :class:`Candidate` carries every channel's score and every reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

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
    def candidates(
        self, ctx: RecContext, user: str, k: int
    ) -> list[tuple[int, float, dict[str, Any]]]:
        """Up to ``k`` ``(item row, score, why)`` tuples, best first; [] when it has none."""


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
