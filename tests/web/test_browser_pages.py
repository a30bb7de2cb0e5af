"""Every page at 1280 and 390 px in a real Chromium: one h1, no console error, no
horizontal overflow, nothing fetched from another host; /docs and /redoc render offline;
the dashboard draws. Screenshots of each page at both widths go to test-artifacts/web/."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest

from conftest import ARTIFACTS, signed_in

WIDTHS = (1280, 390)
PAGES = {
    "timeline": "/",
    "search": "/web/search?q=fish+in+the+river&mode=hybrid",
    "item": "/web/items/fish-0",
    "bird": "/web/birds/robin",
    "following": "/web/following",
    "explorer": "/web/explorer",
    "versions": "/web/versions?a=text&b=collab",
    "dashboard": "/web/dashboard",
    "not-found": "/web/items/no-such-flit",
    "signin": "/signin",
}
DOCS = {"docs": ("/docs", ".swagger-ui .info .title"), "redoc": ("/redoc", "h1")}
LEADERBOARD = {
    "leaderboard": [
        {"method": "served:home", "ndcg@10": 0.21, "recall@10": 0.30},
        {"method": "popular", "ndcg@10": 0.12, "recall@10": 0.18},
        {"method": "als", "ndcg@10": 0.17, "recall@10": 0.25},
    ],
    "run": {"dataset": "flutter", "protocol": "time", "k": 10},
}


@pytest.fixture(scope="module")
def figures(server):
    """What the dashboard reads: a leaderboard as `roost eval --out <home>/eval/NAME`
    writes it, and two saves of latency figures with requests between."""
    import httpx

    from roost.index import index_version
    from roost.store.versions import VersionStore

    with VersionStore(server.home) as vs:  # an index, so that the versions have a recall
        vid = vs.resolve("text")
        index_version(vs.get(vid).as_embedding_set(), vid, server.home / "indexes" / vid / "auto")
    (server.home / "eval" / "test").mkdir(parents=True, exist_ok=True)
    (server.home / "eval" / "test" / "leaderboard.json").write_text(json.dumps(LEADERBOARD))
    rt = server.app.state.runtime
    for _ in range(2):
        for path in ("/health/live", "/health/ready"):
            httpx.get(server[0] + path)
        rt.save_latency()
    return server


def visit(browser, server, width):
    pg = signed_in(browser, server, "wren", width)
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" else None)  # fmt: skip
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def local_only(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # the test machine has no internet, and a page must not need it
            problems.append(f"fetched from elsewhere: {route.request.url}")
            route.abort()

    pg.context.route("**/*", local_only)
    return pg, problems


def overflow(pg) -> int:
    return pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_has_one_h1_and_no_console_error(browser, figures, width):
    pg, problems = visit(browser, figures, width)
    try:
        for name, path in PAGES.items():
            problems.clear()
            pg.goto(pg.base + path)
            if name == "explorer":
                pg.locator("#map").wait_for()  # drawn in the background
            assert pg.locator("h1").count() == 1, name
            assert overflow(pg) <= 0, f"{name} is wider than {width} px"
            pg.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            if name == "not-found":  # Chromium logs the page's own 404 status
                problems[:] = [p for p in problems if "status of 404" not in p]
            assert problems == [], name
    finally:
        pg.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_api_docs_render_offline(browser, figures, width):
    pg, problems = visit(browser, figures, width)
    try:
        for name, (path, title) in DOCS.items():
            pg.goto(pg.base + path)
            pg.locator(title).first.wait_for()
            assert "Roost" in pg.locator(title).first.inner_text(), name
            pg.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        icon = pg.request.get(pg.base + "/favicon.ico")
        assert icon.ok and icon.headers["content-type"].startswith("image/")
        assert problems == []
    finally:
        pg.context.close()


def test_the_dashboard_draws(page, figures):
    page.goto(page.base + "/web/dashboard")
    board = page.locator("#leaderboard svg.chart")
    assert board.count() == 1 and "served:home" in board.inner_html()
    assert page.locator("#versions-chart svg.chart").count() >= 1  # recall (and drift)
    assert page.locator("#latency svg.chart").count() == 1
    # the table holds the newest save's endpoints: the service also saves every 30 s, so
    # which requests it holds depends on the clock; every row is an endpoint with figures
    lines = page.locator("#latency table").inner_text().splitlines()
    assert lines[0].split("\t")[:2] == ["endpoint", "requests"] and len(lines) > 1
    assert all(line.split("\t")[0].split(" ")[0] in ("GET", "POST", "PUT", "DELETE") for line in lines[1:])
