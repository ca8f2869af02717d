"""The victim's journey in the real browser against the real service.

Photos are chosen and dropped on the protect page, fingerprinted in the page's worker, and sent
as hashes only; the case page shows the case, a sighting reported by a platform appears on it,
the evidence report downloads and states the sighting, more photos are added, and the case is
withdrawn, after which matching no longer finds it. Every request the pages made is recorded:
none carries image bytes, none leaves the service.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from rempart.signals import PdqHash, compute_image_signals
from tests.web.browsing import RequestLog, client, screenshot
from tests.web.conftest import WebServer

DECODER_BAR_BITS = 10
PLATFORM = "example-social"
LOCATION = "https://example.org/p/123"
HEX = re.compile(r"[0-9a-f]+")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 900, "height": 900}, accept_downloads=True, locale="en-GB"
    )
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


def wire_signals(path: Path) -> list[dict[str, Any]]:
    """What the pages send for a photo: its signals with the regional signature."""
    signals = compute_image_signals(path.read_bytes(), regions=True).signals()
    return [signal.to_json() for signal in signals]


def drop_file(page: Page, target: str, path: Path) -> None:
    """Drop a file on an element as a person would drag it from a folder (the bytes travel to
    the page through the browser's automation channel, not through any request)."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return transfer;
        }""",
        [data, path.name],
    )
    page.dispatch_event(target, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(target, "drop", {"dataTransfer": transfer})


def assert_same_signals(shown: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [s["type"] for s in shown] == [s["type"] for s in expected]
    for browser_signal, python_signal in zip(shown, expected, strict=True):
        if browser_signal["type"] == "pdq":
            distance = PdqHash.from_hex(browser_signal["value"]).distance(
                PdqHash.from_hex(python_signal["value"])
            )
            assert distance <= DECODER_BAR_BITS
        else:
            assert browser_signal == python_signal


def match_first_pdq(web_server: WebServer, key: str, signals: list[dict[str, Any]]) -> list[Any]:
    with client(web_server.base_url, key) as api:
        response = api.post("/v1/match", json={"signals": signals[:1]})
        assert response.status_code == 200, response.text
        return [m for m in response.json()["results"][0]["matches"] if m["bank"] == "cases"]


def test_protect_follow_report_and_withdraw(
    page: Page, web_server: WebServer, photos: list[Path]
) -> None:
    chosen, dropped, later = photos[:2], photos[2], photos[3]
    log = RequestLog().attach(page)
    platform_key = web_server.key(["match"], org="example-platform")

    # 1. The protect page: choose two photos, drop a third; they are fingerprinted here.
    page.goto(web_server.url("/?lang=en"))
    page.set_input_files("#protect-files", [str(p) for p in chosen])
    drop_file(page, "#protect-drop", dropped)
    expect(page.locator("#protect-picker .thumbs li")).to_have_count(3)
    expect(page.locator("#protect-submit")).to_be_enabled()
    expect(page.locator("#protect-progress")).to_have_attribute("value", "3")
    shown = json.loads(page.locator("#protect-picker .payload-text").text_content() or "")
    expected = [s for path in [*chosen, dropped] for s in wire_signals(path)]
    assert set(shown) == {"signals"}
    assert_same_signals(shown["signals"], expected)
    screenshot(page, "protect")

    # 2. One POST of exactly what was shown; the case number and PIN are shown once.
    page.click("#protect-submit")
    expect(page.locator("#created")).to_be_visible()
    case_id = page.locator("#created-case-id").text_content() or ""
    pin = page.locator("#created-pin").text_content() or ""
    assert re.fullmatch(r"RMP-[0-9A-Z]{4}-[0-9A-Z]{4}", case_id) and len(pin) == 9
    posts = [s for s in log.sent if s.method != "GET"]
    assert [(s.method, s.url) for s in posts] == [("POST", web_server.url("/v1/cases"))]
    assert json.loads(posts[0].body) == shown
    with page.expect_download() as receipt:
        page.click("#receipt")
    receipt_text = Path(receipt.value.path()).read_text(encoding="utf-8")
    assert case_id in receipt_text and pin in receipt_text
    screenshot(page, "protect-created")
    assert match_first_pdq(web_server, platform_key, expected), "the new case does not match"

    # 3. The case page, reached from the link, opens with the number and PIN.
    page.click("#to-case")
    page.wait_for_url(re.compile(r"/case\?lang=en$"))
    page.fill("#case-id", case_id.lower())
    page.fill("#pin", pin)
    page.press("#pin", "Enter")
    expect(page.locator("#view-status")).to_contain_text("Active")
    expect(page.locator("#view-signals")).to_have_text(str(len(expected)))
    expect(page.locator("#no-sightings")).to_be_visible()

    # 4. A platform finds a copy and reports where: the sighting appears on the case page.
    matches = match_first_pdq(web_server, platform_key, expected)
    with client(web_server.base_url, platform_key) as api:
        reported = api.post(
            "/v1/sightings",
            json={
                "token": matches[0]["token"],
                "platform": PLATFORM,
                "location": LOCATION,
                "action": "removed",
            },
        )
        assert reported.status_code == 201, reported.text
    page.click("#refresh")
    sighting = page.locator("#sightings tbody tr")
    expect(sighting).to_have_count(1)
    expect(sighting).to_contain_text(PLATFORM)
    expect(sighting).to_contain_text(LOCATION)
    expect(sighting).to_contain_text("removed")
    screenshot(page, "case")

    # 5. The evidence report downloads and states the sighting; its SHA-256 was recorded.
    with page.expect_download() as download:
        page.click("#report")
    pdf = Path(download.value.path()).read_bytes()
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(p.extract_text() for p in reader.pages)
    flat = re.sub(r"\s+", "", text)
    for fact in (case_id, PLATFORM, LOCATION, "Removed", "48 hours"):
        assert re.sub(r"\s+", "", fact) in flat, fact
    evidence = reader.attachments["evidence.json"][0]
    assert hashlib.sha256(evidence).hexdigest() in flat
    assert json.loads(evidence)["sightings"][0]["location"] == LOCATION
    with client(web_server.base_url, web_server.admin_key) as api:
        audit = api.get("/v1/dashboard/audit", params={"limit": 20}).json()["entries"]
    reports = [e for e in audit if e["action"] == "case.report" and case_id in e["target"]]
    assert reports[0]["details"]["pdf_sha256"] == hashlib.sha256(pdf).hexdigest()

    # 6. More photos join the same case.
    page.set_input_files("#more-files", str(later))
    expect(page.locator("#more-submit")).to_be_enabled()
    page.click("#more-submit")
    more = wire_signals(later)
    expect(page.locator("#view-signals")).to_have_text(str(len(expected) + len(more)))

    # 7. Withdraw, after a confirmation: matching no longer finds the photos.
    page.click("#withdraw")
    expect(page.locator("#confirm-withdraw")).to_be_visible()
    page.click("#confirm-yes")
    expect(page.locator("#view-status")).to_contain_text("Withdrawn")
    expect(page.locator("#active-only")).to_be_hidden()
    assert match_first_pdq(web_server, platform_key, expected) == []
    assert match_first_pdq(web_server, platform_key, more) == []

    # 8. Nothing but hashes left the page, and only to this service. The log holds the
    # worker's requests too: it loads its own copy of the hashing modules.
    assert sum(s.url.endswith("/static/pdq.js") for s in log.sent) >= 2
    assert log.elsewhere(web_server.base_url) == []
    assert_no_image_bytes(log, [*chosen, dropped, later])


def assert_no_image_bytes(log: RequestLog, files: list[Path]) -> None:
    """Every request body is a JSON list of hash signals (regional signatures: hashes and boxes),
    and holds no piece of any photo."""
    pieces = []
    for path in files:
        data = path.read_bytes()
        pieces += [data[i : i + 48] for i in (len(data) // 4, len(data) // 2, 3 * len(data) // 4)]
    with_body = [s for s in log.sent if s.body]
    assert with_body, "no request body was recorded"
    for sent in with_body:
        assert sent.content_type == "application/json", sent
        payload = json.loads(sent.body)
        assert set(payload) == {"signals"}
        for signal in payload["signals"]:
            if signal["type"] == "regions":
                assert set(signal) == {"type", "regions"}
                hashes = signal["regions"]
                for region in hashes:
                    assert set(region) == {"value", "quality", "box"}
                    assert isinstance(region["quality"], int) and len(region["box"]) == 4
                    assert 0 <= min(region["box"]) <= max(region["box"]) <= 1
            else:
                assert set(signal) <= {"type", "value", "quality"}
                assert signal["type"] in {"pdq", "md5", "sha256"}
                hashes = [signal]
            for hashed in hashes:
                assert len(hashed["value"]) in (32, 64) and HEX.fullmatch(hashed["value"])
        for piece in pieces:
            assert piece not in sent.body
            assert base64.b64encode(piece)[8:56] not in sent.body
    for sent in log.sent:
        assert len(sent.url) < 300, sent.url
