"""Reasons for people: the pipeline's reason dicts (``why``) as at most two short lines.

The JSON API keeps every reason as the pipeline gives it (channels, scores, the ranker's
feature attribution) for engineers; the web pages show a person what these mean in plain
words ("similar to “Heat”, which you liked", "from Ana Wren, whom you follow"). This module
is the one place that maps one to the other: a new channel or a changed reason dict is
worded here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SHOWN = 2  # reasons per card

# channel kind -> (priority: lower is more telling, plain words)
_CHANNELS: dict[str, tuple[int, str]] = {
    "user_to_item": (3, "matches your taste"),
    "cluster": (3, "close to one of your tastes"),
    "popular": (4, "popular lately"),
    "fresh": (5, "new"),
}
_SEARCH = {"semantic": "meaning", "lexical": "words"}


def plain_reasons(
    why: list[dict[str, Any]],
    *,
    user: str | None = None,
    name: Callable[[str], str] | Mapping[str, str] | None = None,
    limit: int = SHOWN,
) -> list[str]:
    """At most ``limit`` plain sentences for one result's ``why``, most telling first.

    ``name`` gives a bird's display name from its id (a mapping or a function); ``user``
    is the reader (their own flit reads "your flit").

    Examples
    --------
    >>> plain_reasons([{"channel": "item_to_item:collab", "because_title": "Heat"},
    ...                {"channel": "popular"}, {"ranker_top_features": {"x": 0.4}}])
    ['similar to “Heat”, which you liked', 'popular lately']
    >>> plain_reasons([{"channel": "followed", "author": "ana"}], name={"ana": "Ana Wren"})
    ['from Ana Wren, whom you follow']
    """
    lookup = name.get if isinstance(name, Mapping) else name
    found: list[tuple[int, str]] = []
    for w in why or ():
        said = _one(w, user, lookup)
        if said is not None and said[1] not in {s for _, s in found}:
            found.append(said)
    found.sort(key=lambda p: p[0])  # stable: equal priorities keep the pipeline's order
    return [s for _, s in found[:limit]]


def _one(w: dict[str, Any], user: str | None, name) -> tuple[int, str] | None:
    if "shared_tags" in w:
        tags = [str(t) for t in w["shared_tags"][:3]]
        return (2, "tags you like: " + ", ".join(tags)) if tags else None
    if "channel" not in w:
        return None  # the ranker's features: for engineers, in the JSON
    kind = str(w["channel"]).split(":")[0]
    if kind == "followed":
        author = w.get("author")
        if author is not None and author == user:
            return 0, "your flit"
        who = (name(author) if name else None) or author
        return 0, f"from {who}, whom you follow" if who else "from a bird you follow"
    title = w.get("because_title")
    if kind == "similar":  # "more like this": the item of the page, not a like
        return 1, f"similar to “{title}”" if title else "similar to this one"
    if kind == "item_to_item" and title:
        return 1, f"similar to “{title}”, which you liked"
    if kind == "cooccurrence" and title:
        return 1, f"liked by birds who liked “{title}”"
    if kind in ("semantic", "lexical", "hybrid"):
        modes = [m for m in ("lexical", "semantic") if m in w] or [kind]
        parts = [_SEARCH[m] for m in modes if m in _SEARCH]
        return 1, ("matches the " + " and the ".join(parts) + " of your search") if parts else (
            "matches your search"
        )
    if kind in _CHANNELS:
        return _CHANNELS[kind]
    if kind in ("item_to_item", "cooccurrence"):
        return 3, "like things you liked"
    return 6, kind.replace("_", " ")
