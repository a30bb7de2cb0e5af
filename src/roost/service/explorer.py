"""The explorer's map: a version's items in 2-D, coloured by category, linked to item pages.

Projection and drawing are the monitor's (:func:`roost.monitor.maps.project`,
:func:`roost.monitor.map_page.render_svg`); this module only picks the sample, joins
categories and titles from the catalog, and caches a drawn map per version, projection
and size (a version is immutable, so its map never goes stale).
"""

from __future__ import annotations

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


def svg_map(rt: Runtime, ref: str, method: str, points: int, seed: int = 0) -> tuple[str, list]:
    """The SVG of ``ref``'s map (at most ``points`` items, a seeded sample) and its legend,
    ``[(category, colour, count)]``, most frequent first."""
    if method not in methods():
        raise RoostError(
            f"projection {method!r} is not available here; use one of {', '.join(methods())}"
        )
    vs = rt.versions()
    vid = vs.resolve(ref)
    key = (vid, method, points, seed)
    with rt.maps_lock:
        hit = rt.maps.get(key)
    if hit is not None:
        return hit
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
    xy = project(es.vectors[rows], method, seed=seed, metric=es.metric)
    pts = MapPoints(
        ids=[str(i) for i in ids[rows]],
        xy=xy,
        labels=[meta.get(i, (None, None))[1] for i in ids[rows]],
        titles=[meta.get(i, (None, None))[0] for i in ids[rows]],
    )
    cats, colours = colour_categories(pts.labels)
    legend = [(c, colour, cats.count(c)) for c, colour in colours.items()]
    drawn = (render_svg(pts, href="/web/items/{id}"), legend)
    with rt.maps_lock:
        if len(rt.maps) >= CACHED_MAPS:
            rt.maps.pop(next(iter(rt.maps)))
        rt.maps[key] = drawn
    return drawn
