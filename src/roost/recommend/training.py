"""Training the ranker on a time split, and ``build_default``: the versions, indexes and
ranker that the built-in surfaces read.

The ranker learns what the pipeline will face: the catalog's events before a cut are the
past (the context, the collaborative model and the candidates are built from them alone),
and the users' positive events after the cut are the labels. Channels' candidates for a
sample of users become training groups; a fifth of the users is held out, and the learned
ranker's NDCG@10 there is compared with the blend's.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from roost.data.frames import Catalog
from roost.evaluate.metrics import ndcg_at_k, recall_at_k
from roost.monitor.latency import LatencyRegistry
from roost.recommend.context import KIND_WEIGHT, RecContext
from roost.recommend.learned import Features, LearnedRanker
from roost.recommend.serving import build_pipeline, rankers_dir
from roost.recommend.spaces import VectorSpace
from roost.recommend.surfaces import Surface
from roost.store import Home, open_store
from roost.store.manifest import VectorSet, Version
from roost.types import EmbeddingSet, RoostError


def time_split(catalog: Catalog, holdout: float = 0.1) -> tuple[Catalog, dict[str, set[str]], int]:
    """``(past catalog, {user: items engaged with after the cut}, cut)``; the cut is the
    time before which ``1 - holdout`` of the events fall. Only users with a past count."""
    ev = catalog.events
    if ev.num_rows < 10:
        raise RoostError("ranker: too few events to split by time (need at least 10)")
    ts = ev.column("ts").to_numpy()
    cut = int(np.quantile(ts, 1 - holdout))
    past = Catalog(
        catalog.items, catalog.users, ev.filter(pc.less(ev.column("ts"), cut)), catalog.follows
    )
    future = ev.filter(pc.greater_equal(ev.column("ts"), cut))
    had_past = set(past.events.column("user_id").to_pylist())
    labels: dict[str, set[str]] = {}
    for u, i, k in zip(
        future.column("user_id").to_pylist(),
        future.column("item_id").to_pylist(),
        future.column("kind").to_pylist(),
        strict=True,
    ):
        if u in had_past and KIND_WEIGHT.get(k, 1.0) > 0:
            labels.setdefault(u, set()).add(i)
    return past, labels, cut


def memory_space(alias: str, items: EmbeddingSet, users: EmbeddingSet | None = None) -> VectorSpace:
    """A space over embedding sets held in memory (a model fitted for training only)."""

    def vset(es: EmbeddingSet) -> VectorSet:
        meta = {
            "metric": es.metric,
            "method": es.method,
            "params": es.params,
            "fingerprint": es.fingerprint,
            "kind": es.kind,
            "normalized": es.normalized,
            "extra": es.extra,
        }
        return VectorSet(
            np.asarray(es.ids, dtype=object), np.asarray(es.vectors, np.float32), meta, alias
        )

    manifest = {
        "id": f"memory-{alias}",
        "method": items.method,
        "params": items.params,
        "fingerprint": items.fingerprint,
    }
    return VectorSpace(
        alias, Version(manifest, Path("."), vset(items), vset(users) if users else None)
    )


def train_ranker(
    catalog: Catalog,
    surface: Surface,
    spaces: dict[str, VectorSpace],
    *,
    collab_alias: str = "collab",
    collab_params: dict[str, Any] | None = None,
    holdout: float = 0.1,
    max_users: int = 600,
    model: str = "auto",
    seed: int = 0,
) -> tuple[LearnedRanker, dict[str, Any]]:
    """Train a ranker for ``surface`` on a time split of ``catalog``.

    ``spaces`` are the content spaces (their vectors do not depend on events, so they carry
    no future); the collaborative space ``collab_alias`` is refitted with ALS
    (``collab_params``) on the past events only. Returns the ranker and its metrics.
    """
    from roost.embed import get

    t0 = time.perf_counter()
    past, labels, cut = time_split(catalog, holdout)
    spaces = {a: s for a, s in spaces.items() if a != collab_alias}
    if collab_params is not None:
        als = get("als")(**collab_params).fit(past)
        spaces[collab_alias] = memory_space(
            collab_alias, als.embedding_set(past), als.user_embedding_set(past)
        )
    ctx = RecContext.from_catalog(past)
    blend_surface = dataclasses.replace(surface, ranker="blend", diversity=1.0)
    pipe = build_pipeline(blend_surface, ctx, spaces, Home.at("."), LatencyRegistry(), [])
    feats = Features([c.name for c in pipe.channels], sorted(spaces))
    users = sorted(labels)
    rng = np.random.default_rng(seed)
    if len(users) > max_users:
        users = sorted(rng.choice(users, max_users, replace=False).tolist())
    held = (
        set(rng.choice(users, max(1, len(users) // 5), replace=False).tolist())
        if len(users) > 4
        else set()
    )
    xs, ys, groups, evals = [], [], [], []
    for u in users:
        pool, _ = pipe.candidates(ctx, u)
        if not pool:
            continue
        y = np.array([ctx.item_ids[c.row] in labels[u] for c in pool], np.int32)
        if u in held:
            evals.append((u, pool))
        elif 0 < y.sum() < len(y):
            xs.append(feats.matrix(ctx, u, pool, spaces))
            ys.append(y)
            groups.append(len(pool))
    if not groups:
        raise RoostError(
            "ranker: no user's candidates after the cut hold a positive; nothing to learn"
        )
    ranker = LearnedRanker(model=model, seed=seed).fit(
        np.vstack(xs), np.concatenate(ys), groups, feats
    )
    ranker.attach(spaces)
    metrics = {
        "cut": cut,
        "train_users": len(groups),
        "train_rows": int(sum(groups)),
        "heldout_users": len(evals),
        "model": ranker.kind_,
    }
    if evals:
        ranked = {"blend": [], "learned": []}
        for u, pool in evals:
            for name, r in (("blend", pipe.ranker), ("learned", ranker)):
                r.score(ctx, u, pool)
                ranked[name].append(
                    [ctx.item_ids[c.row] for c in sorted(pool, key=lambda c: -c.final)[:10]]
                )
        rel = [labels[u] for u, _ in evals]
        for name, lists in ranked.items():
            metrics[f"ndcg@10_{name}"] = round(float(np.mean(ndcg_at_k(lists, rel, 10))), 4)
            metrics[f"recall@10_{name}"] = round(float(np.mean(recall_at_k(lists, rel, 10))), 4)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    return ranker, metrics


def build_default(
    home: Home | str | Path, *, progress: bool = False, fast: bool = False
) -> dict[str, Any]:
    """Fit the default versions on the home's catalog and everything they serve with.

    A transformer version (alias ``text``) and an ALS version with user vectors (alias
    ``collab``), an index for each, the BM25 index, and the ranker of the ``home`` surface
    trained on a time split. ``fast`` trains fewer ALS iterations and ranker users (tests,
    demos on slow machines). Returns a summary: versions, index recall, ranker metrics,
    seconds.
    """
    from roost.embed import get
    from roost.index import index_version
    from roost.recommend.spaces import load_space
    from roost.recommend.surfaces import default
    from roost.store.versions import VersionStore

    home = home if isinstance(home, Home) else Home.at(home)
    t0 = time.perf_counter()
    with open_store(home, create=False) as store:
        catalog = store.catalog()
    if catalog.items.num_rows == 0:
        raise RoostError(f"{home.path}: the catalog has no items (ingest some first)")
    summary: dict[str, Any] = {"versions": {}, "seconds": {}}
    collab_params = {"factors": 64, "iterations": 8 if fast else 15, "seed": 0}
    with VersionStore(home) as vs:
        fits = [("text", get("transformer")(show_progress=progress), None)]
        if catalog.events.num_rows:
            fits.append(("collab", get("als")(**collab_params), True))
        spaces = {}
        for alias, model, users in fits:
            t = time.perf_counter()
            model.fit(catalog)
            items = model.embedding_set(catalog)
            info = vs.put(
                items,
                name=f"default {alias}",
                alias=alias,
                users=model.user_embedding_set(catalog) if users else None,
            )
            manifest = index_version(items, info.id, home.artifacts.index(info.id))
            summary["versions"][alias] = {
                "id": info.id,
                "method": info.method,
                "count": info.count,
                "dim": info.dim,
                "index": manifest["kind"],
                "recall@10": manifest["recall@10"],
            }
            summary["seconds"][alias] = round(time.perf_counter() - t, 2)
            spaces[alias], _ = load_space(alias, vs.get(info.id), home.artifacts)
            if alias == "text":
                encoder = model  # fitted already: semantic search and new items reuse it
                spaces[alias].share_encoder(encoder)
    t = time.perf_counter()
    try:
        from roost.search.hybrid import Searcher

        Searcher.from_home(home, text_version=None, catalog=catalog)  # builds and saves BM25
        summary["bm25"] = True
    except ImportError:
        summary["bm25"] = False
    summary["seconds"]["bm25"] = round(time.perf_counter() - t, 2)
    if catalog.events.num_rows >= 10:
        surface = default()["home"]
        ranker, metrics = train_ranker(
            catalog, surface, spaces, collab_params=collab_params, max_users=200 if fast else 600
        )
        ranker.save(rankers_dir(home) / surface.name, metrics)
        summary["ranker"] = metrics
        summary["seconds"]["ranker"] = metrics["seconds"]
    summary["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    return summary
