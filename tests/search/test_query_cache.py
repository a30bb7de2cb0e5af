"""Semantic search keeps recent query vectors: the same answers, the encoder asked once."""

from __future__ import annotations

import numpy as np
from search_helpers import ITEMS

from roost.search.semantic import SemanticSearch


class Counting:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.texts: list[str] = []

    def encode(self, texts):
        self.texts += list(texts)
        return self.encoder.encode(texts)


def test_query_vectors_are_cached_and_bounded(encoder):
    texts = [f"{t} {x}" for t, x in ITEMS.values()]
    plain = SemanticSearch(encoder, query_cache=0).fit(list(ITEMS), texts)
    counting = Counting(encoder)
    cached = SemanticSearch(counting, query_cache=2).fit(list(ITEMS), texts)
    counting.texts.clear()
    q = ["bird that hunts at night", "bread", "bird that hunts at night"]
    for _ in range(2):
        a, b = plain.search(q, k=3), cached.search(q, k=3)
        assert a.ids.tolist() == b.ids.tolist()
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    assert counting.texts == ["bird that hunts at night", "bread"]
    cached.search(["a red car"], k=1)  # over the bound: the least recent ("bread") goes
    cached.search(["bird that hunts at night"], k=1)
    assert counting.texts[-1] == "a red car"
    cached.search(["bread"], k=1)
    assert counting.texts[-1] == "bread"
    v = cached.encode(["bread"])
    v[:] = 0  # callers get copies, never the kept vector
    assert np.any(cached.encode(["bread"]))
