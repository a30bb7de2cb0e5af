"""The explorer's map: a version's items in 2-D, coloured by category, linked to item pages.

Projection and drawing are the monitor's (:func:`roost.monitor.maps.project`,
:func:`roost.monitor.map_page.render_svg`); this module only picks the sample, joins
categories and titles from the catalog, and keeps a drawn map per version, projection
and size (a version is immutable, so its map never goes stale).

A map is drawn in a background thread (:func:`start`): t-SNE and UMAP take a minute or
more on the demo catalog, and the page shows the job's stage and time meanwhile
(:meth:`MapJob.status`, polled by the page) instead of a blank page.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from roost.monitor.map_page import render_svg
from roost.monitor.maps import MapPoints, available_projections, colour_categories, project
from roost.service.runtime import Runtime
from roost.types import RoostError

CACHED_MAPS = 16


def methods() -> list[str]:
    """Projections offered: PCA always, UMAP and t-SNE when installed."""
    return available_projections()


def item_versions(rt: Runtime) -> list[dict]:
    """Item versions, newest first, labelled with their aliases."""
    vs = rt.versions()
    out = []
    for info in reversed(vs.list()):
        if info.kind != "item":
            continue
        label = f"{info.id} ({info.method}{', ' + ', '.join(info.aliases) if info.aliases else ''})"
        out.append({"ref": info.id, "label": label})
    return out


def resolve(rt: Runtime, ref: str) -> str:
    """The version id behind an alias or id (what the page's menu selects)."""
    return rt.versions().resolve(ref)


@dataclass
class MapJob:
    """One map being drawn (or drawn): its stage, start time, result or error."""

    key: tuple
    stage: str = "queued"
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    svg: str | None = None
    legend: list = field(default_factory=list)
    titles: list = field(default_factory=list)  # (id, title) of the points, the list view
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.svg is not None or self.error is not None

    def status(self) -> dict[str, Any]:
        took = self.seconds if self.seconds is not None else time.monotonic() - self.started
        return {"done": self.done, "stage": self.stage, "seconds": round(took, 1),
                "error": self.error}  # fmt: skip


def find(rt: Runtime, ref: str, method: str, points: int, seed: int = 0) -> MapJob | None:
    try:
        vid = resolve(rt, ref)
    except RoostError:
        return None
    with rt.maps_lock:
        return rt.maps.get((vid, method, points, seed))


def start(rt: Runtime, ref: str, method: str, points: int, seed: int = 0) -> MapJob:
    """The job drawing ``ref``'s map, started in a background thread unless one exists
    (finished maps are kept, the oldest dropped past ``CACHED_MAPS``)."""
    if method not in methods():
        raise RoostError(
            f"projection {method!r} is not available here; use one of {', '.join(methods())}"
        )
    vid = resolve(rt, ref)
    key = (vid, method, points, seed)
    with rt.maps_lock:
        job = rt.maps.get(key)
        if job is not None and job.error is None:
            return job
        if len(rt.maps) >= CACHED_MAPS:
            old = next((k for k, j in rt.maps.items() if j.done), None)
            if old is not None:
                rt.maps.pop(old)
        job = rt.maps[key] = MapJob(key)
    threading.Thread(target=_draw, args=(rt, job), name="roost-map", daemon=True).start()
    return job


def _draw(rt: Runtime, job: MapJob) -> None:
    vid, method, points, seed = job.key
    try:
        job.svg, job.legend, job.titles = _svg_map(rt, vid, method, points, seed, job)
        job.stage = "done"
    except Exception as e:  # shown on the page; the service goes on
        job.error, job.stage = f"{type(e).__name__}: {e}", "failed"
    job.seconds = time.monotonic() - job.started


def svg_map(rt: Runtime, ref: str, method: str, points: int, seed: int = 0) -> tuple[str, list]:
    """The SVG of ``ref``'s map (at most ``points`` items, a seeded sample) and its legend,
    ``[(category, colour, count)]``, most frequent first; drawn now (blocking)."""
    job = start(rt, ref, method, points, seed)
    while not job.done:
        time.sleep(0.05)
    if job.error:
        raise RoostError(job.error)
    return job.svg, job.legend


def _svg_map(rt: Runtime, vid: str, method: str, points: int, seed: int, job: MapJob):
    job.stage = "reading the vectors"
    vs = rt.versions()
    es = vs.get(vid).as_embedding_set()
    ids = np.asarray(es.ids, dtype=object)
    rows = np.arange(len(ids))
    if len(ids) > points:
        rows = np.sort(np.random.default_rng(seed).choice(len(ids), points, replace=False))
    items = rt.store().read("items").select(["id", "title", "category"])
    chosen = items.filter(
        pc.is_in(items.column("id"), value_set=pa.array(list(ids[rows]), pa.string()))
    )
    meta = dict(zip(chosen.column("id").to_pylist(),
                    zip(chosen.column("title").to_pylist(), chosen.column("category").to_pylist(), strict=True),
                    strict=True))  # fmt: skip
    job.stage = f"projecting {len(rows):,} items with {method}"
    xy = project(es.vectors[rows], method, seed=seed, metric=es.metric)
    job.stage = "drawing"
    pts = MapPoints(
        ids=[str(i) for i in ids[rows]],
        xy=xy,
        labels=[meta.get(i, (None, None))[1] for i in ids[rows]],
        titles=[meta.get(i, (None, None))[0] for i in ids[rows]],
    )
    cats, colours = colour_categories(pts.labels)
    legend = [(c, colour, cats.count(c)) for c, colour in colours.items()]
    titles = [(i, t or i) for i, t in zip(pts.ids, pts.titles, strict=True)]
    label = f"map of {len(rows):,} items of version {vid} ({method}); the list below names them"
    return render_svg(pts, label=label), legend, titles
