"""The moderator dashboard in the browser: API key login, banks, sightings, chart, webhooks,
audit log; never a hash and never an image."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from rempart.signals import compute_image_signals
from tests.web.browsing import RequestLog, client, screenshot
from tests.web.conftest import WebServer

PLATFORMS = ("dash-video-site", "dash-forum")


@pytest.fixture(scope="module")
def activity(web_server: WebServer, photos: list[Path]) -> dict[str, Any]:
    """A case seen twice on one platform and once on another, and a webhook for the operator."""
    signals = [s.to_json() for s in compute_image_signals(photos[10].read_bytes()).signals()]
    platform_key = web_server.key(["match"], org="dash-platform")
    with client(web_server.base_url) as api:
        created = api.post("/v1/cases", json={"signals": signals})
        assert created.status_code == 201
    with client(web_server.base_url, platform_key) as api:
        token = api.post("/v1/match", json={"signals": signals[:1]}).json()["results"][0][
            "matches"
        ][0]["token"]
        for number, platform in enumerate([PLATFORMS[0], PLATFORMS[0], PLATFORMS[1]]):
            sighting = {
                "token": token,
                "platform": platform,
                "location": f"https://x.test/{number}",
            }
            assert api.post("/v1/sightings", json=sighting).status_code == 201
    with client(web_server.base_url, web_server.admin_key) as api:
        hook = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook?token=secret"})
        assert hook.status_code == 201
        banks = api.get("/v1/banks").json()["banks"]
    return {"signals": signals, "banks": banks}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-GB")
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


def sign_in(page: Page, web_server: WebServer, key: str) -> None:
    page.goto(web_server.url("/admin?lang=en"))
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")


def test_dashboard_shows_activity_without_hashes(
    page: Page, web_server: WebServer, activity: dict[str, Any]
) -> None:
    log = RequestLog().attach(page)
    sign_in(page, web_server, web_server.key(["bank:read"]))
    expect(page.locator("#dashboard")).to_be_visible()
    cases = next(b for b in activity["banks"] if b["name"] == "cases")
    expect(page.locator("#banks tbody tr", has_text="cases")).to_contain_text(
        str(cases["signals_count"])
    )
    recent = page.locator("#recent tbody tr")
    expect(recent.filter(has_text=PLATFORMS[0])).to_have_count(2)
    expect(recent.filter(has_text=PLATFORMS[1])).to_have_count(1)
    chart = page.locator("#chart svg.chart-svg")
    expect(chart).to_have_attribute("aria-label", re.compile(r"\d+ sightings in the last 30"))
    assert chart.locator("rect").count() >= 2
    expect(page.locator("#chart .legend")).to_contain_text(f"{PLATFORMS[0]} (2)")
    expect(page.locator("#webhooks tbody")).to_contain_text("http://127.0.0.1:9")
    expect(page.locator("#audit tbody")).to_contain_text("case.create")
    expect(page.locator("#audit tbody")).to_contain_text("webhook.create")
    screenshot(page, "admin")

    html = page.content()
    for signal in activity["signals"]:
        assert signal["value"] not in html
    assert "token=secret" not in html
    assert page.locator("#dashboard img").count() == 0
    assert page.evaluate("sessionStorage.length") == 1
    assert log.elsewhere(web_server.base_url) == []
    # Every API call carried the key as a Bearer token, never in the address.
    calls = [s for s in log.sent if "/v1/" in s.url]
    assert calls and all("key" not in s.url.lower() for s in calls)

    page.click("#sign-out")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_dashboard_refuses_wrong_and_match_only_keys(page: Page, web_server: WebServer) -> None:
    sign_in(page, web_server, "rmp_nothing_valid")
    expect(page.locator("#login-error")).to_contain_text("not valid")
    sign_in(page, web_server, web_server.key(["match"]))
    expect(page.locator("#login-error")).to_contain_text("bank:read")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
