"""Browser tests: a real uvicorn on a free loopback port, driven by Playwright in Debian's
headless Chromium. Screenshots go to test-artifacts/web/ at the repository root."""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))  # the Flutter home

from flutter_home import build, make_keys  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def _chromium() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


class Served(tuple):
    """(base URL, sign-in link), with the app and the home as attributes."""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A served Flutter home with keys: yields (base URL, sign-in link); ``.app`` and
    ``.home`` reach the app and its home."""
    import uvicorn

    from roost.service import ServiceSettings, create_app

    home = build(tmp_path_factory.mktemp("web") / "home")
    make_keys(home)
    settings = ServiceSettings(home=home)
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not (srv.started and app.state.runtime.engine is not None):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"server did not start: {app.state.runtime.engine_error}")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    served = Served((base, f"{base}/signin?token={settings.web_token}"))
    served.app, served.home = app, home
    yield served
    srv.should_exit = True
    thread.join(30)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium; see scripts/install-browser.sh)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()


def signed_in(browser, server, bird: str, width: int = 1200):
    """A new browser context signed in as ``bird``; returns its page (``.base`` set)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    base, link = server
    pg.goto(link)
    pg.fill("#bird", bird)
    pg.click("#signin button[type=submit]")
    pg.wait_for_url(f"{base}/")
    pg.base = base
    return pg


@pytest.fixture(scope="module")
def page(browser, server):
    """One signed-in page for the module (the session cookie persists across tests)."""
    pg = signed_in(browser, server, "wren")
    yield pg
    pg.context.close()
