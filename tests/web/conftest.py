"""Fixtures for the browser tests: the real app under uvicorn on 127.0.0.1, keys per role, and Debian's Chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

ROLES = {  # who -> (role, name, organisation)
    "broker": ("broker", "Ann Broker", "acme"),
    "officer": ("officer", "Olga Officer", "customs"),
    "admin": ("admin", "Ada Admin", "customs"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Site:
    """A running server: its base URL, the app (for reading stored cases) and one API key per role."""

    url: str
    app: Any
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def desk(self):
        return self.app.state.desk


@pytest.fixture(scope="module")
def site(hs_runtime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The API app with the web UI, served by a real uvicorn in a thread (HS 2022 runtime, fresh SQLite)."""
    import uvicorn

    from assistant.auth import create_key
    from assistant.config import Settings
    from assistant.server import create_app

    settings = Settings(home=tmp_path_factory.mktemp("web-home"), _env_file=None)
    app = create_app(settings, runtime=hs_runtime)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-web-tests", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    found = Site(url=url, app=app)
    for who, (role, name, org) in ROLES.items():
        found.keys[who] = create_key(app.state.desk.db, name=name, role=role, org=org).key
    yield found
    server.should_exit = True
    thread.join(timeout=10)
    app.state.desk.db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the module (skipped when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: the browser tests need Debian's chromium package")
    from playwright.sync_api import expect, sync_playwright

    # The first classification of a session also loads the embedding model and the BM25 index.
    expect.set_options(timeout=30_000)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visitor:
    """A signed-in browser context (its own cookies) with a page that records console errors."""

    context: Any
    page: Any
    errors: list[str]


def open_visitor(browser: Any, site: Site, who: str | None, *, viewport: dict[str, int] = LAPTOP) -> Visitor:
    context = browser.new_context(viewport=viewport, base_url=site.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    visitor = Visitor(context, page, errors)
    if who is not None:
        sign_in(visitor, site.keys[who])
    return visitor


def sign_in(visitor: Visitor, key: str) -> None:
    page = visitor.page
    page.goto("/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/signin" not in page.url, page.content()


@pytest.fixture(scope="module")
def visitors(browser, site) -> Iterator[dict[str, Visitor]]:
    """Signed-in contexts, opened on first use and shared by the module's tests (they build on each other)."""
    opened: dict[str, Visitor] = {}

    class Lazy(dict):
        def __missing__(self, who: str) -> Visitor:
            opened[who] = self[who] = open_visitor(browser, site, who)
            return opened[who]

    yield Lazy()
    for v in opened.values():
        v.context.close()


@pytest.fixture(scope="module")
def new_visitor(browser, site) -> Iterator[Any]:
    """new_visitor(who): a fresh signed-in context the caller may close (closed at the end of the module anyway)."""
    opened: list[Visitor] = []

    def make(who: str | None, *, viewport: dict[str, int] = LAPTOP) -> Visitor:
        opened.append(open_visitor(browser, site, who, viewport=viewport))
        return opened[-1]

    yield make
    for v in opened:
        v.context.close()


def shrink(path: Path) -> None:
    """Re-save a screenshot with a 256-colour palette: a third of the size, the same to the eye."""
    try:
        from PIL import Image
    except ImportError:  # Pillow comes with matplotlib; without it the PNG stays as the browser wrote it
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


@pytest.fixture(scope="session")
def screenshot() -> Any:
    """screenshot(page, name): save a PNG for review under docs/screenshots/ (kept in the repository)."""

    def save(page: Any, name: str, *, clip: dict[str, int] | None = None) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        # A clip taller than the viewport needs the full page rendered.
        page.screenshot(path=str(path), full_page=clip is not None, clip=clip, animations="disabled", caret="hide")
        shrink(path)
        return path

    return save
