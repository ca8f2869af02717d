"""Token-bucket rate limits, per API key and per client IP, in each worker process.

Each worker keeps its own buckets, so with N workers a client gets up to N times the limit in
the worst case; PIN guessing is bounded separately and globally by the per-case lockout in the
store.
"""

from __future__ import annotations

import threading
import time

from rempart.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, per_minute // 6))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, what: str) -> None:
        """Take one token for ``key`` or raise ``RateLimited`` with the wait in seconds."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens < 1:
                wait = int((1 - tokens) / self.rate) + 1
                self._buckets[key] = (tokens, now)
                raise RateLimited(f"too many {what}; slow down and retry in {wait} s", wait)
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
