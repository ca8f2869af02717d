"""Hash many files: expand paths, fingerprint each in a process pool, yield records in order.

Knows nothing of terminals: the CLI wraps the iterator with a progress bar when it wants one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rempart.errors import MediaError
from rempart.media import (
    DEFAULT_LIMITS,
    DEFAULT_VIDEO_LIMITS,
    MediaLimits,
    VideoLimits,
    read_source,
    sniff_video_format,
)
from rempart.records import error_record, signals_record, video_record
from rempart.signals import DEFAULT_FRAME_INTERVAL_S, compute_image_signals, compute_video_signals

# Inside folders, files are hashed when their extension is one of these or when they have no
# extension at all (downloads from messaging apps often have none). Files named explicitly are
# always tried.
MEDIA_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
    | {".heic", ".heif", ".avif"}
    | {".mp4", ".m4v", ".mov", ".qt", ".3gp", ".mkv", ".webm", ".avi"}
)

# Containers that only ever hold video. GIF and WebP are hashed as images, and also as videos
# (``vpdq``) when they are animations.
_VIDEO_CONTAINERS = frozenset({"mp4", "mov", "3gp", "matroska", "webm", "avi"})
_ANIMATION_CONTAINERS = frozenset({"gif", "webp"})
_SNIFF_BYTES = 64


@dataclass(frozen=True, slots=True)
class HashOptions:
    dihedral: bool = False
    regions: bool = False
    limits: MediaLimits = DEFAULT_LIMITS
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS
    frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files named, plus media files found recursively in folders named, in a stable order."""
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(str(raw))
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(name for name in dirs if not name.startswith("."))
            for name in sorted(files):
                suffix = Path(name).suffix.lower()
                if not name.startswith(".") and (suffix in MEDIA_SUFFIXES or not suffix):
                    found.append(os.path.join(folder, name))
    return found


def hash_path(path: str, options: HashOptions = HashOptions()) -> dict[str, Any]:
    """The record of one file: its signals, or the error that stopped it.

    Videos (recognised by their first bytes, whatever the name) get a video record; an animated
    GIF or WebP gets the image record plus ``vpdq`` and ``duration`` (omitted when its later
    frames cannot be decoded: the first frame's record still stands).
    """
    container = _sniff(path)
    try:
        if container in _VIDEO_CONTAINERS:
            video = compute_video_signals(
                path, options.video_limits, interval_s=options.frame_interval_s
            )
            return video_record(path, video)
        data = read_source(path, options.limits.max_bytes)
        signals = compute_image_signals(
            data, options.limits, dihedral=options.dihedral, regions=options.regions
        )
    except MediaError as error:
        return error_record(path, error)
    record = signals_record(path, signals)
    if container in _ANIMATION_CONTAINERS:
        try:
            animation = compute_video_signals(
                data, options.video_limits, interval_s=options.frame_interval_s
            )
        except MediaError:
            return record
        if len(animation.vpdq.frames) > 1:
            record["duration"] = animation.duration
            record["vpdq"] = animation.vpdq.frames_json()
    return record


def _sniff(path: str) -> str | None:
    """The video container named by a file's first bytes; unreadable files are left to
    ``read_source``, which names the problem."""
    try:
        with open(path, "rb") as handle:
            return sniff_video_format(handle.read(_SNIFF_BYTES))
    except OSError:
        return None


def hash_paths(
    paths: list[str], options: HashOptions = HashOptions(), workers: int | None = None
) -> Iterator[dict[str, Any]]:
    """Records for ``paths``, in order; several files use a process per core."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(paths) < 4:
        for path in paths:
            yield hash_path(path, options)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_hash_with, [(path, options) for path in paths], chunksize=4)


def _hash_with(job: tuple[str, HashOptions]) -> dict[str, Any]:
    return hash_path(*job)
