"""2-D maps of an embedding version: PCA always, UMAP and t-SNE when installed.

:func:`project` turns vectors into 2-D points through a registry of projections;
:func:`write_map` writes a version's map as a PNG (matplotlib, Agg, no global pyplot state)
or as a self-contained HTML page (inline SVG: coloured by category, title on hover, an
optional link per point; nothing fetched from a CDN). Rows of cosine spaces are unit-normalised
first so that the map shows the geometry the similarity sees.

matplotlib and umap-learn are the ``viz`` extra; a missing one fails with an error naming it.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roost.monitor.neighbours import normalize_rows
from roost.types import EmbeddingSet, RoostError, as_id_array

#: Category colours (matplotlib's tab10), written out so the HTML page needs no matplotlib.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
OTHER_COLOUR = "#c7c7c7"
#: Categories beyond the most frequent ``len(PALETTE)`` share the label below.
OTHER = "other"


def _pca(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(x)


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    # Perplexity must stay below the number of points; 30 is the usual value. Below 1000
    # points the exact gradient is quicker than Barnes-Hut's tree (0.6 s vs 4 s at 120).
    perplexity = float(min(30.0, (len(x) - 1) / 3))
    method = "exact" if len(x) < 1000 else "barnes_hut"
    model = TSNE(2, perplexity=perplexity, init="pca", method=method, random_state=seed)
    return model.fit_transform(x)


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    _require("umap", "umap-learn")
    with warnings.catch_warnings():
        # umap/__init__ warns on import when TensorFlow (only for ParametricUMAP) is absent.
        warnings.filterwarnings("ignore", "Tensorflow not installed", ImportWarning)
        import umap
    n_neighbors = int(min(15, len(x) - 1))
    # n_jobs=1: a fixed random_state makes umap single-threaded anyway, and warns otherwise.
    model = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, n_jobs=1)
    return model.fit_transform(x)


#: name -> (vectors, seed) -> (n, 2) array. PCA needs only scikit-learn.
PROJECTIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "pca": _pca,
    "umap": _umap,
    "tsne": _tsne,
}
_NEEDS = {"umap": "umap"}
#: Default sample size per projection when ``max_points`` is not given: t-SNE needs about two
#: minutes for 5000 points on two cores, UMAP about one for 20k; PCA is instant but an HTML
#: page of more than 20k points gets heavy (about 150 bytes a point).
MAX_POINTS = {"pca": 20_000, "umap": 20_000, "tsne": 5_000}


def available_projections() -> list[str]:
    """The projections usable here (``umap`` only where umap-learn is installed)."""
    return [m for m in PROJECTIONS if m not in _NEEDS or importlib.util.find_spec(_NEEDS[m])]


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise RoostError(f"{package} is not installed: pip install 'roost[viz]'")


def project(
    vectors: np.ndarray, method: str = "pca", *, seed: int = 0, metric: str = "cosine"
) -> np.ndarray:
    """2-D coordinates of ``vectors`` (float64, one row per vector).

    Examples
    --------
    >>> import numpy as np
    >>> project(np.random.default_rng(0).normal(size=(50, 8))).shape
    (50, 2)
    """
    try:
        fn = PROJECTIONS[method]
    except KeyError:
        raise RoostError(
            f"unknown projection {method!r}; known: {', '.join(PROJECTIONS)}"
        ) from None
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) < 3:
        raise RoostError(f"a map needs at least 3 vectors, got shape {x.shape}")
    if metric == "cosine":
        x = normalize_rows(x)
    return np.asarray(fn(x, seed), dtype=np.float64)


def _per_id(values: Mapping[str, str] | Sequence[str] | None, ids: np.ndarray) -> list | None:
    """Labels or titles as a list aligned with ``ids`` (from a mapping or a sequence)."""
    if values is None:
        return None
    if isinstance(values, Mapping):
        return [None if values.get(i) is None else str(values.get(i)) for i in ids]
    values = list(values)
    if len(values) != len(ids):
        raise RoostError(f"{len(values)} labels or titles for {len(ids)} vectors")
    return [None if v is None else str(v) for v in values]


def colour_categories(labels: list | None) -> tuple[list[str], dict[str, str]]:
    """Each point's legend category and the category -> colour map (most frequent first)."""
    if labels is None:
        return [], {}
    counts = Counter("(none)" if x is None else x for x in labels)
    top = [c for c, _ in counts.most_common(len(PALETTE))]
    colours = dict(zip(top, PALETTE, strict=False))
    cats = ["(none)" if x is None else x for x in labels]
    cats = [c if c in colours else OTHER for c in cats]
    if OTHER in cats:
        colours[OTHER] = OTHER_COLOUR
    return cats, colours


def write_map(
    embeddings: EmbeddingSet,
    out: str | Path,
    method: str = "pca",
    *,
    labels: Mapping[str, str] | Sequence[str] | None = None,
    titles: Mapping[str, str] | Sequence[str] | None = None,
    href: str | None = None,
    max_points: int | None = None,
    seed: int = 0,
    title: str | None = None,
) -> Path:
    """Write a 2-D map of a version: ``.png`` (picture) or ``.html`` (interactive page).

    Parameters
    ----------
    embeddings : the version to draw.
    out : file to write; its suffix (``.png``, ``.html``, ``.svg``) picks the format.
    method : ``pca``, ``umap`` or ``tsne`` (see :func:`available_projections`).
    labels : category per item (id -> category, or aligned with ``embeddings.ids``):
        colours; the ten most frequent get their own colour, the rest share one.
    titles : display title per item (hover text in HTML).
    href : link template per point in HTML, ``{id}`` replaced by the URL-quoted id,
        e.g. ``"/items/{id}"``.
    max_points : draw a seeded random sample of at most this many items; ``None`` uses the
        projection's default (:data:`MAX_POINTS`: t-SNE 5000, UMAP and PCA 20k).
    seed : seed of the sample and the projection.
    title : heading; default says method, version and projection.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from roost.types import EmbeddingSet
    >>> ids = np.array([str(i) for i in range(30)], dtype=object)
    >>> s = EmbeddingSet(ids, np.random.default_rng(0).normal(size=(30, 4)).astype("f4"),
    ...                  "demo", {}, "f")
    >>> p = write_map(s, os.path.join(tempfile.mkdtemp(), "map.html"), labels=["x"] * 30)
    >>> p.read_text().count("<circle")
    30
    """
    out = Path(out)
    fmt = out.suffix.lower()
    if fmt not in WRITERS:
        raise RoostError(f"{out}: map format from suffix must be one of {', '.join(WRITERS)}")
    ids = as_id_array(embeddings.ids)
    rows = np.arange(len(ids))
    if max_points is None:
        max_points = MAX_POINTS.get(method, 20_000)
    if len(ids) > max_points:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(ids), max_points, replace=False))
    label_list, title_list = _per_id(labels, ids), _per_id(titles, ids)
    xy = project(embeddings.vectors[rows], method, seed=seed, metric=embeddings.metric)
    points = MapPoints(
        ids=list(ids[rows]),
        xy=xy,
        labels=None if label_list is None else [label_list[j] for j in rows],
        titles=None if title_list is None else [title_list[j] for j in rows],
    )
    heading = title or (
        f"{embeddings.method} ({embeddings.kind}s, {len(rows)} of {len(ids)}), {method.upper()}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[fmt](points, out, heading, href)
    return out


@dataclass(frozen=True)
class MapPoints:
    """The points of a map: ids, 2-D coordinates, optional category labels and titles."""

    ids: list[str]
    xy: np.ndarray
    labels: list | None = None
    titles: list | None = None


def _write_png(points: MapPoints, out: Path, heading: str, href: str | None) -> None:
    _require("matplotlib", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7), dpi=110)
    FigureCanvasAgg(fig)  # the Agg canvas: no display, no pyplot global state
    ax = fig.add_subplot()
    size = float(np.clip(20_000 / len(points.ids), 2, 30))  # points^2: smaller when dense
    cats, colours = colour_categories(points.labels)
    if not cats:
        ax.scatter(points.xy[:, 0], points.xy[:, 1], s=size, c=PALETTE[0], alpha=0.6, lw=0)
    else:
        cats_arr = np.array(cats, dtype=object)
        for cat, colour in colours.items():
            m = cats_arr == cat
            if m.any():
                ax.scatter(*points.xy[m].T, s=size, c=colour, alpha=0.6, lw=0,
                           label=f"{cat} ({int(m.sum())})")  # fmt: skip
        ax.legend(loc="best", fontsize=7, markerscale=max(1.0, 6 / size**0.5), framealpha=0.8)
    ax.set_title(heading, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out)


def _write_page(points: MapPoints, out: Path, heading: str, href: str | None) -> None:
    from roost.monitor.map_page import render_page

    out.write_text(render_page(points, heading, href), encoding="utf-8")


def _write_svg(points: MapPoints, out: Path, heading: str, href: str | None) -> None:
    from roost.monitor.map_page import render_svg

    out.write_text(render_svg(points, href), encoding="utf-8")


#: file suffix -> writer(points, out, heading, href)
WRITERS: dict[str, Callable[[MapPoints, Path, str, str | None], None]] = {
    ".png": _write_png,
    ".html": _write_page,
    ".svg": _write_svg,
}
