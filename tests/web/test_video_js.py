"""video.js in headless Chromium against the Python vPDQ signature, and the protect page with a
video: hashed in the browser, nothing but hashes sent.

Videos: the shared ones the browser can read (H.264 MP4), re-encodes of the shared videos to
WebM (VP9, VP8; AVI, which browsers do not read, among them), and videos made here from the
shared photos (slideshows in every container and codec the page reads, a portrait phone video
with a display rotation, a fragmented MP4, a clip, an odd frame height). The issue's bar: frame
hashes within 10 bits of Python's on at least 90% of frames, and the same match verdicts.
docs/web.md ("Videos") holds the measured numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from rempart.errors import MediaError
from rempart.matching import VideoMatcher
from rempart.signals import PdqHash, VideoSignature, compute_video_signals
from rempart.signals.compute import VideoSignals
from tests.conftest import VIDEOS
from tests.videos import decoded_frames, pan, scenes, write_audio_only, write_video
from tests.web.browsing import RequestLog, client, screenshot
from tests.web.conftest import WebServer

PARITY_BITS = 10
PARITY_SHARE = 0.90
HEX = re.compile(r"[0-9a-f]+")
# The shared videos a browser reads as they are (AVI is re-encoded below).
SHARED_MP4 = sorted(VIDEOS.glob("*.mp4"))


@dataclass(frozen=True)
class Hashed:
    """One video hashed both ways: Python's signals (or its error) and the browser's record."""

    path: Path
    python: VideoSignals | MediaError
    browser: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name


def _slides(photos: list[Path]) -> list[Any]:
    return list(scenes(photos[:4], 3.0))


def _encode(
    path: Path,
    frames: list[Any],
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    movflags: str | None = None,
) -> Path:
    """Frames encoded at 10 frames/s with a chroma layout tests/videos.py does not offer, or as
    an MP4 in fragments (``movflags``, moof boxes), as streaming recorders write it."""
    options = {"movflags": movflags} if movflags else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=Fraction(10))
        stream.pix_fmt = pix_fmt
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.options = {"g": "10"} if codec == "libx264" else {"deadline": "realtime"}
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _fragmented(path: Path, frames: list[Any]) -> Path:
    return _encode(path, frames, movflags="frag_keyframe+empty_moov+default_base_moof")


@pytest.fixture(scope="module")
def made(web_server: WebServer, photos: list[Path]) -> dict[str, Path]:
    """Videos made for these tests, under /generated/videos/."""
    folder = web_server.generated / "videos"
    folder.mkdir()
    slides = _slides(photos)
    others = list(scenes(photos[4:6], 3.0))
    return {
        # The same slideshow (photos 0-3) as H.264 with B-frames and sound, VP9, smaller VP8,
        # and a 6 s clip of it: derivatives whose verdicts must agree.
        "slides": write_video(folder / "slides.mp4", slides, audio_s=12.0),
        "slides-vp9": write_video(folder / "slides.webm", slides, codec="libvpx-vp9", audio_s=12.0),
        "slides-vp8": write_video(
            folder / "slides-vp8.webm", slides, codec="libvpx", size=(240, 180)
        ),
        "slides-clip": write_video(folder / "slides-clip.mp4", slides[30:90]),
        "av1": write_video(folder / "others-av1.mp4", others, codec="libsvtav1"),
        "mkv": write_video(folder / "others.mkv", list(scenes(photos[6:8], 3.0))),
        "phone": write_video(folder / "phone.mov", list(scenes(photos[8:10], 3.0)), rotation=90),
        "rate": write_video(folder / "rate.mp4", list(scenes(photos[10:12], 2.5, fps=25)), fps=25),
        "fragmented": _fragmented(folder / "fragmented.mp4", list(scenes(photos[12:14], 3.0))),
        "444": _encode(folder / "444.mp4", list(scenes(photos[16:18], 2.0)), pix_fmt="yuv444p"),
        "422": _encode(
            folder / "422.webm", list(scenes(photos[18:20], 2.0)), "libvpx-vp9", "yuv422p"
        ),
        "odd-height": write_video(
            folder / "odd-height.webm",
            list(pan(photos[14], 4.0, size=(161, 121))),
            codec="libvpx-vp9",
        ),
        # The shared videos re-encoded by a platform: WebM, as browsers and phones record it.
        "vtest": write_video(
            folder / "vtest.webm", decoded_frames(VIDEOS / "vtest.avi"), codec="libvpx-vp9"
        ),
        "hamilton-vp8": write_video(
            folder / "hamilton.webm",
            decoded_frames(VIDEOS / "short_hamilton_clip.mp4"),
            fps=30,
            codec="libvpx",
        ),
        "doorknob-vp9": write_video(
            folder / "doorknob.webm",
            decoded_frames(VIDEOS / "doorknob-hd-no-bar.mp4"),
            fps=30,
            codec="libvpx-vp9",
        ),
    }


@pytest.fixture(scope="module")
def video_page(browser: Browser, web_server: WebServer) -> Iterator[Page]:
    """tests/web/pages/video.html, with ``window.videoHarness``; every request stays local."""
    page = browser.new_page()
    page.set_default_timeout(120_000)
    outside: list[str] = []

    def record(request: Request) -> None:
        if not request.url.startswith((web_server.base_url + "/", "data:", "blob:")):
            outside.append(request.url)

    page.on("request", record)
    page.goto(web_server.url("pages/video.html"))
    page.wait_for_function("window.videoHarnessReady === true")
    yield page
    page.close()
    assert not outside, f"the page requested something outside the local server: {outside}"


def _python(path: Path) -> VideoSignals | MediaError:
    try:
        return compute_video_signals(path)
    except MediaError as error:
        return error


def _url(web_server: WebServer, path: Path) -> str:
    if path.is_relative_to(web_server.generated):
        return web_server.generated_url(path)
    return web_server.shared_url(path)


def hash_both_ways(
    page: Page, web_server: WebServer, paths: list[Path], limits: dict[str, Any] | None = None
) -> list[Hashed]:
    """Python hashes in a thread while the browser works, so both share the machine's cores."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        python = pool.submit(lambda: [_python(path) for path in paths])
        browser = page.evaluate(
            "([urls, limits]) => window.videoHarness.hashVideos(urls, limits)",
            [[_url(web_server, path) for path in paths], limits or {}],
        )
        return [
            Hashed(path, py, record)
            for path, py, record in zip(paths, python.result(), browser, strict=True)
        ]


@pytest.fixture(scope="module")
def hashed(video_page: Page, web_server: WebServer, made: dict[str, Path]) -> list[Hashed]:
    started = time.monotonic()
    results = hash_both_ways(video_page, web_server, [*SHARED_MP4, *made.values()])
    seconds = sum(r.browser.get("ms", 0) for r in results) / 1000
    print(f"\nvideo.js hashed {len(results)} videos in {seconds:.1f} s (browser time);")
    print(f"  both sides, in parallel: {time.monotonic() - started:.1f} s wall")
    return results


def by_name(hashed: list[Hashed], name: str) -> Hashed:
    return next(h for h in hashed if h.name == name)


def frame_distances(python: VideoSignature, browser: list[dict[str, Any]]) -> list[int]:
    """For each Python frame, the distance to the browser frame shown at that time: the one
    with the same timestamp, or the last one before it (a hash equal to its predecessor's is
    kept once, so a frame one side kept may be a repeat the other dropped)."""
    distances = []
    for frame in python.frames:
        shown = [b for b in browser if b["timestamp"] <= frame.timestamp + 1e-9]
        other = shown[-1] if shown else browser[0]
        distances.append(frame.pdq.distance(PdqHash.from_hex(other["value"])))
    return distances


def test_every_video_is_hashed_with_the_python_record(hashed: list[Hashed]) -> None:
    for item in hashed:
        assert isinstance(item.python, VideoSignals), (item.name, item.python)
        assert "error" not in item.browser, (item.name, item.browser.get("error"))
        python = item.python
        expected = {
            "md5": python.md5.value,
            "sha256": python.sha256.value,
            "width": python.width,
            "height": python.height,
            "format": python.format,
            "codec": python.codec,
            "duration": python.duration,
        }
        assert {key: item.browser[key] for key in expected} == expected, item.name
        # The same frames are sampled: the first at or after each second, timed alike.
        times = [frame["timestamp"] for frame in item.browser["vpdq"]]
        assert times == [frame.timestamp for frame in python.vpdq.frames], item.name


def test_frame_hashes_within_the_bar(hashed: list[Hashed]) -> None:
    rows = [(item.name, frame_distances(item.python.vpdq, item.browser["vpdq"])) for item in hashed]  # type: ignore[union-attr]
    distances = [d for _, ds in rows for d in ds]
    counts = Counter(distances)
    within = sum(d <= PARITY_BITS for d in distances) / len(distances)
    print(
        f"\nvPDQ frames, browser vs Python: {len(distances)} frames of {len(rows)} videos,"
        f" distance 0 on {counts[0] / len(distances):.1%}, <= {PARITY_BITS} bits on {within:.1%}"
    )
    spread = ", ".join(f"{d}: {n}" for d, n in sorted(counts.items()))
    print(f"  distribution (bits: frames): {spread}")
    for name, ds in rows:
        if any(ds):
            print(f"  {name}: {ds}")
    assert within >= PARITY_SHARE, f"only {within:.1%} of frames within {PARITY_BITS} bits"


@pytest.mark.parametrize("length", [0, 55, 56, 64, 119, 1000, 3 * 1024 * 1024 + 7])
def test_incremental_digests_match_hashlib(
    video_page: Page, web_server: WebServer, length: int
) -> None:
    """A video's MD5 and SHA-256 are computed a slice at a time: pieces that split 64-byte
    blocks anywhere must give hashlib's digests."""
    path = web_server.generated / f"digest-{length}.bin"
    data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    digests = video_page.evaluate(
        "([url, pieces]) => window.videoHarness.digestInPieces(url, pieces)",
        [web_server.generated_url(path), [1, 63, 64, 65, 7, 200_000]],
    )
    assert digests == {
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_the_signals_are_the_wire_signals(hashed: list[Hashed]) -> None:
    item = by_name(hashed, "slides.mp4")
    signals = item.browser["signals"]
    assert [s["type"] for s in signals] == ["vpdq", "md5", "sha256"]
    assert VideoSignature.from_json(signals[0]).frames_json() == item.browser["vpdq"]
    assert [s["value"] for s in signals[1:]] == [item.browser["md5"], item.browser["sha256"]]
    assert item.browser["thumbnail_bytes"] > 0  # a preview for the page, never a signal


def _verdicts(references: dict[str, VideoSignature], query: VideoSignature) -> dict[str, str]:
    matcher = VideoMatcher()
    names = list(references)
    matcher.add_many([(number, references[name]) for number, name in enumerate(names)])
    return {names[m.ref_id]: m.match_type for m in matcher.match(query)}


def test_match_verdicts_are_the_python_verdicts(hashed: list[Hashed]) -> None:
    python = {item.name: item.python.vpdq for item in hashed}  # type: ignore[union-attr]
    browser = {item.name: VideoSignature.from_json(item.browser["signals"][0]) for item in hashed}
    related = _verdicts(python, python["slides.mp4"])
    # The re-encodes match as videos, the clip as a clip: the verdicts below are not vacuous.
    assert related["slides.webm"] == related["slides-vp8.webm"] == "video"
    assert related["slides-clip.mp4"] == "clip"
    for name in python:
        expected = _verdicts(python, python[name])
        assert _verdicts(python, browser[name]) == expected, name  # browser query, CLI bank
        assert _verdicts(browser, python[name]) == expected, name  # CLI query, browser bank


def test_the_service_matches_across_sides(hashed: list[Hashed], web_server: WebServer) -> None:
    """A case made from the browser's signature is found by the Python signature of the same
    file, and the other way round, through the service's /v1/match."""
    key = web_server.key(["match"], org="video-platform")
    browser_made = by_name(hashed, "slides.mp4")
    python_made = by_name(hashed, "vtest.webm")
    unrelated = by_name(hashed, "phone.mov")
    with client(web_server.base_url) as api:
        for signals in (
            browser_made.browser["signals"][:1],
            [python_made.python.vpdq.to_json()],  # type: ignore[union-attr]
        ):
            assert api.post("/v1/cases", json={"signals": signals}).status_code == 201
    with client(web_server.base_url, key) as api:

        def matches(signal: dict[str, Any]) -> list[dict[str, Any]]:
            response = api.post("/v1/match", json={"signals": [signal]})
            assert response.status_code == 200, response.text
            return [m for m in response.json()["results"][0]["matches"] if m["bank"] == "cases"]

        found = matches(browser_made.python.vpdq.to_json())  # type: ignore[union-attr]
        assert [m["match_type"] for m in found] == ["video"]
        found = matches(python_made.browser["signals"][0])
        assert [m["match_type"] for m in found] == ["video"]
        assert matches(unrelated.browser["signals"][0]) == []


def test_what_the_browser_cannot_read_is_sent_to_the_command_line(
    video_page: Page, web_server: WebServer, photos: list[Path]
) -> None:
    folder = web_server.generated / "video-errors"
    folder.mkdir()
    frames = list(scenes(photos[20:22], 1.5))
    whole = write_video(folder / "whole.mp4", frames)
    fragmented = _fragmented(folder / "fragments.mp4", frames)
    truncated = {}
    for path in (whole, fragmented):  # the index at the end (cut off), or in every fragment
        truncated[path] = folder / f"truncated-{path.name}"
        truncated[path].write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "noise.mp4").write_bytes(bytes(range(256)) * 40)
    iphone = write_video(folder / "iphone.mp4", frames, codec="libx265")
    mpeg4 = write_video(folder / "mpeg4.mp4", frames, codec="mpeg4")
    cases = {
        VIDEOS / "vtest.avi": ("UnsupportedFormat", "command line"),
        iphone: ("UnsupportedFormat", "HEVC"),
        mpeg4: ("UnsupportedFormat", "command line"),
        write_audio_only(folder / "sound.m4a"): ("UnsupportedFormat", "audio"),
        folder / "empty.mp4": ("UnsupportedFormat", "empty"),
        folder / "noise.mp4": ("UnsupportedFormat", "not a video"),
        truncated[whole]: ("CorruptMedia", "truncated"),
        truncated[fragmented]: ("CorruptMedia", "truncated"),
    }
    results = hash_both_ways(video_page, web_server, list(cases))
    for item, (kind, words) in zip(results, cases.values(), strict=True):
        error = item.browser.get("error")
        assert error is not None and error["type"] == kind, (item.name, item.browser)
        assert words in error["message"], (item.name, error)
        if kind == "CorruptMedia" or words in ("audio", "empty", "not a video"):
            # Python refuses these too, with the same kind of error.
            assert type(item.python).__name__ == kind, (item.name, item.python)
        else:
            assert isinstance(item.python, VideoSignals), item.name  # the command line reads it
    long = hash_both_ways(video_page, web_server, [whole], {"maxDurationS": 1})[0]
    assert long.browser["error"]["type"] == "TooLarge"
    assert "command line" in long.browser["error"]["message"]


def test_damaged_files_give_a_record_or_a_typed_error(
    video_page: Page, web_server: WebServer, made: dict[str, Path]
) -> None:
    """Flipped bits, overwritten runs and cuts in each container: the browser answers with a
    signature or one of the Python error types, never another exception, never a hang."""
    folder = web_server.generated / "video-damaged"
    folder.mkdir()
    rng = np.random.default_rng(11)
    damaged = []
    for source in (made["slides"], made["slides-vp9"], made["fragmented"]):
        data = source.read_bytes()
        for number in range(12):
            copy = bytearray(data)
            if number % 3 == 0:  # bits flipped where the headers and the index lie
                for at in rng.integers(0, min(len(copy), 4096), 4):
                    copy[at] ^= 1 << int(rng.integers(0, 8))
            elif number % 3 == 1:  # a run of random bytes anywhere
                at = int(rng.integers(0, len(copy) - 64))
                copy[at : at + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
            else:  # cut short
                copy = copy[: int(rng.integers(1, len(copy)))]
            path = folder / f"{number}-{source.name}"
            path.write_bytes(bytes(copy))
            damaged.append(web_server.generated_url(path))
    records = video_page.evaluate("urls => window.videoHarness.hashVideos(urls)", damaged)
    kinds = Counter(r["error"]["type"] if "error" in r else "signature" for r in records)
    print(f"\ndamaged videos: {dict(kinds)}")
    assert set(kinds) <= {"signature", "UnsupportedFormat", "CorruptMedia", "TooLarge", "TooSmall"}


def test_protect_page_hashes_a_video_and_sends_only_hashes(
    browser: Browser, web_server: WebServer, made: dict[str, Path], photos: list[Path]
) -> None:
    video = made["slides-vp9"]
    context = browser.new_context(viewport={"width": 900, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    log = RequestLog().attach(page)
    try:
        page.goto(web_server.url("/?lang=en"))
        # Every value the progress bar takes, to see the video's progress between whole files.
        page.evaluate(
            """() => {
                window.progressValues = [];
                const bar = document.getElementById("protect-progress");
                new MutationObserver(() => window.progressValues.push(bar.value))
                    .observe(bar, { attributes: true, attributeFilter: ["value"] });
            }"""
        )
        page.set_input_files("#protect-files", [str(video), str(photos[30])])
        expect(page.locator("#protect-picker .thumbs li[data-state=done]")).to_have_count(2)
        expect(page.locator("#protect-submit")).to_be_enabled()
        values = page.evaluate("window.progressValues")
        assert any(0 < value < 1 for value in values), values
        preview = page.locator("#protect-picker .thumbs li").first.locator("img")
        expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
        assert page.evaluate("(img) => img.naturalWidth", preview.element_handle()) > 0
        shown = json.loads(page.locator("#protect-picker .payload-text").text_content() or "")
        kinds = [s["type"] for s in shown["signals"]]
        assert kinds == ["vpdq", "md5", "sha256", "pdq", "md5", "sha256", "regions"]
        python = compute_video_signals(video)
        assert shown["signals"][1:3] == [s.to_json() for s in python.signals()[1:]]
        distances = frame_distances(python.vpdq, shown["signals"][0]["frames"])
        assert max(distances) <= PARITY_BITS
        screenshot(page, "protect-video")

        page.click("#protect-submit")
        expect(page.locator("#created")).to_be_visible()
        posts = [s for s in log.sent if s.method != "GET"]
        assert [(s.method, s.url) for s in posts] == [("POST", web_server.url("/v1/cases"))]
        assert json.loads(posts[0].body) == shown
    finally:
        context.close()

    key = web_server.key(["match"], org="video-platform")
    with client(web_server.base_url, key) as api:
        response = api.post("/v1/match", json={"signals": [python.vpdq.to_json()]})
        assert response.status_code == 200, response.text
        found = [m for m in response.json()["results"][0]["matches"] if m["bank"] == "cases"]
        assert "video" in [m["match_type"] for m in found]
    assert log.elsewhere(web_server.base_url) == []
    assert_no_media_bytes(log, [video, photos[30]])


def assert_no_media_bytes(log: RequestLog, files: list[Path]) -> None:
    """Every request body is a JSON list of hash signals and holds no piece of any file."""
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
            if signal["type"] == "vpdq":
                assert set(signal) == {"type", "frames"}
                for frame in signal["frames"]:
                    assert set(frame) == {"value", "quality", "timestamp"}
                    assert len(frame["value"]) == 64 and HEX.fullmatch(frame["value"])
            elif signal["type"] == "regions":
                assert set(signal) == {"type", "regions"}
                for region in signal["regions"]:
                    assert set(region) == {"value", "quality", "box"}
                    assert len(region["value"]) == 64 and HEX.fullmatch(region["value"])
                    assert len(region["box"]) == 4
                    assert 0 <= min(region["box"]) <= max(region["box"]) <= 1
            else:
                assert set(signal) <= {"type", "value", "quality"}
                assert signal["type"] in {"pdq", "md5", "sha256"}
                assert len(signal["value"]) in (32, 64) and HEX.fullmatch(signal["value"])
        for piece in pieces:
            assert piece not in sent.body
            assert base64.b64encode(piece)[8:56] not in sent.body
    for sent in log.sent:
        assert len(sent.url) < 300, sent.url
