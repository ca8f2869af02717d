"""The FastAPI application: ``create_app(settings)`` builds one, with its own service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rempart import __version__, web
from rempart.api import errors
from rempart.api.metrics import MetricsMiddleware
from rempart.api.ratelimit import RateLimiter
from rempart.api.routes import banks, cases, dashboard, match, ops, report, sightings, webhooks
from rempart.config import Settings
from rempart.service import Service

DESCRIPTION = """
rempart holds hash banks and victims' cases, and answers "does this match a protected image?"
for platforms. Images never reach it from victims: they hash on their own device and send only
hashes. Errors are `{"error": {"code", "message"}}`. See docs/api.md.
"""


def create_app(
    settings: Settings | None = None, service: Service | None = None, *, background: bool = True
) -> FastAPI:
    """An app whose lifespan starts (and stops) its service: migrations on SQLite, index load,
    change-log sync and webhook delivery threads."""
    settings = settings or Settings()
    service = service or Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start(background=background)
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="rempart",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.key_limits = RateLimiter(settings.rate_limit_per_key)
    app.state.case_limits = RateLimiter(settings.rate_limit_cases_per_ip)
    errors.install(app)
    app.add_middleware(MetricsMiddleware)
    for module in (cases, match, sightings, banks, webhooks, ops, report, dashboard):
        app.include_router(module.router)
    web.install(app)
    return app
