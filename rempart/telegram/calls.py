"""Calling the Bot API without letting its errors take the bot down.

Telegram answers 429 with ``retry_after`` (flood control): the call waits that long and tries
again. Timeouts and network errors are retried with a short backoff. 400 (bad request: message
not found, cannot be deleted, not enough rights) and 403 (kicked, blocked) are answers, not
accidents: they are never retried and the caller decides what they mean.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5
# Flood-control waits longer than this are not sat out inside one call: the error goes up.
MAX_RETRY_AFTER = 300.0
BACKOFF = (0.5, 1.0, 2.0, 4.0)


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # v22 warns that the attribute will become a timedelta: both are read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


async def call(operation: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run a Bot API call, waiting out flood control and retrying transient network errors.

    Raises ``BadRequest``, ``Forbidden`` and ``ChatMigrated`` at once; ``RetryAfter`` or
    ``NetworkError`` after ``attempts`` tries (or a flood wait over ``MAX_RETRY_AFTER``).
    """
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            return await operation()
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            if last or wait > MAX_RETRY_AFTER:
                raise
            log.info("flood control: retrying in %.0f s", wait)
            await asyncio.sleep(wait)
        except (BadRequest, Forbidden, ChatMigrated):
            raise
        except NetworkError:  # includes TimedOut
            if last:
                raise
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
    raise AssertionError("unreachable: the last attempt returns or raises")


def describes(exc: Exception, *fragments: str) -> bool:
    """Whether a Bot API error's description contains one of ``fragments`` (lower case).

    The Bot API tells 400 errors apart only by their description, e.g. "Bad Request: message
    to delete not found" or "Bad Request: message can't be deleted".
    """
    message = str(exc).lower()
    return any(fragment in message for fragment in fragments)
