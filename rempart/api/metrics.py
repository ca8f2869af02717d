"""Prometheus metrics and one structured log line per request (no bodies, hashes or PINs).

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``rempart serve``) makes
every worker write its samples there and ``/metrics`` aggregates them.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("rempart.access")


def _worker() -> bytes:
    return str(os.getpid()).encode()


REQUESTS = Counter("rempart_requests", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "rempart_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MATCHES = Counter("rempart_matches", "Matches returned", ["match_type", "action"])
INDEX_SIZE = Gauge(
    "rempart_index_signals", "Signals in the in-memory index", ["type"], multiprocess_mode="max"
)
SYNC_SEQ = Gauge(
    "rempart_sync_applied_seq", "Last change-log sequence applied", multiprocess_mode="min"
)


def count_matches(results: list[list[Any]]) -> None:
    for found in results:
        for result in found:
            MATCHES.labels(result.match.match_type, result.match.action).inc()


def render() -> tuple[bytes, str]:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every request by its route template (not its raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Which worker answered: operators need it to debug a multi-worker deployment.
                message.setdefault("headers", []).append((b"x-rempart-worker", _worker()))
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            elapsed = time.perf_counter() - started
            route: Any = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(template).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )
