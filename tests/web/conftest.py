"""Browser fixtures: Debian's Chromium, headless, driven by Playwright, against the real service.

The browser is never downloaded: it is /usr/bin/chromium from apt (`.ci/run` installs it). When
it is missing the web tests are skipped with a loud message, except under CI=true, where a
missing browser fails the run.

`web_server` is the rempart service itself (``create_app`` on a fresh SQLite database, served by
uvicorn on 127.0.0.1 in a thread): its pages (``/``, ``/case``, ``/admin``), the API and the
JavaScript under test (``/static/``). For the tests only, it also serves the test pages
(``/pages/``), the shared benign data read in place (``/shared/``) and files a test generates
(``/generated/``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright
from starlette.staticfiles import StaticFiles

from rempart.api import create_app
from rempart.config import Settings
from rempart.orgs import create_key, create_org, get_org
from rempart.service import OPERATOR_ORG, Service
from tests.conftest import SHARED
from tests.servers import serving

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
PAGES = Path(__file__).resolve().parent / "pages"

_MISSING_BROWSER = (
    f"WEB TESTS SKIPPED: {CHROMIUM} is missing, so the browser hashing parity was NOT checked."
    " Install Debian's browser with `apt-get install -y chromium` (never a downloaded build)."
)
_skipped_for_browser: list[str] = []


@dataclass(frozen=True)
class WebServer:
    """The running service: ``base_url`` (no trailing slash), its ``service`` (to act as a
    platform or an operator would), an ``admin_key``, and the folder behind ``/generated/``
    where tests write files for the browser to fetch."""

    base_url: str
    generated: Path
    service: Service
    admin_key: str

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def generated_url(self, file: Path) -> str:
        return self.url(f"generated/{file.relative_to(self.generated).as_posix()}")

    def shared_url(self, file: Path) -> str:
        return self.url(f"shared/{file.relative_to(SHARED).as_posix()}")

    def key(self, scopes: list[str], org: str = OPERATOR_ORG) -> str:
        """A new API key of ``org`` (created when missing) with ``scopes``."""
        with self.service.db.transaction() as session:
            try:
                organisation = get_org(session, org)
            except Exception:
                organisation = create_org(session, org)
            return create_key(session, organisation, scopes)


class _TestFiles(StaticFiles):
    """Test-only folders, never cached (hundreds of images per run)."""

    async def get_response(self, path: str, scope: Any) -> Any:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-store"
        return response


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    generated = tmp_path_factory.mktemp("web-generated")
    # Every browser request comes from 127.0.0.1: lift the per-address limit on case requests.
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("web-service"), rate_limit_cases_per_ip=1_000_000
    )
    service = Service(settings)
    app = create_app(settings, service, background=False)
    for prefix, folder in (("/pages", PAGES), ("/shared", SHARED), ("/generated", generated)):
        app.mount(prefix, _TestFiles(directory=folder))
    with serving(app) as base_url:
        admin_key = service.bootstrap_admin_key()
        assert admin_key is not None
        yield WebServer(base_url, generated, service, admin_key)


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
