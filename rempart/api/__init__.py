"""The HTTP API (FastAPI): an adapter over ``rempart.service``."""

from rempart.api.app import create_app

__all__ = ["create_app"]
