"""Browser fixtures: Debian's Chromium, headless, driven by Playwright, on a local static server.

The browser is never downloaded: it is /usr/bin/chromium from apt (`.ci/run` installs it). When
it is missing the web tests are skipped with a loud message, except under CI=true, where a
missing browser fails the run.

`web_server` serves files only, from 127.0.0.1: the JavaScript under test (``/static/``, i.e.
rempart/web/static), the test pages (``/pages/``), the shared benign data read in place
(``/shared/``) and files a test generates (``/generated/``). When the FastAPI service exists,
swap this fixture for one that starts the service and yields its base URL: the tests only use
``base_url`` and these URL prefixes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from tests.conftest import SHARED

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "rempart" / "web" / "static"
PAGES = Path(__file__).resolve().parent / "pages"

_MISSING_BROWSER = (
    f"WEB TESTS SKIPPED: {CHROMIUM} is missing, so the browser hashing parity was NOT checked."
    " Install Debian's browser with `apt-get install -y chromium` (never a downloaded build)."
)
_skipped_for_browser: list[str] = []


@dataclass(frozen=True)
class WebServer:
    """A running static server: ``base_url`` (no trailing slash) and the folder behind
    ``/generated/`` where tests write files for the browser to fetch."""

    base_url: str
    generated: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def generated_url(self, file: Path) -> str:
        return self.url(f"generated/{file.relative_to(self.generated).as_posix()}")

    def shared_url(self, file: Path) -> str:
        return self.url(f"shared/{file.relative_to(SHARED).as_posix()}")


def _handler(routes: dict[str, Path]) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        def translate_path(self, path: str) -> str:
            # Only files under a routed folder are served; anything else (including `..`
            # escapes, which resolve outside the folder) answers 404.
            request_path = unquote(urlsplit(path).path)
            for prefix, folder in routes.items():
                if request_path.startswith(prefix):
                    target = (folder / request_path[len(prefix) :]).resolve()
                    if target.is_relative_to(folder.resolve()):
                        return str(target)
            return str(REPO / "nonexistent")

        def end_headers(self) -> None:
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: hundreds of image requests per run."""

    return Handler


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    generated = tmp_path_factory.mktemp("web-generated")
    routes = {"/static/": STATIC, "/pages/": PAGES, "/shared/": SHARED, "/generated/": generated}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield WebServer(base_url=f"http://{host!s}:{port}", generated=generated)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: .ci/run must install chromium")
        _skipped_for_browser.append(_MISSING_BROWSER)
        pytest.skip(_MISSING_BROWSER)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def harness(browser: Browser, web_server: WebServer) -> Iterator[Page]:
    """The test harness page (tests/web/pages/harness.js loaded), with ``window.harness``.

    Every request the page makes is checked to stay on the local server.
    """
    page = browser.new_page()
    page.set_default_timeout(120_000)
    outside: list[str] = []

    def record(request: Request) -> None:
        if not request.url.startswith((web_server.base_url + "/", "data:", "blob:")):
            outside.append(request.url)

    page.on("request", record)
    page.goto(web_server.url("pages/harness.html"))
    page.wait_for_function("window.harnessReady === true")
    yield page
    page.close()
    assert not outside, f"the page requested something outside the local server: {outside}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped_for_browser:
        terminalreporter.write_sep("!", _skipped_for_browser[0], red=True, bold=True)
