"""Bounds on what rempart agrees to decode.

Every decode of untrusted bytes is bounded before any pixel is allocated: the byte size, the
declared pixel count (decompression bombs declare huge sizes in a few bytes), the number of
frames. The working side bounds the memory and time that hashing spends on one image.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_MAX_FRAMES = 2_000
DEFAULT_WORKING_SIDE = 2048
MIN_SIDE = 5


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Limits applied to one piece of media.

    ``max_pixels`` bounds width x height of every frame as declared in the header, checked
    before decoding (100 MP by default). ``working_side`` is the longest side of the pixel
    array handed to the signals: larger images are reduced first (JPEG in the DCT domain),
    which bounds memory and changes a PDQ hash by a few bits at most (docs/signals.md).
    ``min_side`` is the smallest width or height rempart fingerprints (PDQ needs a few pixels
    in each direction; Meta's reference port refuses below 5).
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_frames: int = DEFAULT_MAX_FRAMES
    working_side: int = DEFAULT_WORKING_SIDE
    min_side: int = MIN_SIDE

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_frames", "working_side", "min_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"MediaLimits.{name} must be at least 1")


DEFAULT_LIMITS = MediaLimits()
