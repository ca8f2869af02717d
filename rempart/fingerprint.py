"""Fingerprint uploaded bytes of any kind: a photo, an animation or a video.

The service and the Telegram bot receive bytes whose kind they do not know. Videos are
recognised by their first bytes and hashed in a child process that is killed past its deadline
(``rempart.isolation``); images are hashed in-process (Pillow's decoding is bounded by the pixel
limit). An animated GIF or WebP gets both its first frame's signals and a ``vpdq`` signature.
The bytes are never stored: callers drop them as soon as this returns.
"""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from rempart.errors import MediaError
from rempart.isolation import FORKSERVER, Isolated
from rempart.media import MediaLimits, VideoLimits, sniff_video_format
from rempart.signals import Signal, compute_image_signals, compute_video_signals
from rempart.signals.compute import ImageSignals, VideoSignals
from rempart.signals.regions import QueryImage

VIDEO_CONTAINERS = frozenset({"mp4", "mov", "3gp", "matroska", "webm", "avi"})
ANIMATION_CONTAINERS = frozenset({"gif", "webp"})
_SNIFF_BYTES = 64


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The signals of one piece of media and what it is (the pixels are gone).

    ``queries`` holds what to match, one per signal: a photo's query regions (derivative
    matching, with the pixels they re-hash) stand at the place of their regional signature.
    ``signals`` gives that signature itself, built only when asked for (some 300 regions as
    objects: the HTTP API returns them, the bot never needs them).
    """

    kind: str  # image | animation | video
    format: str
    width: int
    height: int
    queries: list[Signal | QueryImage]

    @property
    def signals(self) -> list[Signal]:
        return [
            query.signature if isinstance(query, QueryImage) else query for query in self.queries
        ]

    @property
    def query_regions(self) -> QueryImage | None:
        return next((query for query in self.queries if isinstance(query, QueryImage)), None)


class Fingerprinter:
    """Hashes bytes; at most ``video_concurrency`` videos decode at once per process.

    With ``image_workers`` > 0, photos are hashed in that many child processes: PDQ holds the
    GIL, so a single process (the Telegram bot) would otherwise use one core however many
    threads it runs. The service's uvicorn workers are processes already and hash in-process.
    """

    def __init__(
        self,
        image_limits: MediaLimits,
        video_limits: VideoLimits,
        *,
        regions: bool = False,
        video_concurrency: int = 2,
        image_workers: int = 0,
    ) -> None:
        self.image_limits = image_limits
        self.video_limits = video_limits
        self.regions = regions
        self._isolated = Isolated(video_concurrency)
        self._workers = image_workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    def fingerprint(self, data: bytes) -> Fingerprint:
        """Raises a ``MediaError`` subclass for anything that is not usable media."""
        container = sniff_video_format(data[:_SNIFF_BYTES])
        if container in VIDEO_CONTAINERS:
            video = self._video(data)
            return Fingerprint(
                "video", video.format, video.width, video.height, list(video.signals())
            )
        image = self._image(data)
        queries: list[Signal | QueryImage] = list(image.signals())
        if image.query_regions is not None:
            queries.append(image.query_regions)
        kind = "image"
        if container in ANIMATION_CONTAINERS and image.frame_count > 1:
            queries.append(self._video(data).vpdq)
            kind = "animation"
        return Fingerprint(kind, image.format, image.width, image.height, queries)

    def _image(self, data: bytes) -> ImageSignals:
        if not self._workers:
            return compute_image_signals(data, self.image_limits, query_regions=self.regions)
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self._workers, mp_context=FORKSERVER)
            pool = self._pool
        try:
            return pool.submit(
                compute_image_signals, data, self.image_limits, query_regions=self.regions
            ).result()
        except BrokenProcessPool as exc:
            with self._pool_lock:
                if self._pool is pool:
                    self._pool = None
            raise MediaError("the decoder process died on this file") from exc

    def _video(self, data: bytes) -> VideoSignals:
        # The child gets its own deadline plus a margin for process start and hand-over.
        return self._isolated.run(
            compute_video_signals,
            data,
            self.video_limits,
            timeout=self.video_limits.max_decode_s + 5,
        )
