"""Fingerprinting uploaded bytes of any kind, in-process or in child processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rempart.errors import CorruptMedia, UnsupportedFormat
from rempart.fingerprint import Fingerprinter
from rempart.media import DEFAULT_LIMITS, DEFAULT_VIDEO_LIMITS
from tests.videos import scenes, write_video


@pytest.fixture(scope="module")
def in_children() -> Fingerprinter:
    fingerprinter = Fingerprinter(
        DEFAULT_LIMITS, DEFAULT_VIDEO_LIMITS, regions=True, image_workers=2
    )
    yield fingerprinter  # type: ignore[misc]
    fingerprinter.close()


def test_child_processes_give_the_same_signals(
    in_children: Fingerprinter, photos: list[Path]
) -> None:
    here = Fingerprinter(DEFAULT_LIMITS, DEFAULT_VIDEO_LIMITS, regions=True)
    data = [path.read_bytes() for path in photos[:8]]

    with ThreadPoolExecutor(4) as threads:
        remote = list(threads.map(in_children.fingerprint, data))
    local = [here.fingerprint(item) for item in data]

    for a, b in zip(remote, local, strict=True):
        assert a.kind == b.kind == "image"
        assert [s.to_json() for s in a.signals] == [s.to_json() for s in b.signals]
        assert a.query_regions is not None
        assert a.query_regions.hash_box((0.1, 0.1, 0.6, 0.6)) == b.query_regions.hash_box(
            (0.1, 0.1, 0.6, 0.6)
        )  # type: ignore[union-attr]


def test_kinds_and_errors(in_children: Fingerprinter, photos: list[Path], tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", scenes(photos[:3], seconds_each=2)).read_bytes()

    assert in_children.fingerprint(video).kind == "video"
    with pytest.raises(UnsupportedFormat):
        in_children.fingerprint(b"plain text, not media")
    with pytest.raises(CorruptMedia):
        in_children.fingerprint(photos[0].read_bytes()[:300])
