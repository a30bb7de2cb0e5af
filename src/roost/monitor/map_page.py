"""The interactive map page: one self-contained HTML file with an inline SVG.

No JavaScript library and nothing fetched: every point is an SVG ``<circle>`` whose
``<title>`` child is the browser's own hover tooltip, wrapped in a link when an ``href``
template is given. A few lines of inline script add a hover read-out and legend toggles;
without script the map still works (tooltips and links are plain SVG).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np

from roost.monitor.maps import PALETTE, colour_categories

if TYPE_CHECKING:
    from roost.monitor.maps import MapPoints

WIDTH, HEIGHT, MARGIN = 1000, 760, 20

_SCRIPT = """
const svg = document.getElementById("map"), info = document.getElementById("info");
svg.addEventListener("mouseover", e => {
  const t = e.target.closest("circle");
  if (t) info.textContent = t.querySelector("title").textContent;
});
document.querySelectorAll("#legend input").forEach(box => box.addEventListener("change",
  () => svg.classList.toggle("hide-" + box.dataset.c, !box.checked)));
"""


def _scaled(xy: np.ndarray) -> np.ndarray:
    """Coordinates fitted into the drawing area, aspect kept, y pointing up."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1])) or 1.0
    scale = min(WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN) / span
    x = MARGIN + (xy[:, 0] - lo[0]) * scale + (WIDTH - 2 * MARGIN - (hi[0] - lo[0]) * scale) / 2
    y = HEIGHT - MARGIN - (xy[:, 1] - lo[1]) * scale
    y -= (HEIGHT - 2 * MARGIN - (hi[1] - lo[1]) * scale) / 2
    return np.column_stack([x, y])


def render_svg(points: MapPoints, href: str | None = None, label: str | None = None) -> str:
    """The map as a standalone SVG document (categories as CSS classes ``c0``, ``c1`` ...;
    each point's id in ``data-id``). With ``label`` the map is one focusable image of that
    name (a page gives the points as a list beside it) rather than a link per point."""
    cats, colours = colour_categories(points.labels)
    index = {c: j for j, c in enumerate(colours)}
    n = len(points.ids)
    radius = float(np.clip(300 / np.sqrt(max(n, 1)), 1.5, 6))
    style = [f"circle{{fill:{PALETTE[0]};fill-opacity:.7}}", "circle:hover{stroke:#000}"]
    style += [f".c{j}{{fill:{c}}} .hide-c{j} .c{j}{{display:none}}" for c, j in
              ((colours[k], index[k]) for k in colours)]  # fmt: skip
    parts = [
        f'<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" style="max-width:{WIDTH}px;border:1px solid #ddd"'
        + (f' role="img" tabindex="0" aria-label="{html.escape(label, quote=True)}">' if label else ">"),
        f"<style>{' '.join(style)}</style>",
    ]
    for j, (x, y) in enumerate(_scaled(points.xy)):
        item = points.ids[j]
        name = points.titles[j] if points.titles and points.titles[j] else item
        tip = name if name == item else f"{name} [{item}]"
        cls = f' class="c{index[cats[j]]}"' if cats else ""
        if cats:
            tip += f" - {cats[j]}"
        circle = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}"{cls} '
            f'data-id="{html.escape(str(item), quote=True)}">'
            f"<title>{html.escape(tip)}</title></circle>"
        )
        if href:
            link = href.replace("{id}", quote(str(item), safe=""))
            circle = f'<a href="{html.escape(link, quote=True)}">{circle}</a>'
        parts.append(circle)
    parts.append("</svg>")
    return "\n".join(parts)


def render_page(points: MapPoints, heading: str, href: str | None = None) -> str:
    """A self-contained HTML page: heading, legend with toggles, hover read-out, the SVG."""
    cats, colours = colour_categories(points.labels)
    counts = {c: cats.count(c) for c in colours}
    legend = "".join(
        f'<label><input type="checkbox" checked data-c="c{j}"> '
        f'<span style="color:{colour}">&#9679;</span> {html.escape(c)} ({counts[c]})</label> '
        for j, (c, colour) in enumerate(colours.items())
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(heading)}</title>
<style>body{{font-family:sans-serif;margin:1em}} #legend label{{margin-right:1em;
white-space:nowrap;font-size:90%}} #info{{min-height:1.4em;color:#333}}</style>
</head><body>
<h1 style="font-size:120%">{html.escape(heading)}</h1>
<div id="legend">{legend}</div>
<p id="info">Hover a point to see its title{"; click to open it" if href else ""}.</p>
{render_svg(points, href)}
<script>{_SCRIPT}</script>
</body></html>
"""
