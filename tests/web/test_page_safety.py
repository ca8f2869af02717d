"""Safety and accessibility of the pages: a strict Content-Security-Policy and nothing loaded
from elsewhere, the quick exit, keyboard use, readable contrast, phone-sized screens, and the
language taken from the browser."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route, expect

from tests.web.browsing import RequestLog, screenshot
from tests.web.conftest import WebServer

PAGES = ("/", "/case", "/admin")
NEUTRAL = re.compile(r"^https://(en|fr)\.wikipedia\.org/")
MIN_CONTRAST = 4.5  # WCAG 2.2 AA for body text


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1000, "height": 800}, locale="en-GB")
    # The quick exit's neutral site is answered here: the tests never leave 127.0.0.1.
    opened.route(NEUTRAL, lambda route: _neutral(route))
    yield opened
    opened.close()


def _neutral(route: Route) -> None:
    route.fulfill(status=200, content_type="text/html", body="<title>neutral</title>")


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_strict_policy(web_server: WebServer, path: str) -> None:
    response = httpx.get(web_server.url(path))
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_load_everything_from_the_service_without_violations(
    context: BrowserContext, web_server: WebServer
) -> None:
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: _keep_errors(m, problems))
    page.on("pageerror", lambda error: problems.append(str(error)))
    log = RequestLog().attach(page)
    for path in PAGES:
        page.goto(web_server.url(path))
        page.wait_for_load_state("networkidle")
        inline = page.evaluate(
            "document.querySelectorAll('script:not([src]):not([type=\"application/json\"])')"
            ".length + document.querySelectorAll('[style]').length"
        )
        assert inline == 0, path
    assert problems == []
    assert log.elsewhere(web_server.base_url) == []
    assert any(s.url.endswith("/static/style.css") for s in log.sent)


def _keep_errors(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type == "error":
        problems.append(message.text)


def test_quick_exit_leaves_and_replaces_the_history(
    context: BrowserContext, web_server: WebServer
) -> None:
    page = context.new_page()
    page.goto(web_server.url("/?lang=en"))
    page.click("a[href^='/case']")
    page.wait_for_url(re.compile(r"/case"))
    page.fill("#case-id", "RMP-AAAA-BBBB")
    page.click("#quick-exit")
    page.wait_for_url(NEUTRAL)
    page.go_back()
    assert not page.url.startswith(web_server.base_url), "the back button returns to rempart"

    page.goto(web_server.url("/?lang=fr"))
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"^https://fr\.wikipedia\.org/"))


def test_keyboard_reaches_the_quick_exit_first_and_opens_a_case(
    context: BrowserContext, web_server: WebServer
) -> None:
    page = context.new_page()
    page.goto(web_server.url("/case?lang=en"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "quick-exit"
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "case-id":
            break
    assert page.evaluate("document.activeElement.id") == "case-id"
    page.keyboard.type("RMP-0000-0000")
    page.keyboard.press("Tab")
    page.keyboard.type("AAAA-BBBB")
    page.keyboard.press("Enter")
    expect(page.locator("#open-error")).to_contain_text("No case")


def test_text_and_controls_have_readable_contrast(
    context: BrowserContext, web_server: WebServer
) -> None:
    page = context.new_page()
    page.goto(web_server.url("/case?lang=en"))
    ratios = page.evaluate(
        CONTRAST_SCRIPT,
        ["body", "p", "label", ".hint", "a", "#quick-exit", "button.primary", "footer p", "h1"],
    )
    low = {selector: ratio for selector, ratio in ratios.items() if ratio < MIN_CONTRAST}
    assert not low, low


# WCAG relative luminance and contrast of an element's text on its nearest opaque background.
CONTRAST_SCRIPT = """(selectors) => {
  const channel = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const parse = (c) => c.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c.length < 4 || c[3] === 1) return c;
    }
    return [255, 255, 255];
  };
  const result = {};
  for (const selector of selectors) {
    const node = document.querySelector(selector);
    const [a, b] = [luminance(parse(getComputedStyle(node).color)), luminance(background(node))];
    result[selector] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return result;
}"""


@pytest.mark.parametrize("path", PAGES)
def test_pages_fit_a_phone_screen(browser: Browser, web_server: WebServer, path: str) -> None:
    phone = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-GB")
    page: Page = phone.new_page()
    page.goto(web_server.url(path))
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if path == "/":
        screenshot(page, "protect-phone")
    phone.close()
    assert overflow <= 0, f"{path} scrolls sideways on a 360 px screen"


def test_language_follows_the_browser_and_can_be_switched(web_server: WebServer) -> None:
    french = httpx.get(web_server.url("/"), headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in french.text and "Protégez vos photos" in french.text
    assert 'href="/?lang=en"' in french.text
    english = httpx.get(web_server.url("/?lang=en"), headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in english.text
    unknown = httpx.get(web_server.url("/case"), headers={"Accept-Language": "de, es;q=0.8"})
    assert '<html lang="en">' in unknown.text
