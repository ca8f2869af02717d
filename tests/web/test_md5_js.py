"""md5.js in headless Chromium against hashlib, on lengths around MD5's 64-byte blocks."""

from __future__ import annotations

import hashlib

import numpy as np
from playwright.sync_api import Page

from tests.web.conftest import WebServer

# Padding takes a second block from 56 bytes on; lengths on both sides of each boundary.
LENGTHS = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 3 * 1024 * 1024 + 7]


def test_md5_matches_hashlib(harness: Page, web_server: WebServer) -> None:
    folder = web_server.generated / "md5"
    folder.mkdir()
    rng = np.random.default_rng(5)
    blobs = [rng.integers(0, 256, length, dtype=np.uint8).tobytes() for length in LENGTHS]
    urls = []
    for length, data in zip(LENGTHS, blobs, strict=True):
        path = folder / f"{length}.bin"
        path.write_bytes(data)
        urls.append(web_server.generated_url(path))
    digests = harness.evaluate("urls => window.harness.md5OfFiles(urls)", urls)
    assert digests == [hashlib.md5(data, usedforsecurity=False).hexdigest() for data in blobs]
