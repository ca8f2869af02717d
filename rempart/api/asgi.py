"""Entry point for uvicorn workers: ``uvicorn --factory rempart.api.asgi:app_from_env``."""

from __future__ import annotations

from fastapi import FastAPI

from rempart.api.app import create_app
from rempart.config import Settings
from rempart.logs import configure


def app_from_env() -> FastAPI:
    """An app configured from ``REMPART_*`` variables (each worker process builds its own)."""
    configure()
    return create_app(Settings())
