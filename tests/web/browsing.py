"""What the page tests share: a log of every request a page makes, screenshots, API calls."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import Page, Request

# Set to a folder (docs/screenshots) to keep the screenshots the tests take; see docs/web.md.
SCREENSHOTS_ENV = "REMPART_SCREENSHOTS"
SCREENSHOT_COLOURS = 128


@dataclass(frozen=True)
class Sent:
    """One request as the browser sent it."""

    method: str
    url: str
    content_type: str
    body: bytes


@dataclass
class RequestLog:
    """Every request of a page (its frames and its workers), in order."""

    sent: list[Sent] = field(default_factory=list)

    def attach(self, page: Page) -> RequestLog:
        page.on("request", self._record)
        return self

    def _record(self, request: Request) -> None:
        self.sent.append(
            Sent(
                request.method,
                request.url,
                request.headers.get("content-type", ""),
                request.post_data_buffer or b"",
            )
        )

    def elsewhere(self, base_url: str) -> list[str]:
        """URLs that are not this service (a download made on the device is a blob: URL)."""
        return [
            s.url for s in self.sent if not s.url.startswith((base_url + "/", "blob:", "data:"))
        ]


def screenshot(page: Page, name: str) -> None:
    """Take a full-page screenshot; keep it (as a small palette PNG) under $REMPART_SCREENSHOTS."""
    # From the top: fixed elements (the quick exit) are drawn where the page is scrolled to.
    page.evaluate("window.scrollTo(0, 0)")
    png = page.screenshot(full_page=True, animations="disabled", caret="initial")
    assert png.startswith(b"\x89PNG"), "the page could not be captured"
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return
    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=SCREENSHOT_COLOURS, method=Image.Quantize.MEDIANCUT, dither=0)
    target = Path(folder) / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    small.save(target, optimize=True)


def client(base_url: str, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=30)
