"""Decode untrusted video bytes into sampled RGB frames, with bounded memory and time.

This is the only place where video bytes are parsed. Containers are recognised from their first
bytes and opened with one explicit demuxer each (MP4/MOV/3GP, Matroska/WebM, AVI through PyAV's
bundled FFmpeg; GIF and animated WebP through Pillow), so no other FFmpeg demuxer ever sees
untrusted input; only the decoders in :data:`VIDEO_CODECS` are used. Whatever the input, the
result is frames or a :class:`~rempart.errors.MediaError`; PyAV's and Pillow's exceptions never
escape.

What is bounded, and how (docs/video.md):

- bytes: ``max_bytes`` is checked on the file size before anything is parsed;
- probing: FFmpeg reads at most ``probe_bytes`` and ``probe_duration_s`` of the input to find the
  streams (its ``probesize`` and ``analyzeduration`` options);
- size: the declared width x height (``max_pixels``, ``min_side``) before decoding, and again on
  every decoded frame (a stream may change resolution midway);
- length: the declared duration and frame count before decoding, then every packet's timestamp
  and the count of video packets read (``max_duration_s``, ``max_frames``);
- time: a wall-clock deadline (``max_decode_s``) checked on every read FFmpeg makes from the
  input (rempart supplies the reader, so a demuxer that keeps reading is stopped there) and
  before every packet and frame. Decoding one packet is a single C call that cannot be
  interrupted; its cost is bounded by the packet's size and the frame size, both limited. A
  caller that must survive a decoder *bug* (an infinite loop inside FFmpeg) runs hashing in a
  worker process it can kill, as ``rempart.scan`` and the service do.
- memory: one decoded frame plus the decoder's reference frames (a few frames of at most
  ``max_pixels``), one thread per decoder; frames are yielded one at a time, never collected.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol, Self

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageSequence

from rempart.errors import (
    CorruptMedia,
    MediaError,
    TooLarge,
    TooSmall,
    UnsupportedFormat,
)
from rempart.media.reading import open_source

RGBArray = NDArray[np.uint8]

# Container label (what rempart reports) -> FFmpeg demuxer, or None for the Pillow path.
_DEMUXERS: dict[str, str | None] = {
    "mp4": "mov",
    "mov": "mov",
    "3gp": "mov",
    "matroska": "matroska",
    "webm": "matroska",
    "avi": "avi",
    "gif": None,
    "webp": None,
}

VIDEO_FORMATS: tuple[str, ...] = tuple(_DEMUXERS)

# Decoders allowed on untrusted streams: what phones, platforms and messaging apps produce.
VIDEO_CODECS = frozenset(
    {
        "h264",
        "hevc",
        "vp8",
        "vp9",
        "av1",
        "libdav1d",
        "mpeg4",
        "mpeg1video",
        "mpeg2video",
        "mjpeg",
        "h263",
        "msmpeg4v3",
        "theora",
    }
)

# GIF and WebP frames that declare a delay of 10 ms or less are shown for 100 ms by browsers.
_MIN_ANIMATION_DELAY_MS = 10
_DEFAULT_DELAY_MS = 100

# Sniffing reads this many bytes from the start of the file.
_SNIFF_BYTES = 64

# Every frame within this many frame durations of a sampling time is decoded.
_FULL_DECODE_FRAMES = 1.5

# A file may end this much before its declared duration without being called truncated
# (containers round durations).
_TRUNCATION_SLACK_S = 1.0
_TRUNCATION_SLACK_SHARE = 0.05

# Audio, subtitle and data packets allowed per video frame of ``max_frames`` (audio runs at
# about 50 packets a second against 25-60 frames).
_OTHER_PACKETS_PER_FRAME = 16


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Limits applied to one video (or animated image).

    ``max_pixels`` bounds width x height of every frame (8K by default); ``max_duration_s`` the
    declared and decoded duration (3 hours); ``max_frames`` the video packets read, decoded or
    skipped (a crafted file with millions of tiny frames stops there); ``max_decode_s`` the
    wall-clock seconds spent opening and decoding, enforced as described in the module
    docstring. ``probe_bytes`` and ``probe_duration_s`` bound FFmpeg's stream probing.
    ``min_side`` is the smallest side PDQ can hash (Meta's ``MIN_HASHABLE_DIM``).
    """

    max_bytes: int = 2 * 1024**3
    max_pixels: int = 8192 * 4352
    max_duration_s: float = 3 * 3600.0
    max_frames: int = 1_000_000
    max_decode_s: float = 600.0
    probe_bytes: int = 5_000_000
    probe_duration_s: float = 5.0
    min_side: int = 5

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_pixels",
            "max_duration_s",
            "max_frames",
            "max_decode_s",
            "probe_bytes",
            "probe_duration_s",
            "min_side",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"VideoLimits.{name} must be positive")


DEFAULT_VIDEO_LIMITS = VideoLimits()


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container declares, read before any frame is decoded.

    ``container`` is one of :data:`VIDEO_FORMATS`; ``codec`` the decoder's name; ``frame_rate``
    the declared average frames per second and ``duration_s`` the declared duration in seconds,
    each ``None`` when the container does not say.
    """

    container: str
    codec: str
    width: int
    height: int
    frame_rate: float | None
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """One decoded frame: seconds since the first frame, and its pixels.

    ``rgb`` is a C-contiguous ``uint8`` array (height, width, 3) at the video's own resolution,
    converted from YUV with the BT.601 matrix whatever the stream's colour tags say, as Meta's
    vPDQ does (swscale defaults), so frame hashes agree with vPDQ's bit for bit. A stream with
    a display rotation (portrait phone video) is turned upright, as players show it; vPDQ
    hashes such frames sideways (docs/video.md).
    """

    timestamp: float
    rgb: RGBArray


class VideoReader(Protocol):
    """An open video: its declared :class:`VideoInfo`, then its frames, one pass only."""

    info: VideoInfo

    def frames(self, interval_s: float = 1.0) -> Iterator[SampledFrame]:
        """The first frame at or after each multiple of ``interval_s`` seconds (0: every frame).

        Raises ``CorruptMedia`` (damaged or truncated data, no decodable frame), ``TooLarge``
        (over a limit, including the decode time) or ``TooSmall`` while iterating.
        """
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


def sniff_video_format(head: bytes) -> str | None:
    """The container label of a file from its first bytes, or ``None`` if not a video rempart reads.

    GIF and WebP are labelled too: they are animations when they have more than one frame.
    """
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand.startswith(b"3g"):
            return "3gp"
        return "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in head[:_SNIFF_BYTES] else "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def open_video(
    source: bytes | str | os.PathLike[str], limits: VideoLimits = DEFAULT_VIDEO_LIMITS
) -> VideoReader:
    """Open a video from bytes or a path (a path is streamed, never read whole into memory).

    Raises ``Unreadable`` (missing path, folder, no permission), ``UnsupportedFormat`` (empty,
    not a container rempart reads, no video stream such as an audio-only file, a codec outside
    :data:`VIDEO_CODECS`), ``CorruptMedia`` (a known container that cannot be read) or
    ``TooLarge``/``TooSmall`` (declared size, duration or frame count over the limits).
    The reader must be closed (it is a context manager).
    """
    deadline = time.monotonic() + limits.max_decode_s
    handle = open_source(source, limits.max_bytes)
    try:
        head = handle.read(_SNIFF_BYTES)
        handle.seek(0)
        if not head:
            raise UnsupportedFormat("the file is empty")
        label = sniff_video_format(head)
        if label is None:
            raise UnsupportedFormat(
                "not a video in a supported format (MP4, MOV, 3GP, MKV, WebM, AVI, GIF, WebP)"
            )
        demuxer = _DEMUXERS[label]
        if demuxer is None:
            return _AnimationReader(handle, label, limits, deadline)
        return _AvReader(handle, label, demuxer, limits, deadline)
    except BaseException:
        handle.close()
        raise


class _DeadlineExceeded(Exception):
    """Raised inside FFmpeg's read callback; turned into ``TooLarge`` at the boundary."""


class _DeadlineReader(io.RawIOBase):
    """The input as FFmpeg reads it: every read and seek first checks the wall-clock deadline."""

    def __init__(self, handle: IO[bytes], deadline: float) -> None:
        super().__init__()
        self._handle = handle
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        _check_deadline(self._deadline)
        return self._handle.readinto(buffer)  # type: ignore[attr-defined]

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        _check_deadline(self._deadline)
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


class _AvReader:
    """Containers demuxed by FFmpeg; see the module docstring for the bounds."""

    def __init__(
        self, handle: IO[bytes], label: str, demuxer: str, limits: VideoLimits, deadline: float
    ) -> None:
        self._handle = handle
        self._limits = limits
        self._deadline = deadline
        self._label = label
        options = {
            "probesize": str(limits.probe_bytes),
            "analyzeduration": str(int(limits.probe_duration_s * 1_000_000)),
        }
        try:
            self._container = av.open(
                _DeadlineReader(handle, deadline),
                mode="r",
                format=demuxer,
                options=options,
                metadata_errors="ignore",
            )
        except _DeadlineExceeded as exc:
            raise _timeout(limits) from exc
        except Exception as exc:  # PyAV raises InvalidDataError, EOFError, OSError...
            raise CorruptMedia(f"{label.upper()} container cannot be read: {_reason(exc)}") from exc
        try:
            self.info = self._inspect()
        except MediaError:
            self._container.close()
            raise
        except Exception as exc:  # a header PyAV reads but cannot make sense of
            self._container.close()
            raise CorruptMedia(f"the video stream cannot be read: {_reason(exc)}") from exc

    def _inspect(self) -> VideoInfo:
        streams = self._container.streams.video
        if not streams:
            raise UnsupportedFormat("the file has no video stream (audio only?)")
        self._stream = stream = streams[0]
        context = stream.codec_context
        if context is None:  # FFmpeg has no decoder for the declared codec id
            raise UnsupportedFormat("the video stream's codec is not one rempart decodes")
        codec = context.name
        if codec not in VIDEO_CODECS:
            raise UnsupportedFormat(f"video codec {codec!r} is not one rempart decodes")
        if not context.width or not context.height:
            raise CorruptMedia("the video stream declares no frame size")
        _check_size(context.width, context.height, self._limits)
        # One thread per decoder: callers parallelise across files, and CPU use stays predictable.
        context.thread_count = 1
        rate = stream.average_rate or stream.guessed_rate
        frame_rate = float(rate) if rate else None
        duration = _declared_duration(self._container, stream)
        if duration is not None and duration > self._limits.max_duration_s:
            raise TooLarge(
                f"the video lasts {duration:.0f} s, over the {self._limits.max_duration_s:.0f} s"
                " limit"
            )
        if stream.frames and stream.frames > self._limits.max_frames:
            raise TooLarge(
                f"the video declares {stream.frames} frames, over the"
                f" {self._limits.max_frames}-frame limit"
            )
        return VideoInfo(self._label, codec, context.width, context.height, frame_rate, duration)

    def frames(self, interval_s: float = 1.0) -> Iterator[SampledFrame]:
        _check_interval(interval_s)
        try:
            yield from self._sample(interval_s)
        except MediaError:
            raise
        except _DeadlineExceeded as exc:
            raise _timeout(self._limits) from exc
        except Exception as exc:  # PyAV raises many types on damaged packets
            raise CorruptMedia(f"the video cannot be decoded: {_reason(exc)}") from exc

    def _sample(self, interval_s: float) -> Iterator[SampledFrame]:
        limits = self._limits
        stream = self._stream
        context = stream.codec_context
        time_base = float(stream.time_base) if stream.time_base else None
        # AVI stores decode times only; FFmpeg's guessed presentation times come out shuffled
        # when there are B-frames. The decoder emits frames in presentation order, each tagged
        # with the decode time of the packet that released it: in order, as vPDQ's frame count,
        # provided no frame is skipped.
        presentation_by_dts = self._label == "avi"
        # Non-reference frames (B-frames, mostly) are skipped, except around each sampling time:
        # this halves decoding, changes no other frame, and still samples the first frame at or
        # after each multiple of the interval, whatever the encoder's frame types.
        skipping = interval_s > 0 and not presentation_by_dts
        frame_rate = self.info.frame_rate or 25.0
        window = _FULL_DECODE_FRAMES / frame_rate
        context.skip_frame = "DEFAULT"
        start: float | None = None
        origin = float(stream.start_time * time_base) if stream.start_time and time_base else 0.0
        next_target = 0.0
        previous: float | None = None
        packets = 0
        other_packets = 0
        decoded = 0
        # The latest time any stream's packets reach, on the container's clock: a file whose
        # every stream stops early was cut short (audio may rightly outlast the video).
        reached = -math.inf
        # Every stream is read (FFmpeg reads them all anyway) so that the truncation check
        # sees the audio too; only the video stream is decoded.
        for packet in self._container.demux():
            _check_deadline(self._deadline)
            stamp = packet.pts if packet.pts is not None else packet.dts
            if packet.size and stamp is not None and packet.time_base:
                end = (stamp + (packet.duration or 0)) * float(packet.time_base)
                reached = max(reached, end)
            if packet.stream is not stream:
                other_packets += 1
                if other_packets > _OTHER_PACKETS_PER_FRAME * limits.max_frames:
                    raise TooLarge("the file has too many audio or data packets")
                continue
            if packet.size:
                packets += 1
                if packets > limits.max_frames:
                    raise TooLarge(f"the video has more than {limits.max_frames} frames")
                if skipping and stamp is not None and time_base is not None:
                    at = stamp * time_base - (origin if start is None else start)
                    near = next_target - window <= at <= next_target + window
                    context.skip_frame = "DEFAULT" if near else "NONREF"
            for frame in stream.decode(packet):
                _check_deadline(self._deadline)
                _check_size(frame.width, frame.height, limits)
                stamp = frame.dts if presentation_by_dts else frame.pts
                moment = (
                    stamp * time_base if stamp is not None and time_base else decoded / frame_rate
                )
                decoded += 1
                if start is None:
                    start = moment
                timestamp = moment - start
                if timestamp > limits.max_duration_s:
                    raise TooLarge(
                        f"the video runs past the {limits.max_duration_s:.0f} s duration limit"
                    )
                if skipping and previous is not None and timestamp - previous > interval_s / 2:
                    # This stream marks frames as non-reference so often that skipping them
                    # would leave gaps: decode every frame from here on.
                    skipping = False
                    context.skip_frame = "DEFAULT"
                previous = timestamp
                if interval_s and timestamp < next_target:
                    continue
                if interval_s:
                    next_target = (math.floor(timestamp / interval_s) + 1) * interval_s
                yield SampledFrame(round(timestamp, 6), _to_rgb(frame))
        if not decoded:
            raise CorruptMedia("no frame of the video could be decoded")
        self._check_complete(reached)

    def _check_complete(self, reached: float) -> None:
        """Refuse a file cut short: all its packets stop well before the declared end."""
        declared = self.info.duration_s
        if declared is None or not declared > 0 or not math.isfinite(reached):
            return
        stream = self._stream
        if stream.duration is not None and stream.time_base:
            start = float((stream.start_time or 0) * stream.time_base)
        else:
            start = (self._container.start_time or 0) / av.time_base
        slack = max(_TRUNCATION_SLACK_S, declared * _TRUNCATION_SLACK_SHARE)
        if reached + slack < start + declared:
            raise CorruptMedia(
                f"the video is truncated: it stops at {reached - start:.1f} s of a declared"
                f" {declared:.1f} s"
            )

    def close(self) -> None:
        self._container.close()
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AnimationReader:
    """GIF and WebP animations, decoded by Pillow (FFmpeg does not decode animated WebP)."""

    def __init__(self, handle: IO[bytes], label: str, limits: VideoLimits, deadline: float) -> None:
        self._handle = handle
        self._limits = limits
        self._deadline = deadline
        try:
            self._image = Image.open(handle, formats=[label.upper()])
        except Exception as exc:  # a recognised signature whose header is inconsistent
            raise CorruptMedia(f"{label.upper()} header cannot be read: {_reason(exc)}") from exc
        width, height = self._image.size
        try:
            _check_size(width, height, limits)
            count = int(getattr(self._image, "n_frames", 1))  # walks the file's frame headers
        except MediaError:
            self._image.close()
            raise
        except Exception as exc:  # a damaged frame header found while counting
            self._image.close()
            raise CorruptMedia(f"{label.upper()} frames cannot be read: {_reason(exc)}") from exc
        if count > limits.max_frames:
            self._image.close()
            raise TooLarge(f"{count} frames is over the {limits.max_frames}-frame limit")
        self.info = VideoInfo(label, label, width, height, None, None)

    def frames(self, interval_s: float = 1.0) -> Iterator[SampledFrame]:
        _check_interval(interval_s)
        elapsed_ms = 0
        next_target = 0.0
        decoded = 0
        try:
            for frame in ImageSequence.Iterator(self._image):
                _check_deadline(self._deadline)
                decoded += 1
                timestamp = elapsed_ms / 1000
                if timestamp > self._limits.max_duration_s:
                    raise TooLarge(
                        f"the animation runs past the {self._limits.max_duration_s:.0f} s limit"
                    )
                frame.load()  # WebP sets the frame's duration when it is decoded
                delay = frame.info.get("duration") or 0
                elapsed_ms += delay if delay > _MIN_ANIMATION_DELAY_MS else _DEFAULT_DELAY_MS
                if interval_s and timestamp < next_target:
                    continue
                if interval_s:
                    next_target = (math.floor(timestamp / interval_s) + 1) * interval_s
                yield SampledFrame(timestamp, _flatten(frame))
        except MediaError:
            raise
        except _DeadlineExceeded as exc:
            raise _timeout(self._limits) from exc
        except Exception as exc:  # Pillow raises many types on damaged frames
            raise CorruptMedia(f"frame {decoded} cannot be decoded: {_reason(exc)}") from exc

    def close(self) -> None:
        self._image.close()
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / av.time_base
    return None


def _check_size(width: int, height: int, limits: VideoLimits) -> None:
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"{width}x{height} frames are over the {limits.max_pixels}-pixel limit per frame"
        )
    if min(width, height) < limits.min_side:
        raise TooSmall(
            f"{width}x{height} frames are too small to fingerprint (each side needs at least"
            f" {limits.min_side} pixels)"
        )


def _check_interval(interval_s: float) -> None:
    if not (interval_s >= 0 and math.isfinite(interval_s)):
        raise ValueError("the sampling interval is a finite number of seconds >= 0")


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise _DeadlineExceeded


def _timeout(limits: VideoLimits) -> TooLarge:
    return TooLarge(f"decoding took longer than the {limits.max_decode_s:g} s limit")


def _to_rgb(frame: av.VideoFrame) -> RGBArray:
    """The frame as displayed: RGB, turned by the stream's display rotation."""
    # BT.601 and SWS_AREA, as vPDQ's sws_getContext: the same pixels, so the same PDQ bits.
    rgb = frame.reformat(
        format="rgb24", src_colorspace="DEFAULT", interpolation="AREA", threads=1
    ).to_ndarray()
    # Phones store portrait video sideways with a display rotation (counter-clockwise degrees);
    # players and re-encoders turn it upright, so the hash must see it upright too.
    quarter_turns = round(frame.rotation / 90) % 4
    if quarter_turns:
        rgb = np.rot90(rgb, k=quarter_turns)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _flatten(frame: Image.Image) -> RGBArray:
    """An animation frame as RGB; transparency is composited over white, as for still images."""
    rgba = frame.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.ascontiguousarray(
        np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
