"""``rempart bot``: the Telegram moderation bot in the foreground (docs/telegram.md)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from rempart import logs
from rempart.cli.terminal import ExitCode, fail
from rempart.config import Settings
from rempart.errors import RempartError


def bot_command(
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error (JSON lines on stderr).")
    ] = "info",
) -> None:
    """Run the Telegram moderation bot until SIGTERM or Ctrl-C.

    Needs REMPART_TELEGRAM_TOKEN. Matches with the store at REMPART_DATABASE_URL (direct), or
    through the service at REMPART_API_URL with REMPART_API_KEY (remote). Long-polls by
    default; REMPART_TELEGRAM_WEBHOOK_URL switches to a webhook. Exits 3 when the token, the
    database or the service is unusable.
    """
    from rempart.telegram import run_bot

    logs.configure(log_level, access_log=False)
    # python-telegram-bot's debug logs show updates, and request URLs carry the token.
    logging.getLogger("telegram").setLevel(max(logging.WARNING, logging.getLogger().level))
    settings = Settings()
    try:
        run_bot(settings)
    except RempartError as exc:
        fail(exc.message, ExitCode.DEPENDENCY)
