"""Test videos made with PyAV from the shared photos: small, short and deterministic.

Frames are 160x120 at 10 frames/s unless said otherwise, so a 60 s video encodes in well under
a second. Every scene is a slow pan across one photo, so each second of a video shows different
pixels (as real footage does) and clips can be located in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

WIDTH, HEIGHT = 160, 120
FPS = 10

Frame = NDArray[np.uint8]


def pan(
    photo: Path,
    seconds: float,
    fps: int = FPS,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    travel: float = 0.1,
) -> Iterator[Frame]:
    """Frames of a slow pan across ``photo``: the view moves by ``travel`` of its width in all.

    PDQ moves past 31 bits when a picture shifts by about 1.5% of its width (measured on the
    shared photos), so the default 2% per second keeps frames one second apart distinct while
    frames a fraction of a second apart stay near, as in ordinary footage.
    """
    width, height = size
    extra = round(width * travel)
    pixels = np.asarray(Image.open(photo).convert("RGB").resize((width + extra, height)))
    count = round(seconds * fps)
    for number in range(count):
        left = round(number * extra / max(count - 1, 1))
        yield np.ascontiguousarray(pixels[:, left : left + width])


def still(
    photo: Path, seconds: float, fps: int = FPS, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> Iterator[Frame]:
    """One photo held still (a slide)."""
    pixels = np.asarray(Image.open(photo).convert("RGB").resize(size))
    for _ in range(round(seconds * fps)):
        yield pixels


def scenes(photos: Sequence[Path], seconds_each: float, fps: int = FPS) -> Iterator[Frame]:
    """One pan per photo, back to back."""
    for photo in photos:
        yield from pan(photo, seconds_each, fps)


def black(
    seconds: float, fps: int = FPS, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> Iterator[Frame]:
    for _ in range(round(seconds * fps)):
        yield np.zeros((size[1], size[0], 3), dtype=np.uint8)


def write_video(
    path: Path,
    frames: Iterable[Frame],
    fps: int = FPS,
    codec: str = "libx264",
    size: tuple[int, int] | None = None,
    bit_rate: int | None = None,
    options: dict[str, str] | None = None,
    rotation: int = 0,
    audio_s: float = 0.0,
) -> Path:
    """Encode ``frames`` (RGB arrays) into ``path``; the container comes from the suffix.

    ``size`` rescales every frame; ``bit_rate`` (bits/s) replaces the encoder's quality default;
    ``rotation`` tags the stream with a display rotation (degrees counter-clockwise), as phones
    do for portrait video; ``audio_s`` adds a silent audio track of that many seconds.
    """
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.pix_fmt = "yuv420p"
        # libvpx's default quality search takes seconds per second of video: realtime is enough.
        fast = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        fast = fast if codec.startswith("libvpx") else {}
        stream.options = {**fast, **(options or {})}
        if rotation:
            stream.set_display_rotation(rotation)
        # Streams must all exist before the first packet is written.
        codec_of_sound = "libopus" if path.suffix == ".webm" else "aac"
        sound = container.add_stream(codec_of_sound, rate=48000) if audio_s else None
        if bit_rate:
            stream.bit_rate = bit_rate
        configured = False
        for pixels in frames:
            if size is not None:
                pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if not configured:
                stream.width, stream.height = frame.width, frame.height
                configured = True
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            _silence(container, sound, audio_s)
    return path


def _silence(
    container: av.container.OutputContainer, stream: av.AudioStream, seconds: float
) -> None:
    rate = 48000
    for start in range(0, int(seconds * rate), 960):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 960), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def decoded_frames(
    path: Path, start_s: float = 0.0, end_s: float = float("inf")
) -> Iterator[Frame]:
    """Every frame of a video between two times (seconds from the start), as RGB arrays."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first: float | None = None
        for frame in container.decode(stream):
            moment = float(frame.time or 0.0)
            first = moment if first is None else first
            if start_s <= moment - first < end_s:
                yield frame.to_ndarray(format="rgb24")


def write_animation(path: Path, frames: Iterable[Frame], delay_ms: int, fmt: str) -> Path:
    """An animated GIF or WebP of ``frames``, each shown ``delay_ms``."""
    images = [Image.fromarray(pixels) for pixels in frames]
    images[0].save(
        path, format=fmt, save_all=True, append_images=images[1:], duration=delay_ms, loop=0
    )
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An AAC track in an MP4 (``.m4a``) container, no video stream: a tone."""
    rate = 16000
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = np.sin(np.arange(int(seconds * rate)) * 0.05).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format="fltp", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
