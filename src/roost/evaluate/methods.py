"""The method ladder as recommendation scorers: one registry entry per leaderboard row.

Each :class:`Method` builds a scorer from hyperparameters (``make(params, ctx)``) and names
the few hyperparameters that matter as a small ``grid``; :mod:`roost.evaluate.leaderboard`
searches the grid on a validation split carved from the training data, never the test
split. Hybrids and the learned ranker are built from other rows' scorers, with the values
those rows chose on the same validation split (their ``defaults`` when they did not run).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pyarrow as pa

from roost.data.frames import Interactions
from roost.evaluate.graph_scorers import BM25ALS, RP3Beta
from roost.evaluate.linear_scorers import DLAE
from roost.evaluate.scorers import Blend, EmbeddingScorer
from roost.evaluate.stacking import LearnedRanker
from roost.recommend.baselines import EASE, ItemKNN, Popularity
from roost.types import NotFittedError


@dataclass
class Context:
    """What a factory may read: the items (content methods), the seed, threads, the
    validation split (the learned ranker trains on it) and the parameters other rows chose."""

    items: pa.Table
    seed: int = 42
    n_threads: int = 1
    valid_split: Callable[[Interactions], tuple[Interactions, Interactions]] | None = None
    threshold: float | None = None
    chosen: dict[str, dict[str, Any]] = field(default_factory=dict)
    fitted: dict[tuple, Any] = field(default_factory=dict, repr=False)

    def params_of(self, name: str) -> dict[str, Any]:
        """The parameters row ``name`` chose on validation, else its defaults."""
        return {**METHODS[name].defaults, **self.chosen.get(name, {})}

    def scorer(self, name: str) -> Callable[[], Any]:
        """A factory of row ``name``'s scorer with its chosen parameters, whose fits are
        shared: every hybrid and ranker built on ``name`` reuses one fit per training set."""
        params = self.params_of(name)
        key = (name, repr(sorted(params.items())))
        return lambda: Shared(lambda: METHODS[name].make(params, self), self.fitted, key)


def fingerprint(train: Interactions) -> str:
    """A digest of the events (and their user and item ids): equal for equal splits."""
    h = hashlib.blake2b(digest_size=16)
    for a in (train.users, train.items, train.values, train.ts):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\x1f".join(map(str, train.user_ids.tolist())).encode())
    h.update("\x1f".join(map(str, train.item_ids.tolist())).encode())
    return h.hexdigest()


class Shared:
    """A scorer whose fit on a given training set is kept in ``cache`` and reused.

    The weights grid of a hybrid, the final hybrid and the learned ranker (whose own
    validation split equals the tuning one) would otherwise refit the same seeded parts on
    the same events several times; the fits are deterministic, so one serves them all.
    """

    def __init__(self, make: Callable[[], Any], cache: dict[tuple, Any], key: tuple):
        self.make = make
        self.cache = cache
        self.key = key

    def fit(self, train: Interactions) -> Self:
        key = (*self.key, fingerprint(train))
        if key not in self.cache:
            scorer = self.make()
            scorer.fit(train)
            self.cache[key] = scorer
        self.scorer_ = self.cache[key]
        return self

    def score(self, users) -> np.ndarray:
        if not hasattr(self, "scorer_"):
            raise NotFittedError("the scorer is not fitted: call fit(train) first")
        return self.scorer_.score(users)


@dataclass(frozen=True)
class Method:
    """One rung of the ladder.

    ``make(params, ctx)`` returns an unfitted scorer; ``grid`` maps a hyperparameter to the
    values searched on validation (their product); ``defaults`` are used without search;
    ``kind`` groups rows (baseline, content, collaborative, hybrid, ranker).
    """

    make: Callable[[dict[str, Any], Context], Any]
    kind: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    needs: tuple[str, ...] = ()  # other rows a hybrid is built from

    def candidates(self, grid: dict[str, list[Any]] | None = None) -> list[dict[str, Any]]:
        """Every parameter set of ``grid`` (default: the method's own) over the defaults;
        the defaults alone when the grid is empty."""
        grid = self.grid if grid is None else grid
        if not grid:
            return [dict(self.defaults)]
        keys = list(grid)
        return [
            {**self.defaults, **dict(zip(keys, values, strict=True))}
            for values in itertools.product(*(grid[k] for k in keys))
        ]


def _embedding(method: str, seeded: bool = True, threads: str | None = None, **fixed: Any):
    def make(params: dict[str, Any], ctx: Context) -> EmbeddingScorer:
        extra = dict(fixed)
        if seeded:
            extra["seed"] = ctx.seed
        if threads:
            extra[threads] = ctx.n_threads
        neighbours = params.get("neighbours", 100)
        model = {k: v for k, v in params.items() if k != "neighbours"}
        return EmbeddingScorer(method, {**extra, **model}, ctx.items, neighbours=neighbours)

    return make


def _blend(parts: tuple[str, ...]):
    def make(params: dict[str, Any], ctx: Context) -> Blend:
        weights = dict(zip(parts, params["weights"], strict=True))
        return Blend({p: ctx.scorer(p) for p in parts}, weights)

    return make


def _ranker(parts: tuple[str, ...]):
    def make(params: dict[str, Any], ctx: Context) -> LearnedRanker:
        return LearnedRanker(
            {p: ctx.scorer(p) for p in parts},
            split=ctx.valid_split,
            threshold=ctx.threshold,
            seed=ctx.seed,
            n_threads=ctx.n_threads,
            **params,
        )

    return make


CF_BLEND = ("ease", "itemknn", "als")
BM25_BLEND = ("ease", "als-bm25", "rp3beta")
CONTENT_BLEND = ("ease", "transformer")
FULL_BLEND = ("ease", "als-bm25", "transformer", "tfidf")
# Content channels in place of RP3beta: validation nDCG@10 0.2676 against 0.2655 on ML-100K
RANKER_CHANNELS = ("ease", "als-bm25", "transformer", "tfidf")

# name -> the rung; order is the ladder's, from the simplest method up
METHODS: dict[str, Method] = {
    "popularity": Method(
        lambda p, ctx: Popularity(), "baseline", "the most-consumed items, the same for everyone"
    ),
    "itemknn": Method(
        lambda p, ctx: ItemKNN(**p),
        "baseline",
        "item co-occurrence kNN (cosine)",
        {"neighbours": 200},
        {"neighbours": [50, 100, 200, 400]},
    ),
    "ease": Method(
        lambda p, ctx: EASE(**p),
        "baseline",
        "EASE, closed-form item-item regression (Steck 2019)",
        {"l2": 500.0},
        {"l2": [100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0]},
    ),
    "dlae": Method(
        lambda p, ctx: DLAE(**p),
        "baseline",
        "DLAE / EDLAE, EASE with a dropout-derived per-item penalty (Steck 2020)",
        {"dropout": 0.5, "l2": 400.0, "diagonal": 0.0},
        {"dropout": [0.5, 0.7, 0.8], "l2": [200.0, 400.0], "diagonal": [0.0, 1.0]},
    ),
    "rp3beta": Method(
        lambda p, ctx: RP3Beta(**p),
        "baseline",
        "RP3beta, popularity-penalised item-user-item random walk (Paudel et al. 2017)",
        {"alpha": 0.8, "beta": 0.4, "neighbours": 200},
        {"alpha": [0.6, 0.8, 1.0], "beta": [0.3, 0.4, 0.5]},
    ),
    "tfidf": Method(
        _embedding("tfidf", seeded=False), "content", "TF-IDF of title, text and tags; item kNN"
    ),
    "lsa": Method(
        _embedding("lsa"),
        "content",
        "LSA (truncated SVD of TF-IDF); item kNN",
        {"n_components": 64},
        {"n_components": [32, 128]},
    ),
    "word2vec": Method(
        _embedding("word2vec", threads="workers", min_count=1, epochs=20),
        "content",
        "word2vec on item text, composed into item vectors (IDF-weighted); item kNN",
        {"window": 5, "ns_exponent": 0.75},
        {"window": [2, 5], "ns_exponent": [0.75, -0.5]},
    ),
    "tag2vec": Method(
        _embedding("word2vec", threads="workers", min_count=1, epochs=20, compose_from="tags"),
        "content",
        "word2vec, item vectors composed from their tags; item kNN",
        {"window": 5},
    ),
    "item2vec": Method(
        _embedding("item2vec", threads="n_threads"),
        "collaborative",
        "skip-gram over users' item sequences; item kNN",
        {"window": 5, "ns_exponent": 0.75, "epochs": 10},
        {"window": [3, 10], "ns_exponent": [0.75, -0.5]},
    ),
    "deepwalk": Method(
        _embedding("deepwalk", threads="n_threads"),
        "collaborative",
        "DeepWalk on the user-item graph; user . item",
    ),
    "node2vec": Method(
        _embedding("node2vec", threads="n_threads", p=1.0, q=0.5),
        "collaborative",
        "node2vec (p=1, q=0.5) on the user-item graph; user . item",
    ),
    "als": Method(
        _embedding("als", threads="n_threads"),
        "collaborative",
        "implicit ALS (Hu et al. 2008); user . item",
        {"factors": 64, "regularization": 10.0, "alpha": 1.0},
        {"factors": [32, 64, 128], "regularization": [3.0, 10.0, 30.0]},
    ),
    "als-bm25": Method(
        lambda p, ctx: BM25ALS(**p, seed=ctx.seed, n_threads=ctx.n_threads),
        "collaborative",
        "implicit ALS on the BM25-weighted user-item matrix; user . item",
        {"factors": 128, "regularization": 30.0},
        {"factors": [64, 128], "regularization": [10.0, 30.0, 60.0]},
    ),
    "bpr": Method(
        _embedding("bpr", threads="n_threads"),
        "collaborative",
        "BPR (Rendle et al. 2009); user . item",
        {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
        {"learning_rate": [0.01, 0.05]},  # 300 iterations tripled the cost, never chosen
    ),
    "two-tower": Method(
        _embedding("two-tower", threads="n_threads"),
        "collaborative",
        "two-tower (ids, text, category) with in-batch softmax; user . item",
        {"epochs": 4},  # no epoch search: one epoch costs ~16 s of CPU on ML-100K
    ),
    "transformer": Method(
        _embedding("transformer", seeded=False, threads="threads"),
        "content",
        "pretrained sentence transformer (all-MiniLM-L6-v2, ONNX) on item text; item kNN",
    ),
    "hybrid-cf": Method(
        _blend(CF_BLEND),
        "hybrid",
        "blend of standardised EASE, item kNN and ALS scores",
        {"weights": (1.0, 0.5, 0.5)},
        {"weights": [(1.0, 0.5, 0.5), (1.0, 0.25, 0.25), (1.0, 0.5, 0.0), (1.0, 0.0, 0.5)]},
        needs=CF_BLEND,
    ),
    "hybrid-bm25": Method(
        _blend(BM25_BLEND),
        "hybrid",
        "blend of standardised EASE, BM25-weighted ALS and RP3beta scores",
        {"weights": (1.0, 1.0, 0.0)},
        {
            "weights": [
                (1.0, 0.5, 0.0),
                (1.0, 1.0, 0.0),
                (1.0, 1.5, 0.0),
                (1.0, 1.0, 0.25),
                (1.0, 1.0, 0.5),
            ]
        },
        needs=BM25_BLEND,
    ),
    "hybrid-content": Method(
        _blend(CONTENT_BLEND),
        "hybrid",
        "blend of standardised EASE and transformer-content scores",
        {"weights": (1.0, 0.1)},
        {"weights": [(1.0, 0.05), (1.0, 0.1), (1.0, 0.25)]},
        needs=CONTENT_BLEND,
    ),
    "hybrid-full": Method(
        _blend(FULL_BLEND),
        "hybrid",
        "blend of standardised EASE, BM25-weighted ALS, transformer and TF-IDF content scores",
        {"weights": (1.0, 1.5, 0.1, 0.2)},
        {
            "weights": [
                (1.0, wa, wt, wf)
                for wa in (1.0, 1.5)
                for wt in (0.1, 0.2, 0.3)
                for wf in (0.0, 0.1, 0.2)
            ]
        },
        needs=FULL_BLEND,
    ),
    "ranker": Method(
        _ranker(RANKER_CHANNELS),
        "ranker",
        "LightGBM lambdarank over EASE, BM25-weighted ALS, transformer and TF-IDF candidates",
        {"n_candidates": 50},
        needs=RANKER_CHANNELS,
    ),
}

QUICK = ("popularity", "itemknn", "als")
SHARED = frozenset(p for m in METHODS.values() for p in m.needs)
"""The rows other rows are built from: their fits go through :meth:`Context.scorer`."""
