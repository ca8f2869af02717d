"""All the signals of one piece of media, computed in one pass over its bytes."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from rempart.media import (
    DEFAULT_LIMITS,
    DEFAULT_VIDEO_LIMITS,
    MediaLimits,
    VideoLimits,
    decode_image_bytes,
    open_video,
)
from rempart.signals.exact import ExactHash, md5_of, sha256_of
from rempart.signals.pdq import PdqHash, pdq_dihedral, pdq_hash
from rempart.signals.regions import (
    QueryImage,
    RegionalSignature,
    compute_query_regions,
    compute_regional_signature,
)
from rempart.signals.registry import Signal
from rempart.signals.video import DEFAULT_FRAME_INTERVAL_S, VideoSignature, vpdq_signature

_DIGEST_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ImageSignals:
    """What rempart knows of one image, without keeping a pixel of it.

    ``pdq`` is the hash of the upright image (EXIF orientation applied). When the file carries
    an orientation other than 1, ``pdq_stored_order`` is the hash of the pixels in stored
    order, which is what tools that ignore EXIF (Meta's C++ hasher among them) compute, so a
    hash list made by such a tool still matches. ``regions`` is the regional signature
    (derivatives, docs/derivatives.md), computed on request.
    """

    format: str
    width: int
    height: int
    orientation: int
    pdq: PdqHash
    pdq_stored_order: PdqHash | None
    md5: ExactHash
    sha256: ExactHash
    dihedral: dict[str, PdqHash] | None = None
    regions: RegionalSignature | None = None
    frame_count: int = 1
    # The query side of derivative matching: many more regions, and the pixels to re-hash where
    # a first match predicts (never stored; see rempart.matching.regions).
    query_regions: QueryImage | None = None

    def signals(self) -> list[Signal]:
        """The signals a case or a bank stores for this image."""
        found: list[Signal] = [self.pdq]
        if self.pdq_stored_order is not None:
            found.append(self.pdq_stored_order)
        found += [self.md5, self.sha256]
        if self.regions is not None:
            found.append(self.regions)
        return found


def compute_image_signals(
    data: bytes,
    limits: MediaLimits = DEFAULT_LIMITS,
    *,
    dihedral: bool = False,
    regions: bool = False,
    query_regions: bool = False,
) -> ImageSignals:
    """Decode ``data`` in memory and fingerprint it; raises ``MediaError`` on bad input.

    ``regions`` adds the regional signature of the upright image (about 30-40 ms more);
    ``query_regions`` the query-side regions, for checking this image against references.
    """
    image = decode_image_bytes(data, limits)
    if dihedral:
        variants = pdq_dihedral(image.rgb)
        upright = variants["original"]
    else:
        variants = None
        upright = pdq_hash(image.rgb)
    stored = pdq_hash(image.stored_rgb) if image.orientation != 1 else None
    return ImageSignals(
        format=image.format,
        width=image.width,
        height=image.height,
        orientation=image.orientation,
        pdq=upright,
        pdq_stored_order=stored,
        md5=md5_of(data),
        sha256=sha256_of(data),
        dihedral=variants,
        regions=compute_regional_signature(image.rgb) if regions else None,
        frame_count=image.frame_count,
        query_regions=compute_query_regions(image.rgb) if query_regions else None,
    )


@dataclass(frozen=True, slots=True)
class VideoSignals:
    """What rempart knows of one video (or animated GIF/WebP), without keeping a pixel of it.

    ``format`` is the container (``mp4``, ``mov``, ``3gp``, ``matroska``, ``webm``, ``avi``,
    ``gif``, ``webp``); ``width``/``height`` the declared frame size; ``duration`` in seconds,
    declared by the container or, when it says nothing (GIF, WebP), the last sampled frame's
    time. A video has no single ``pdq``: its frames are in ``vpdq`` (docs/video.md).
    """

    format: str
    codec: str
    width: int
    height: int
    duration: float
    vpdq: VideoSignature
    md5: ExactHash
    sha256: ExactHash

    def signals(self) -> list[Signal]:
        """The signals a case or a bank stores for this video."""
        return [self.vpdq, self.md5, self.sha256]


def compute_video_signals(
    source: bytes | str | os.PathLike[str],
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    *,
    interval_s: float = DEFAULT_FRAME_INTERVAL_S,
) -> VideoSignals:
    """Decode a video (bytes, or a path streamed from disk) and fingerprint it.

    Frames are sampled every ``interval_s`` seconds (vPDQ's default: 1). Raises ``MediaError``
    on bad input (see ``rempart.media.open_video``), ``TooLarge`` included when decoding takes
    longer than ``limits.max_decode_s``.
    """
    with open_video(source, limits) as video:
        signature = vpdq_signature(video.frames(interval_s))
        info = video.info
    md5, sha256 = _digests(source)
    duration = info.duration_s if info.duration_s is not None else signature.frames[-1].timestamp
    return VideoSignals(
        format=info.container,
        codec=info.codec,
        width=info.width,
        height=info.height,
        duration=round(duration, 3),
        vpdq=signature,
        md5=md5,
        sha256=sha256,
    )


def _digests(source: bytes | str | os.PathLike[str]) -> tuple[ExactHash, ExactHash]:
    """MD5 and SHA-256 of bytes or of a file read in chunks (videos can be gigabytes)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return md5_of(data), sha256_of(data)
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    with open(source, "rb") as handle:
        while chunk := handle.read(_DIGEST_CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
    return ExactHash("md5", md5.hexdigest()), ExactHash("sha256", sha256.hexdigest())
