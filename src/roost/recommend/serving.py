"""Assembly for serving: versions opened as spaces, surfaces built into pipelines, and
"more like this" over the spaces. :class:`roost.engine.Engine` calls these; they keep the
engine itself about requests and live writes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from roost.recommend.base import Candidate, Filter
from roost.recommend.context import RecContext
from roost.recommend.filters import FILTERS, from_spec
from roost.recommend.pipeline import Pipeline, Recommendation, Result, _explain
from roost.recommend.rankers import Blend
from roost.recommend.spaces import VectorSpace, load_space
from roost.recommend.surfaces import ALL_CHANNELS, Surface
from roost.store import Home
from roost.store.manifest import UnknownVersionError
from roost.store.versions import VersionStore
from roost.types import RoostError


def rankers_dir(home: Home) -> Path:
    """Where trained rankers live: ``<home>/rankers/<surface>/``."""
    return home.artifacts.rankers


def open_spaces(
    vs: VersionStore, home: Home, aliases: set[str]
) -> tuple[dict[str, VectorSpace], list[str]]:
    """Open every alias that resolves; one version named by two aliases is opened once."""
    spaces: dict[str, VectorSpace] = {}
    by_id: dict[str, VectorSpace] = {}
    problems: list[str] = []
    for alias in sorted(aliases):
        try:
            vid = vs.resolve(alias)
        except UnknownVersionError:
            continue
        if vid in by_id:
            spaces[alias] = by_id[vid]
            continue
        try:
            space, found = load_space(alias, vs.get(vid), home.artifacts)
        except RoostError as e:
            problems.append(f"version {alias} ({vid}): {e}")
            continue
        problems += found
        spaces[alias] = by_id[vid] = space
    return spaces, problems


def build_neighbour_tables(spaces: dict[str, VectorSpace], wait: bool = False) -> Any:
    """Compute the neighbour tables of the opened versions in a background thread (the
    requests meanwhile score neighbours per item); ``wait`` blocks until they are built.
    Returns the thread."""

    def run() -> None:
        for space in {id(s): s for s in spaces.values()}.values():
            try:
                space.build_neighbour_table()
            except (MemoryError, ValueError, RuntimeError):
                pass  # the per-request path stays in place: slower, same answers

    thread = threading.Thread(target=run, name="roost-neighbour-tables", daemon=True)
    thread.start()
    if wait:
        thread.join()
    return thread


def build_pipeline(
    surface: Surface,
    ctx: RecContext,
    spaces: dict[str, VectorSpace],
    home: Home,
    latency: Any,
    problems: list[str],
) -> Pipeline:
    """The pipeline of one surface over the opened spaces, fitted on ``ctx``.

    A channel whose version is missing is left out (a fresh home has no versions yet and
    still serves popular, fresh and followed items). The learned ranker is used when one
    was trained for the surface and ``ranker`` is ``auto`` or ``learned``.
    """
    channels = []
    weights = {}
    for spec in surface.channels:
        klass = ALL_CHANNELS[spec.kind]
        if spec.version is not None:
            if spec.version not in spaces:
                continue
            ch = klass(spaces[spec.version], **spec.params)
        else:
            ch = klass(**spec.params)
        ch.name = spec.label  # unique within the surface: kind:version
        channels.append(ch)
        weights[spec.label] = spec.weight
    filters = [FILTERS[f]() for f in surface.filters] + from_spec(surface.where)
    ranker = Blend(weights)
    if surface.ranker != "blend":
        folder = rankers_dir(home) / surface.name
        if (folder / "ranker.json").exists():
            from roost.recommend.learned import LearnedRanker

            try:
                ranker = LearnedRanker.load(folder, spaces=spaces)
            except RoostError as e:
                problems.append(f"surface {surface.name}: ranker not loaded: {e}")
        elif surface.ranker == "learned":
            problems.append(
                f"surface {surface.name}: ranker = 'learned' but none is trained in {folder}"
            )
    mmr_space = spaces.get(surface.diversity_version or "")

    def mmr_vectors(rows: list[int]):
        return mmr_space.unit_rows(ctx, rows)

    def on_stage(stage: str, seconds: float) -> None:
        latency.record(f"recommend.{stage}", seconds)

    return Pipeline(
        channels,
        filters,
        ranker,
        per_channel=surface.per_channel,
        diversity=surface.diversity,
        mmr_vectors=mmr_vectors if mmr_space is not None else None,
        on_stage=on_stage,
        reserve=surface.reserve,
    ).fit(ctx)


def similar_items(
    ctx: RecContext, item: str, spaces: list[VectorSpace], rules: list[Filter], k: int
) -> Result:
    """Nearest neighbours of ``item`` in the first space that knows it, filtered."""
    t0 = time.perf_counter()
    anchor = ctx.row(item)
    hits: list[tuple[str, float]] = []
    used = None
    for space in spaces:
        if space.has(item):
            hits = space.neighbours([item], 3 * k + 20)[0]
            used = space
            break
    t1 = time.perf_counter()
    pool = []
    for iid, s in hits:
        r = ctx.index.get(iid)
        if r is None or r == anchor or ctx.deleted[r]:
            continue
        c = Candidate(r, final=s)
        c.add("similar", s, {"because": item, "similarity": round(s, 3), "version": used.alias})
        pool.append(c)
    removed: dict[str, int] = {}
    for f in rules:
        if not pool:
            break
        keep = f.keep(ctx, "", [c.row for c in pool])
        removed[f.name] = removed.get(f.name, 0) + len(pool) - sum(keep)
        pool = [c for c, ok in zip(pool, keep, strict=True) if ok]
    t2 = time.perf_counter()
    items = [
        Recommendation(
            ctx.item_ids[c.row], ctx.titles[c.row], round(float(c.final), 6), _explain(ctx, "", c)
        )
        for c in sorted(pool, key=lambda c: -c.final)[:k]
    ]
    t3 = time.perf_counter()
    return Result(item, items, removed, {"sources": t1 - t0, "filter": t2 - t1, "select": t3 - t2})
