"""Embedding methods behind one contract (:class:`~roost.embed.base.Embedder`).

``REGISTRY`` maps each method name to ``"module:Class"``; :func:`get` imports the module
only when asked, so optional libraries (gensim, torch ...) load only for the methods used.
"""

from __future__ import annotations

import importlib

from roost.embed.base import Embedder
from roost.types import RoostError

REGISTRY: dict[str, str] = {
    # encodings (sparse, scikit-learn)
    "onehot": "roost.embed.categorical:OneHot",
    "bow": "roost.embed.encodings:BagOfWords",
    "tfidf": "roost.embed.encodings:Tfidf",
    "bm25": "roost.embed.encodings:BM25",
    # matrix methods
    "lsa": "roost.embed.matrix:LSA",
    "pca": "roost.embed.matrix:PCA",
    "lda": "roost.embed.matrix:LDA",
    # word vectors composed into item vectors
    "word2vec": "roost.embed.words:Word2Vec",
    "glove": "roost.embed.words:GloVe",
    # collaborative
    "item2vec": "roost.embed.item2vec:Item2Vec",
    "deepwalk": "roost.embed.graph:DeepWalk",
    "node2vec": "roost.embed.graph:Node2Vec",
    "als": "roost.embed.mf:ALS",
    "bpr": "roost.embed.mf:BPR",
    "two-tower": "roost.embed.two_tower:TwoTower",
    # pretrained transformers
    "transformer": "roost.embed.transformer:Transformer",
    "finetune": "roost.embed.finetune:FineTuned",
}


def get(name: str) -> type[Embedder]:
    """The embedder class registered under ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise RoostError(f"unknown embedding method {name!r}; known: {known}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["Embedder", "REGISTRY", "get"]
