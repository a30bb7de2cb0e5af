"""Synthetic social data for a ratings dataset: authors, follows and display names.

A ratings dataset such as MovieTweetings has no authors and no follow graph, so the
followed channel of the Flutter timeline would have nothing to say about it. These
functions derive both from the ratings, deterministically (no random numbers: the same
ratings give the same graph), and say so wherever they are used: they are *synthetic*.

- **Authors**: the bird who rated a film first "posted" about it (ties: the smaller user
  id). An item's author is then known at its ``created_at``, the first rating's time.
- **Follows**: birds follow the birds whose posts they rated: each bird follows up to five
  authors of the films it rated most often, read from the first half of the timeline only
  (events before the median time), so a time-based hold-out after that point holds nothing
  the graph was built from. A follow's time is the end of that first half.
- **Names**: a display name per user id, a first name and a bird ("Ana Wren"), chosen by
  a hash of the id: stable across runs and machines, not unique.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

FIRST_NAMES = (
    "Ana", "Ben", "Cleo", "Dev", "Elif", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lena",
    "Milo", "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tove", "Uma", "Vic", "Wes",
    "Xia", "Yara", "Zane", "Aiko", "Bruno", "Carla", "Dara", "Emil", "Freya", "Gus", "Hana",
    "Ivo", "Juno", "Kofi", "Lior", "Mara", "Nils",
)  # fmt: skip
BIRDS = (
    "Wren", "Robin", "Finch", "Heron", "Swift", "Lark", "Owl", "Kestrel", "Plover", "Tern",
    "Martin", "Dunnock", "Linnet", "Siskin", "Egret", "Merlin", "Piper", "Rook", "Jay",
    "Sparrow", "Starling", "Thrush", "Warbler", "Crane", "Curlew", "Dove", "Ibis", "Kite",
    "Osprey", "Petrel", "Raven", "Shrike", "Stork", "Teal", "Vireo", "Whimbrel", "Avocet",
    "Bunting", "Chough", "Godwit",
)  # fmt: skip


def bird_name(user_id: str) -> str:
    """A stable display name for ``user_id`` (crc32 of the id picks the two words).

    >>> bird_name("42") == bird_name("42")
    True
    """
    h = zlib.crc32(str(user_id).encode())
    return f"{FIRST_NAMES[h % len(FIRST_NAMES)]} {BIRDS[(h // len(FIRST_NAMES)) % len(BIRDS)]}"


def first_raters(users: np.ndarray, items: np.ndarray, ts: np.ndarray) -> dict[str, str]:
    """``{item: the user who rated it first}``; equal times go to the smaller user id."""
    order = np.lexsort((users.astype(str), ts, items.astype(str)))
    it = items[order]
    first = np.ones(len(it), bool)
    first[1:] = it[1:] != it[:-1]
    return dict(zip(it[first].tolist(), users[order][first].tolist(), strict=True))


def engagement_follows(
    users: np.ndarray,
    items: np.ndarray,
    ts: np.ndarray,
    authors: dict[str, str],
    *,
    per_user: int = 5,
) -> pa.Table:
    """Each user follows up to ``per_user`` authors whose items it rated most in the first
    half of the timeline (events before the median time), never itself; ties go to the
    smaller author id. A ``follows`` table (follower, followee, ts = the end of that half),
    followers in id order, each one's followees most engaged-with first."""
    cut = int(np.quantile(ts, 0.5)) if len(ts) else 0
    early = ts < cut
    u = users[early].astype(str)
    a = np.array([authors.get(x) or "" for x in items[early].astype(str).tolist()], dtype=object)
    ok = (a != "") & (a != u)
    pairs = np.unique(np.stack([u[ok], a[ok].astype(str)]), axis=1, return_counts=True)
    (fu, fa), n = pairs if ok.any() else ((np.array([], str), np.array([], str)), np.array([], int))
    order = np.lexsort((fa, -n, fu))  # per follower: most rated first, then by id
    fu, fa = fu[order], fa[order]
    rank = np.zeros(len(fu), int)
    for j in range(1, len(fu)):
        rank[j] = rank[j - 1] + 1 if fu[j] == fu[j - 1] else 0
    keep = rank < per_user
    return pa.table({"follower": pa.array(fu[keep].tolist(), pa.string()),
                     "followee": pa.array(fa[keep].tolist(), pa.string()),
                     "ts": pa.array([cut] * int(keep.sum()), pa.int64())})  # fmt: skip
