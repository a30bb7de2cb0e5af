"""Reserved slots: a mixing step after ranking that keeps room for one channel's fresh
candidates in the first ``k`` (the Flutter timeline: a new flit of a bird you follow shows
at once, whatever the ranker learned about the followed channel).

A learned ranker weighs a channel by what it saw in training; a channel that rarely held a
positive there (or never: a catalog without follows) gets little weight, and a followed
bird's new post could sit below the cut however fresh it is. A reservation is declared per
surface in ``surfaces.toml``::

    [[home.reserve]]
    channel = "followed"     # a channel label of the surface
    slots = 2                # at most this many of its candidates are lifted into the k
    max_age_days = 3         # only candidates at most this old (catalog time)

Only candidates that reached ranking are lifted: they passed the surface's filters (seen,
blocked, unsafe ...) like any other. The newest ``slots`` of them take the first places,
newest first (a timeline shows what is new on top); the rest keep the ranker's order, and
the last of the ``k`` make room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from roost.recommend.base import Pool
from roost.recommend.context import RecContext
from roost.types import RoostError

KEYS = ("channel", "slots", "max_age_days")


@dataclass(frozen=True)
class Reserve:
    """Up to ``slots`` of ``channel``'s candidates at most ``max_age_days`` old are kept
    in the first ``k`` of a surface's answer.

    Examples
    --------
    >>> Reserve("followed", slots=2).slots
    2
    """

    channel: str = "followed"
    slots: int = 2
    max_age_days: float = 3.0

    def apply(self, ctx: RecContext, pool: Pool, order: np.ndarray, k: int) -> np.ndarray:
        """``order`` (pool positions, best first) with the reserved candidates first;
        unchanged when the channel found nothing fresh."""
        if self.channel not in pool.channels or not len(pool):
            return order
        found = np.flatnonzero(~np.isnan(pool.scores[:, pool.channels.index(self.channel)]))
        age = ctx.age_days(pool.rows[found])
        fresh = found[age <= self.max_age_days]
        if not len(fresh):
            return order
        order = np.asarray(order)
        ages = ctx.age_days(pool.rows[fresh])
        out = fresh[np.argsort(ages, kind="stable")][: min(self.slots, k)]
        return np.concatenate([out, order[~np.isin(order, out)]])


def parse(value: Any, channels: list[str], at: str) -> tuple[Reserve, ...]:
    """``[[surface.reserve]]`` tables as reservations; errors name the key and ``at``."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RoostError(f"{at}: expected an array of tables ([[<surface>.reserve]])")
    out = []
    for j, body in enumerate(value):
        where = f"{at}[{j}]"
        unknown = sorted(set(body) - set(KEYS))
        if unknown:
            raise RoostError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
        channel = body.get("channel")
        if channel not in channels:
            raise RoostError(
                f"{where}.channel: {channel!r} is not a channel of this surface; "
                f"its channels: {', '.join(channels) or 'none'}"
            )
        slots = body.get("slots", 2)
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise RoostError(f"{where}.slots: expected a positive integer, got {slots!r}")
        age = body.get("max_age_days", 3.0)
        if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
            raise RoostError(f"{where}.max_age_days: expected a number >= 0, got {age!r}")
        out.append(Reserve(channel, slots, float(age)))
    return tuple(out)
