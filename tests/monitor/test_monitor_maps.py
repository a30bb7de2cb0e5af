"""2-D maps: PNG and self-contained HTML, PCA always, t-SNE and UMAP."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from monitor_helpers import clustered, make_set

from roost.monitor import available_projections, project, write_map
from roost.types import RoostError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def items():
    x = clustered(120, 8, seed=0, n_clusters=3)
    return make_set(x, ids=[f"m{j}/x y" for j in range(120)], method="als")


def test_pca_separates_clusters():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 10)), rng.normal(size=(50, 10)) + 8
    xy = project(np.vstack([a, b]), "pca", metric="l2")
    assert xy.shape == (100, 2)
    # The first axis splits the two clusters completely.
    assert (np.sign(xy[:50, 0]) != np.sign(xy[50:, 0].mean())).all()


def test_png_is_a_real_picture(items, tmp_path):
    from matplotlib.image import imread

    labels = {i: ("a" if j % 3 else "b") for j, i in enumerate(items.ids)}
    out = write_map(items, tmp_path / "sub" / "map.png", labels=labels)
    assert out.read_bytes()[:8] == PNG_MAGIC
    h, w, _ = imread(out).shape
    assert (w, h) == (880, 770)


def test_html_page_has_a_point_per_item_with_title_colour_and_link(items, tmp_path):
    titles = [f"<Title {j}> & co" for j in range(120)]
    labels = [f"cat{j % 13}" for j in range(120)]  # 13 categories: 10 colours + "other"
    out = write_map(items, tmp_path / "map.html", labels=labels, titles=titles,
                    href="/items/{id}?from=map")  # fmt: skip
    page = out.read_text()
    assert page.count("<circle") == 120
    assert "<Title 5>" not in page and html.escape("<Title 5> & co [m5/x y] - cat5") in page
    assert 'href="/items/m5%2Fx%20y?from=map"' in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    legend = re.findall(r'data-c="c(\d+)"', page)
    assert len(legend) == 11 and "other (" in page
    # Every category class used by a point has a colour rule.
    used = set(re.findall(r'class="(c\d+)"', page))
    assert all(f".{c}{{fill:" in page for c in used)


def test_svg_without_labels_and_sampling(items, tmp_path):
    out = write_map(items, tmp_path / "map.svg", max_points=50, seed=3)
    svg = out.read_text()
    assert svg.startswith("<svg") and svg.count("<circle") == 50
    again = write_map(items, tmp_path / "again.svg", max_points=50, seed=3).read_text()
    assert svg == again


def test_tsne_map(items, tmp_path):
    assert {"pca", "tsne"} <= set(available_projections())
    out = write_map(items, tmp_path / "tsne.html", method="tsne")
    assert out.read_text().count("<circle") == 120


@pytest.mark.slow
def test_umap_map(items, tmp_path):
    # umap-learn's first call compiles with numba (about 20 s on two cores): slow.
    pytest.importorskip("umap")
    xy = project(items.vectors, "umap")
    assert xy.shape == (120, 2) and np.isfinite(xy).all()


def test_bad_requests(items, tmp_path):
    with pytest.raises(RoostError, match="suffix"):
        write_map(items, tmp_path / "map.jpg")
    with pytest.raises(RoostError, match="unknown projection"):
        write_map(items, tmp_path / "map.png", method="mds")
    with pytest.raises(RoostError, match="3 labels or titles for 120"):
        write_map(items, tmp_path / "map.png", labels=["a", "b", "c"])
    with pytest.raises(RoostError, match="at least 3"):
        project(np.ones((2, 3)))
