"""vPDQ signatures: the same frame hashes as Meta's vpdq, its hash files, the wire form."""

from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import vpdq

import rempart.signals.video as video_signals
from rempart.errors import InvalidSignal, TooLarge
from rempart.media import SampledFrame, open_video
from rempart.signals import SIGNAL_TYPES, compute_video_signals, parse_signal, signal_type_of
from rempart.signals.pdq import PdqHash
from rempart.signals.video import (
    MAX_FRAMES,
    VideoSignature,
    VpdqFrame,
    vpdq_signature,
)
from tests.conftest import PHOTOS, VIDEOS
from tests.media.images import textured
from tests.videos import black, pan, scenes, write_video

EXPECTED = VIDEOS / "vpdq-expected"


def signature_of(path: Path, interval_s: float = 1.0) -> VideoSignature:
    with open_video(path) as video:
        return vpdq_signature(video.frames(interval_s))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("signatures")
    photos = [PHOTOS / f"img_{number:04d}.jpg" for number in (4, 5, 6)]
    still = [np.asarray(textured(160, 120, seed=seed)) for seed in (1, 2)]
    return {
        "vp9": write_video(folder / "pans.webm", scenes(photos, 2.0), codec="libvpx-vp9"),
        "h264": write_video(folder / "pans.mp4", scenes(photos, 2.0), size=(320, 240)),
        "stills": write_video(
            folder / "stills.mp4", [still[0]] * 30 + [still[1]] * 30, options={"crf": "0"}
        ),
        "black": write_video(folder / "black.mp4", black(3.0)),
    }


@pytest.mark.parametrize(
    "name",
    ["short_hamilton_clip.mp4", "vtest.avi", "pattern-sd-with-small-logo-bar.mp4", "vp9", "h264"],
)
def test_frame_hashes_are_those_of_metas_vpdq_bit_for_bit(name: str, made) -> None:
    # hamilton is tagged BT.709 (vPDQ converts with BT.601 regardless, and so do we); vtest.avi
    # has B-frames in AVI; the made videos cover VP9 and a resized H.264.
    path = made[name] if name in made else VIDEOS / name
    ours = signature_of(path)
    theirs = vpdq.computeHash(str(path), seconds_per_hash=0, thread_count=1)
    with open_video(path) as video:
        fps = video.info.frame_rate
    assert fps
    by_frame = {feature.frame_number: feature for feature in theirs}

    for frame in ours.frames:
        feature = by_frame[round(frame.timestamp * fps)]
        assert frame.pdq.hex == feature.hex, (name, frame.timestamp)
        assert frame.pdq.quality == feature.quality
        assert frame.timestamp == pytest.approx(feature.timestamp, abs=0.002)
    assert len(ours.frames) >= math.floor(len(theirs) / fps) - 1


@pytest.mark.parametrize(
    "name", ["doorknob-hd-no-bar", "pattern-hd-no-bar", "pattern-sd-with-small-logo-bar"]
)
def test_every_frame_is_within_31_bits_of_metas_published_hashes(name: str) -> None:
    # Meta's regression test (vpdq/cpp/regtest.py): each frame of a new run against the
    # published hash file, frames of quality < 50 on either side skipped, distance < 31.
    published = VideoSignature.from_text((EXPECTED / f"{name}.txt").read_text())
    ours = signature_of(VIDEOS / f"{name}.mp4", interval_s=0)
    kept = list(ours.frames)
    compared = []
    position = 0
    for expected in published.frames:
        # Consecutive identical hashes were kept once: the frame in force is the last kept.
        while position + 1 < len(kept) and kept[position + 1].timestamp <= expected.timestamp:
            position += 1
        frame = kept[position]
        assert abs(frame.timestamp - expected.timestamp) < 0.5
        if frame.pdq.quality >= 50 and expected.pdq.quality >= 50:
            compared.append(frame.pdq.distance(expected.pdq))
    assert len(compared) >= len(published.frames) // 2
    assert max(compared) < 31, (name, max(compared))
    print(f"{name}: {len(compared)} frames, max {max(compared)} bits, mean {np.mean(compared):.1f}")


def test_identical_consecutive_frames_are_kept_once(made) -> None:
    stills = signature_of(made["stills"])
    darkness = signature_of(made["black"])

    assert [frame.timestamp for frame in stills.frames] == [0.0, 3.0]
    assert stills.frames[0].pdq.quality >= 50
    assert len(darkness.frames) == 1
    assert darkness.frames[0].pdq.quality < 50


def test_a_pan_gives_one_distinct_frame_per_second(made) -> None:
    signature = signature_of(made["h264"])

    assert [round(frame.timestamp) for frame in signature.frames] == [0, 1, 2, 3, 4, 5]
    assert all(frame.pdq.quality >= 50 for frame in signature.frames)
    assert all(a.pdq.distance(b.pdq) > 31 for a, b in itertools.combinations(signature.frames, 2))


def test_too_many_frames_for_the_interval_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_signals, "MAX_FRAMES", 3)
    frames = (
        SampledFrame(float(second), np.ascontiguousarray(pixels))
        for second, pixels in enumerate(pan(PHOTOS / "img_0007.jpg", 6.0, fps=1))
    )
    with pytest.raises(TooLarge):
        vpdq_signature(frames)


def frame(seconds: float, seed: int = 0) -> VpdqFrame:
    bits = np.random.default_rng(seed).bytes(32)
    return VpdqFrame(PdqHash(bits, 90), seconds)


def test_wire_form_round_trips_and_rounds_timestamps_to_milliseconds() -> None:
    signature = VideoSignature((frame(0.0, 1), frame(1.0004, 2), frame(2.5, 3)))
    wire = signature.to_json()

    assert wire["type"] == "vpdq"
    assert wire["frames"][1] == {
        "value": signature.frames[1].pdq.hex,
        "quality": 90,
        "timestamp": 1.0,
    }
    again = VideoSignature.from_json(wire)
    assert [f.pdq for f in again.frames] == [f.pdq for f in signature.frames]
    assert [f.timestamp for f in again.frames] == [0.0, 1.0, 2.5]


def test_text_form_is_vpdq_hash_file_lines_and_reads_back() -> None:
    signature = VideoSignature((frame(0.0, 1), frame(1.25, 2)))
    text = signature.to_text()

    first = signature.frames[0].pdq.hex
    assert text.splitlines()[0] == f"0,90,{first},0.000"
    assert text.splitlines()[1].endswith(",1.250")
    assert VideoSignature.from_text(text) == signature


def test_metas_hash_files_read_as_signatures() -> None:
    published = VideoSignature.from_text((EXPECTED / "doorknob-hd-no-bar.txt").read_text())
    first = (EXPECTED / "doorknob-hd-no-bar.txt").read_text().splitlines()[0].split(",")

    assert len(published.frames) == 120
    assert published.frames[0].pdq.hex == first[2]
    assert published.frames[0].pdq.quality == int(first[1])
    assert published.frames[-1].timestamp == pytest.approx(119 / 30, abs=0.001)


GOOD = {"value": "ab" * 32, "quality": 80, "timestamp": 1.5}

INVALID = [
    ("not an object", [GOOD]),
    ("wrong type", {"type": "pdq", "frames": [GOOD]}),
    ("frames missing", {"type": "vpdq"}),
    ("frames not a list", {"type": "vpdq", "frames": GOOD}),
    ("no frames", {"type": "vpdq", "frames": []}),
    ("too many frames", {"type": "vpdq", "frames": [GOOD] * (MAX_FRAMES + 1)}),
    ("frame not an object", {"type": "vpdq", "frames": ["ab" * 32]}),
    ("bad hex", {"type": "vpdq", "frames": [{**GOOD, "value": "xyz"}]}),
    ("short hex", {"type": "vpdq", "frames": [{**GOOD, "value": "ab" * 31}]}),
    ("quality over 100", {"type": "vpdq", "frames": [{**GOOD, "quality": 101}]}),
    ("quality a string", {"type": "vpdq", "frames": [{**GOOD, "quality": "80"}]}),
    ("no quality", {"type": "vpdq", "frames": [{"value": "ab" * 32, "timestamp": 1}]}),
    ("no timestamp", {"type": "vpdq", "frames": [{"value": "ab" * 32, "quality": 80}]}),
    ("negative timestamp", {"type": "vpdq", "frames": [{**GOOD, "timestamp": -1}]}),
    ("infinite timestamp", {"type": "vpdq", "frames": [{**GOOD, "timestamp": math.inf}]}),
    ("NaN timestamp", {"type": "vpdq", "frames": [{**GOOD, "timestamp": math.nan}]}),
    ("boolean timestamp", {"type": "vpdq", "frames": [{**GOOD, "timestamp": True}]}),
    ("string timestamp", {"type": "vpdq", "frames": [{**GOOD, "timestamp": "1.5"}]}),
]


@pytest.mark.parametrize(("case", "wire"), INVALID, ids=[case for case, _ in INVALID])
def test_malformed_wire_signals_raise_invalid_signal(case: str, wire: object) -> None:
    with pytest.raises(InvalidSignal) as raised:
        VideoSignature.from_json(wire)
    assert raised.value.message


@pytest.mark.parametrize(
    "text",
    ["0,80,abcd,1.0", "0,eighty," + "ab" * 32 + ",1.0", "0,80," + "ab" * 32, "", "0,80,zz,1"],
    ids=["short hash", "quality word", "three fields", "empty", "bad hex"],
)
def test_malformed_hash_files_raise_invalid_signal(text: str) -> None:
    with pytest.raises(InvalidSignal):
        VideoSignature.from_text(text)


def test_video_signals_of_a_path_and_of_its_bytes_agree(made) -> None:
    path = made["h264"]
    from_path = compute_video_signals(path)
    from_bytes = compute_video_signals(path.read_bytes())

    assert from_path == from_bytes
    assert from_path.sha256.value == hashlib.sha256(path.read_bytes()).hexdigest()
    assert from_path.md5.value == hashlib.md5(path.read_bytes()).hexdigest()
    assert (from_path.format, from_path.codec, from_path.width, from_path.height) == (
        "mp4",
        "h264",
        320,
        240,
    )
    assert from_path.duration == pytest.approx(6.0, abs=0.1)
    assert from_path.signals() == [from_path.vpdq, from_path.md5, from_path.sha256]


def test_the_wire_signal_is_registered_as_vpdq(made) -> None:
    signature = compute_video_signals(made["vp9"]).vpdq

    parsed = parse_signal(signature.to_json())
    assert parsed == signature
    assert signal_type_of(parsed) == "vpdq"
    assert "vpdq" in SIGNAL_TYPES
