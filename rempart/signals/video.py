"""vPDQ-compatible video signatures: the PDQ hash of frames sampled through a video.

A signature is the list of sampled frames, each a PDQ hash (with its quality) and the frame's
time in seconds from the first frame. Frames are sampled at one per second by default, like
Meta's vPDQ (``seconds_per_hash=1``); a frame whose hash equals the previous kept frame's is
dropped (a still scene, a slideshow), which changes no match percentage since matching counts
distinct hashes. Each frame hash is bit-for-bit the hash Meta's ``vpdq`` package computes for
the same frame (same RGB conversion, same PDQ), so signatures exchange with vPDQ tools in both
directions. See docs/video.md.

Wire form: ``{"type": "vpdq", "frames": [{"value": "<64 hex>", "quality": 0-100,
"timestamp": seconds}, ...]}``. Text form (vPDQ's hash files, one line per frame):
``index,quality,hex,timestamp`` with the timestamp to 3 decimals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rempart.errors import InvalidSignal, TooLarge
from rempart.media import SampledFrame
from rempart.signals.pdq import HASH_BYTES, PackedHashes, PdqHash, pdq_hash

DEFAULT_FRAME_INTERVAL_S = 1.0
# About 5.5 hours at one frame per second; bounds what one signature costs to store and match.
MAX_FRAMES = 20_000
# Timestamps are kept to the millisecond, as vPDQ writes them.
TIMESTAMP_DECIMALS = 3
MAX_TIMESTAMP_S = 1_000_000.0


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One sampled frame: its PDQ hash (with quality) and its time in seconds from the start."""

    pdq: PdqHash
    timestamp: float

    def __post_init__(self) -> None:
        if (
            isinstance(self.timestamp, bool)
            or not isinstance(self.timestamp, int | float)
            or not math.isfinite(self.timestamp)
            or not 0 <= self.timestamp <= MAX_TIMESTAMP_S
        ):
            raise InvalidSignal(
                f"a vpdq frame timestamp is a number of seconds from 0 to {MAX_TIMESTAMP_S:g}"
            )

    @classmethod
    def from_json(cls, obj: Any) -> VpdqFrame:
        """Parse ``{"value": "<64 hex>", "quality": 0-100, "timestamp": seconds}``."""
        if not isinstance(obj, dict):
            raise InvalidSignal("a vpdq frame is an object with value, quality and timestamp")
        if "quality" not in obj or "timestamp" not in obj:
            raise InvalidSignal("a vpdq frame needs its value, quality and timestamp")
        return cls(PdqHash.from_hex(obj.get("value"), obj["quality"]), obj["timestamp"])  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.pdq.hex,
            "quality": self.pdq.quality,
            "timestamp": round(self.timestamp, TIMESTAMP_DECIMALS),
        }


@dataclass(frozen=True, slots=True)
class VideoSignature:
    """The frames of one video, in time order; between 1 and :data:`MAX_FRAMES` of them."""

    TYPE: ClassVar[str] = "vpdq"

    frames: tuple[VpdqFrame, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.frames, tuple) or not self.frames:
            raise InvalidSignal("a vpdq signature has at least one frame")
        if len(self.frames) > MAX_FRAMES:
            raise InvalidSignal(
                f"a vpdq signature has at most {MAX_FRAMES} frames, got {len(self.frames)}"
            )

    @classmethod
    def from_json(cls, obj: Any) -> VideoSignature:
        """Parse the wire form ``{"type": "vpdq", "frames": [...]}``; raises ``InvalidSignal``."""
        if not isinstance(obj, dict) or obj.get("type") != cls.TYPE:
            raise InvalidSignal('a vpdq signal is {"type": "vpdq", "frames": [...]}')
        return cls.from_frames_json(obj.get("frames"))

    @classmethod
    def from_frames_json(cls, frames: Any) -> VideoSignature:
        """Parse a bare list of frame objects (the ``vpdq`` key of a ``rempart hash`` record)."""
        if not isinstance(frames, list):
            raise InvalidSignal("vpdq frames are a list of {value, quality, timestamp} objects")
        if len(frames) > MAX_FRAMES:
            raise InvalidSignal(f"a vpdq signature has at most {MAX_FRAMES} frames")
        return cls(tuple(VpdqFrame.from_json(frame) for frame in frames))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "frames": self.frames_json()}

    def frames_json(self) -> list[dict[str, Any]]:
        return [frame.to_json() for frame in self.frames]

    @classmethod
    def from_text(cls, text: str) -> VideoSignature:
        """Parse a vPDQ hash file: ``index,quality,hex,timestamp`` per line (index ignored).

        Reads what Meta's ``vpdq-hash-video`` writes; raises ``InvalidSignal`` naming the line.
        """
        frames: list[VpdqFrame] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            if len(frames) >= MAX_FRAMES:
                raise InvalidSignal(f"a vpdq signature has at most {MAX_FRAMES} frames")
            fields = line.strip().split(",")
            if len(fields) < 4:
                raise InvalidSignal(f"line {number}: expected index,quality,hash,timestamp")
            try:
                quality = int(fields[1])
                timestamp = float(fields[3])
            except ValueError as exc:
                raise InvalidSignal(f"line {number}: quality or timestamp is not a number") from exc
            try:
                frames.append(VpdqFrame(PdqHash.from_hex(fields[2], quality), timestamp))
            except InvalidSignal as exc:
                raise InvalidSignal(f"line {number}: {exc.message}") from exc
        return cls(tuple(frames))

    def to_text(self) -> str:
        """The vPDQ hash-file form: ``index,quality,hex,timestamp`` per line, index from 0."""
        return "".join(
            f"{index},{frame.pdq.quality},{frame.pdq.hex},{frame.timestamp:.{TIMESTAMP_DECIMALS}f}\n"
            for index, frame in enumerate(self.frames)
        )

    def packed(self) -> PackedHashes:
        """The frame hashes as an (n, 32) ``uint8`` array, in frame order."""
        return np.frombuffer(
            b"".join(frame.pdq.bits for frame in self.frames), dtype=np.uint8
        ).reshape(-1, HASH_BYTES)

    def qualities(self) -> np.ndarray:
        return np.fromiter((frame.pdq.quality for frame in self.frames), dtype=np.int16)

    def timestamps(self) -> np.ndarray:
        return np.fromiter((frame.timestamp for frame in self.frames), dtype=np.float64)


def vpdq_signature(frames: Iterable[SampledFrame]) -> VideoSignature:
    """Hash sampled frames (from ``rempart.media.open_video``) into a signature.

    Consecutive frames with identical hashes are kept once (the first). Raises ``TooLarge`` when
    more than :data:`MAX_FRAMES` distinct consecutive frames come (a video too long for the
    sampling interval), and whatever ``MediaError`` the decoding raises.
    """
    kept: list[VpdqFrame] = []
    for frame in frames:
        pdq = pdq_hash(frame.rgb)
        if kept and kept[-1].pdq.bits == pdq.bits:
            continue
        if len(kept) >= MAX_FRAMES:
            raise TooLarge(
                f"over {MAX_FRAMES} sampled frames: the video is too long for the sampling interval"
            )
        kept.append(VpdqFrame(pdq, round(frame.timestamp, TIMESTAMP_DECIMALS)))
    return VideoSignature(tuple(kept))
