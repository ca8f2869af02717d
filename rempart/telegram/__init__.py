"""The Telegram moderation bot (``rempart bot``): docs/telegram.md."""

from rempart.telegram.app import backend_from_settings, endpoints_from_settings, run_bot
from rempart.telegram.backend import DirectBackend, Hit, MatchBackend, RemoteBackend
from rempart.telegram.handlers import Endpoints
from rempart.telegram.runner import ModerationBot

__all__ = [
    "DirectBackend",
    "Endpoints",
    "Hit",
    "MatchBackend",
    "ModerationBot",
    "RemoteBackend",
    "backend_from_settings",
    "endpoints_from_settings",
    "run_bot",
]
