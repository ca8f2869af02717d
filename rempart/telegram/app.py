"""Assembling the bot from settings: which backend, which store, which Bot API endpoints."""

from __future__ import annotations

import asyncio
import logging
import os

from telegram.error import InvalidToken

from rempart.config import Settings
from rempart.errors import RempartError
from rempart.service import Service
from rempart.store import Database, is_current, upgrade
from rempart.telegram.backend import DirectBackend, MatchBackend, RemoteBackend
from rempart.telegram.handlers import Endpoints
from rempart.telegram.runner import ModerationBot, run_until_signalled
from rempart.telegram.store import BotStore

log = logging.getLogger(__name__)


def endpoints_from_settings(settings: Settings) -> Endpoints:
    """Telegram's cloud, or the local Bot API server at ``REMPART_TELEGRAM_API_URL``."""
    if settings.telegram_api_url:
        return Endpoints.local_server(settings.telegram_api_url)
    return Endpoints()


def backend_from_settings(settings: Settings) -> tuple[MatchBackend, Database]:
    """Remote when ``REMPART_API_URL`` is set (with ``REMPART_API_KEY``), else direct.

    Returns the backend and the database that holds the bot's own tables: the service's store
    in direct mode; in remote mode the database at ``REMPART_DATABASE_URL`` (a SQLite file in
    the data directory by default), which need not be the service's.
    """
    if settings.api_url:
        if settings.api_key is None:
            raise RempartError("REMPART_API_URL needs REMPART_API_KEY (an API key with 'match')")
        database = Database(settings)
        if settings.is_sqlite:
            upgrade(settings)
        elif not is_current(database.engine, settings):
            raise RempartError("the database schema is not current: run `rempart db upgrade`")
        return RemoteBackend(settings.api_url, settings.api_key.get_secret_value()), database
    service = Service(with_bot_defaults(settings))
    return DirectBackend(service), service.db


def with_bot_defaults(settings: Settings) -> Settings:
    """The bot's defaults where the operator set nothing: photos hashed on every core (one
    process holds every update, and PDQ holds the GIL)."""
    if "hash_workers" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"hash_workers": os.cpu_count() or 1})


def run_bot(settings: Settings) -> None:
    """Run the bot in the foreground until SIGTERM or SIGINT."""
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value():
        raise RempartError("set REMPART_TELEGRAM_TOKEN to the token @BotFather gave you")
    backend, database = backend_from_settings(settings)
    backend.start()
    try:
        bot = ModerationBot(
            settings, backend, BotStore(database), endpoints_from_settings(settings)
        )
        asyncio.run(run_until_signalled(bot))
    except InvalidToken as exc:
        raise RempartError("Telegram refused the token in REMPART_TELEGRAM_TOKEN") from exc
    finally:
        backend.stop()
        if settings.api_url:
            database.dispose()
