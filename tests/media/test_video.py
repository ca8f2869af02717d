"""Video decoding: every container, sampling in time, and bounded, typed failures on bad input."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import numpy as np
import pytest

import rempart.media.video as video_module
from rempart.errors import (
    CorruptMedia,
    MediaError,
    TooLarge,
    TooSmall,
    Unreadable,
    UnsupportedFormat,
)
from rempart.media import SampledFrame, VideoLimits, open_video, sniff_video_format
from tests.conftest import PHOTOS, VIDEOS
from tests.videos import (
    FPS,
    HEIGHT,
    WIDTH,
    scenes,
    write_animation,
    write_audio_only,
    write_video,
)

SCENE_PHOTOS = [PHOTOS / f"img_{number:04d}.jpg" for number in (1, 2, 3)]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 6-second video (three 2-second pans) in every container and codec rempart reads."""
    folder = tmp_path_factory.mktemp("containers")
    frames = list(scenes(SCENE_PHOTOS, 2.0))
    few = frames[::5]
    return {
        "mp4": write_video(folder / "v.mp4", frames),
        "mov": write_video(folder / "v.mov", frames),
        "matroska": write_video(folder / "v.mkv", frames),
        "webm-vp8": write_video(folder / "v8.webm", frames, codec="libvpx"),
        "webm-vp9": write_video(folder / "v9.webm", frames, codec="libvpx-vp9"),
        "avi": write_video(folder / "v.avi", frames, codec="mpeg4"),
        "gif": write_animation(folder / "v.gif", few, 500, "GIF"),
        "webp": write_animation(folder / "v.webp", few, 500, "WEBP"),
    }


EXPECTED = {
    "mp4": ("mp4", "h264"),
    "mov": ("mov", "h264"),
    "matroska": ("matroska", "h264"),
    "webm-vp8": ("webm", "vp8"),
    "webm-vp9": ("webm", "vp9"),
    "avi": ("avi", "mpeg4"),
    "gif": ("gif", "gif"),
    "webp": ("webp", "webp"),
}


def sample(source: bytes | str | os.PathLike[str], interval_s: float = 1.0, **limits: float):
    with open_video(source, VideoLimits(**limits)) as video:  # type: ignore[arg-type]
        return video.info, list(video.frames(interval_s))


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_container_decodes_one_frame_per_second(kind: str, made: dict[str, Path]) -> None:
    info, frames = sample(made[kind])

    assert (info.container, info.codec) == EXPECTED[kind]
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert [round(frame.timestamp) for frame in frames] == [0, 1, 2, 3, 4, 5]
    for frame in frames:
        assert frame.rgb.shape == (HEIGHT, WIDTH, 3)
        assert frame.rgb.dtype == np.uint8
        assert frame.rgb.flags["C_CONTIGUOUS"]
        assert abs(frame.timestamp - round(frame.timestamp)) < 0.5
    if info.duration_s is not None:
        assert info.duration_s == pytest.approx(6.0, abs=0.2)


def test_frames_show_the_scene_of_their_time(made: dict[str, Path]) -> None:
    source = list(scenes(SCENE_PHOTOS, 2.0))
    _, frames = sample(made["mp4"])

    for frame in frames:
        # The sampled frame is the first reference frame at or after the second: compare it to
        # the source frames around that time and require a close one (lossy encoding).
        near = source[int(frame.timestamp * FPS) : int(frame.timestamp * FPS) + 4]
        error = min(np.abs(frame.rgb.astype(int) - pixels.astype(int)).mean() for pixels in near)
        assert error < 12


def test_interval_zero_gives_every_frame_and_half_a_second_gives_two_per_second(
    made: dict[str, Path],
) -> None:
    _, every = sample(made["mp4"], 0)
    _, halves = sample(made["mp4"], 0.5)

    assert len(every) == 6 * FPS
    assert np.allclose(np.diff([frame.timestamp for frame in every]), 1 / FPS)
    assert len(halves) == 12
    assert all(b.timestamp - a.timestamp > 0.3 for a, b in itertools.pairwise(halves))


def test_a_path_and_its_bytes_decode_alike(made: dict[str, Path]) -> None:
    _, from_path = sample(made["matroska"])
    _, from_bytes = sample(made["matroska"].read_bytes())

    assert [f.timestamp for f in from_path] == [f.timestamp for f in from_bytes]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(from_path, from_bytes, strict=True))


def test_shared_videos_decode_with_their_declared_size_and_length() -> None:
    for name in ("short_hamilton_clip.mp4", "vtest.avi"):
        info, frames = sample(VIDEOS / name)
        duration = info.duration_s or 0.0
        assert len(frames) == pytest.approx(duration, abs=1.5), name
    assert (info.width, info.height, info.frame_rate) == (480, 360, 10.0)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_display_rotation_is_applied_as_players_do(degrees: int, tmp_path: Path) -> None:
    stored = list(scenes(SCENE_PHOTOS[:1], 1.0))
    _, frames = sample(write_video(tmp_path / "phone.mp4", stored, rotation=degrees))

    upright = np.rot90(stored[0], k=degrees // 90)  # counter-clockwise, as FFmpeg's autorotate
    assert frames[0].rgb.shape == upright.shape
    assert np.abs(frames[0].rgb.astype(int) - upright.astype(int)).mean() < 12


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mp4"])
def test_audio_that_outlasts_the_video_is_not_truncation(suffix: str, tmp_path: Path) -> None:
    frames = list(scenes(SCENE_PHOTOS[:2], 1.5))
    path = write_video(tmp_path / f"talk{suffix}", frames, audio_s=8.0, codec=_codec(suffix))

    _, sampled = sample(path)
    assert [round(frame.timestamp) for frame in sampled] == [0, 1, 2]
    with pytest.raises(CorruptMedia):
        sample(cut(path.read_bytes(), 0.4))


def _codec(suffix: str) -> str:
    return "libvpx" if suffix == ".webm" else "libx264"


def test_sniffing_names_containers_from_their_first_bytes(made: dict[str, Path]) -> None:
    for kind, (label, _) in EXPECTED.items():
        assert sniff_video_format(made[kind].read_bytes()[:64]) == label
    assert sniff_video_format(b"\xff\xd8\xff\xe0 a JPEG") is None
    assert sniff_video_format(b"") is None


def cut(data: bytes, share: float) -> bytes:
    return data[: int(len(data) * share)]


def damage(data: bytes, seed: int) -> bytes:
    """Flipped bytes, an overwritten run or a cut, by seed (what fuzzing found bugs with)."""
    rng = np.random.default_rng(seed)
    damaged = bytearray(data)
    if seed % 3 == 0:
        for at in rng.integers(0, len(damaged), int(rng.integers(1, 60))):
            damaged[at] ^= int(rng.integers(1, 256))
    elif seed % 3 == 1:
        at = int(rng.integers(0, len(damaged)))
        end = min(len(damaged), at + int(rng.integers(1, 2000)))
        damaged[at:end] = rng.bytes(end - at)
    else:
        del damaged[int(rng.integers(8, len(damaged))) :]
    return bytes(damaged)


BAD_INPUTS = [
    ("zero bytes", lambda made, tmp: b"", UnsupportedFormat),
    (
        "text named .mp4",
        lambda made, tmp: _named(tmp, "notes.mp4", b"not a video\n" * 40),
        UnsupportedFormat,
    ),
    ("random bytes", lambda made, tmp: np.random.default_rng(1).bytes(20_000), UnsupportedFormat),
    ("a JPEG", lambda made, tmp: (PHOTOS / "img_0001.jpg").read_bytes(), UnsupportedFormat),
    ("audio only", lambda made, tmp: write_audio_only(tmp / "tone.m4a"), UnsupportedFormat),
    ("mp4 cut in half", lambda made, tmp: cut(made["mp4"].read_bytes(), 0.5), CorruptMedia),
    ("mp4 header only", lambda made, tmp: made["mp4"].read_bytes()[:64], CorruptMedia),
    ("webm cut in half", lambda made, tmp: cut(made["webm-vp9"].read_bytes(), 0.5), CorruptMedia),
    ("mkv cut in half", lambda made, tmp: cut(made["matroska"].read_bytes(), 0.5), CorruptMedia),
    ("avi cut in half", lambda made, tmp: cut(made["avi"].read_bytes(), 0.5), CorruptMedia),
    ("gif cut in half", lambda made, tmp: cut(made["gif"].read_bytes(), 0.5), CorruptMedia),
    ("missing path", lambda made, tmp: tmp / "nothing-here.mp4", Unreadable),
    ("a folder", lambda made, tmp: tmp, Unreadable),
]


def _named(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("case", "make", "error"), BAD_INPUTS, ids=[case for case, _, _ in BAD_INPUTS]
)
def test_bad_inputs_raise_a_typed_error(
    case: str, make, error: type[MediaError], made: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(error) as raised:
        sample(make(made, tmp_path))
    assert raised.value.message


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"max_bytes": 1000}, TooLarge),
        ({"max_pixels": WIDTH * HEIGHT - 1}, TooLarge),
        ({"max_duration_s": 3.0}, TooLarge),
        ({"max_frames": 10}, TooLarge),
        ({"min_side": HEIGHT + 1}, TooSmall),
    ],
    ids=["bytes", "pixels", "duration", "frames", "min side"],
)
def test_limits_are_enforced(limits: dict[str, float], error: type[MediaError], made) -> None:
    for kind in ("mp4", "webm-vp9", "gif"):
        if kind == "gif" and "max_duration_s" in limits:
            continue  # GIFs declare no duration: checked while decoding, below
        with pytest.raises(error):
            sample(made[kind], **limits)


def test_animation_duration_is_checked_while_decoding(made: dict[str, Path]) -> None:
    with pytest.raises(TooLarge, match="limit"):
        sample(made["gif"], max_duration_s=2.0)


def test_the_decode_deadline_stops_a_slow_decode(made, monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that jumps 1 s on every reading: the 3-second deadline passes during decoding,
    # wherever the check happens (FFmpeg's reads or between frames).
    clock = itertools.count(start=time.monotonic(), step=1.0)
    monkeypatch.setattr(video_module.time, "monotonic", lambda: next(clock))
    for kind in ("mp4", "webm-vp9", "gif"):
        with pytest.raises(TooLarge, match="took longer"):
            sample(made[kind], max_decode_s=3.0)


def test_the_deadline_also_covers_opening(made, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = itertools.count(start=time.monotonic(), step=100.0)
    monkeypatch.setattr(video_module.time, "monotonic", lambda: next(clock))
    with pytest.raises(TooLarge, match="took longer"):
        sample(made["mp4"], max_decode_s=50.0)


def test_damaged_bytes_give_frames_or_a_media_error_never_a_hang(made) -> None:
    for kind, seed in itertools.product(sorted(made), range(9)):
        started = time.monotonic()
        try:
            _, frames = sample(damage(made[kind].read_bytes(), seed), 0.5)
        except MediaError:
            pass
        else:
            assert all(isinstance(frame, SampledFrame) for frame in frames)
        assert time.monotonic() - started < 10, (kind, seed)


def test_a_negative_interval_is_a_programming_error(made: dict[str, Path]) -> None:
    with pytest.raises(ValueError), open_video(made["mp4"]) as video:
        next(iter(video.frames(-1)))
