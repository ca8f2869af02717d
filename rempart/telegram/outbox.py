"""Draining the bot's two outboxes: messages to post and sightings to record.

Messages (log entries, warnings, notices) are posted at most ``messages_per_minute`` times a
minute into each chat (Telegram accepts about 20 in a group). Whatever is pending for one chat
when its turn comes is grouped into one message (up to Telegram's 4096 characters), so a raid
of many matches yields fewer, longer messages: entries are grouped, never dropped.

Sightings are recorded with the service; a transient failure is retried later, a withdrawn case
(``NotFound``) ends the attempt. Both outboxes live in the store: a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from rempart.errors import RempartError
from rempart.telegram.backend import Evidence, MatchBackend, TransientBackendError
from rempart.telegram.calls import call, retry_after_seconds
from rempart.telegram.i18n import text
from rempart.telegram.moderator import SIGHTING_ACTIONS
from rempart.telegram.store import BotStore, PendingMessage

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096
# Entries read per turn of one chat; more stay queued for its next turn.
BATCH = 40
# Wait after a failure that says nothing about when to retry (seconds).
RETRY_LATER = 5.0
# The first line of a log entry, per outcome of its action.
_HEADERS = {
    "deleted": "log_header_removed",
    "gone": "log_header_gone",
    "manual": "log_header_manual",
    "no_rights": "log_header_no_rights",
    "flagged": "log_header_review",
    "too_large": "log_header_unchecked",
}


class MessagePoster:
    """Posts queued messages, grouped and paced per destination chat."""

    def __init__(self, bot: Bot, store: BotStore, wake: asyncio.Event, per_minute: int) -> None:
        self.bot = bot
        self.store = store
        self.wake = wake
        self.interval = 60.0 / per_minute
        self._next: dict[int, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                delay = await self.post_due()
            except Exception:  # a database hiccup must not end the poster
                log.exception("message outbox failed; retrying")
                delay = RETRY_LATER
            self.wake.clear()
            await _wait_any(stop, self.wake, delay)

    async def post_due(self) -> float:
        """Post one grouped message to every chat whose turn has come; returns the seconds
        until the next chat's turn (long when nothing is queued)."""
        destinations = await asyncio.to_thread(self.store.outbox_destinations)
        soonest = 60.0
        for chat_id in destinations:
            wait = self._next.get(chat_id, 0.0) - time.monotonic()
            if wait > 0:
                soonest = min(soonest, wait)
                continue
            await self._post(chat_id)
            soonest = min(soonest, self.interval)
        return soonest

    async def _post(self, chat_id: int) -> None:
        pending = await asyncio.to_thread(self.store.pending_messages, chat_id, BATCH)
        body, used = render_group(pending)
        if not used:
            return
        # The pace is counted from the end of each send: Telegram counts arrivals, and a send
        # that was slow to arrive must not let the next one follow it early. One try per turn,
        # so a retry waits its turn too.
        wait = self.interval
        outcome: str | None = "sent"  # None: still queued, posted on a later turn
        try:
            await call(lambda: self.bot.send_message(chat_id, body), attempts=1)
        except RetryAfter as exc:
            wait, outcome = max(self.interval, retry_after_seconds(exc)), None
        except (BadRequest, Forbidden) as exc:
            # The log channel is gone or the bot may not post there: say so, keep the rest.
            log.warning("messages refused by their chat", extra={"error": type(exc).__name__})
            outcome = "failed"
        except TelegramError as exc:
            log.warning("messages not posted yet", extra={"error": type(exc).__name__})
            wait, outcome = max(self.interval, RETRY_LATER), None
        self._next[chat_id] = time.monotonic() + wait
        if outcome is not None:
            await asyncio.to_thread(self.store.messages_done, used, outcome)


class SightingRecorder:
    """Hands the evidence records the bot owes to the service."""

    def __init__(self, backend: MatchBackend, store: BotStore, wake: asyncio.Event) -> None:
        self.backend = backend
        self.store = store
        self.wake = wake

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                delay = await self.record_pending()
            except Exception:  # a database hiccup must not end the recorder
                log.exception("sighting outbox failed; retrying")
                delay = RETRY_LATER
            self.wake.clear()
            await _wait_any(stop, self.wake, delay)

    async def record_pending(self) -> float:
        """Record what is pending; returns the seconds to wait before the next round."""
        while True:
            pending = await asyncio.to_thread(self.store.pending_sightings)
            if not pending:
                return 60.0
            for owed in pending:
                evidence = Evidence(
                    token=owed.token,
                    signal_id=owed.signal_id,
                    match_type=owed.match_type,
                    distance=owed.distance,
                    location=owed.location,
                    action=SIGHTING_ACTIONS.get(owed.outcome, owed.outcome),
                    seen_at=owed.seen_at,
                    uploader=owed.uploader,
                )
                try:
                    await asyncio.to_thread(self.backend.record_sighting, evidence)
                except TransientBackendError as exc:
                    await asyncio.to_thread(self.store.sighting_retry, owed.id, _name(exc))
                    return RETRY_LATER
                except RempartError as exc:  # withdrawn case, expired token: nothing to retry
                    log.warning("sighting not recorded", extra={"error": _name(exc)})
                    await asyncio.to_thread(self.store.sighting_done, owed.id, _name(exc))
                    continue
                await asyncio.to_thread(self.store.sighting_done, owed.id)


def render_group(pending: list[PendingMessage]) -> tuple[str, list[int]]:
    """One message holding as many queued entries as fit; returns it and the ids it holds."""
    if not pending:
        return "", []
    rendered = [(entry.id, render(entry)) for entry in pending]
    if len(rendered) == 1:
        return rendered[0][1][:MESSAGE_LIMIT], [rendered[0][0]]
    language = pending[0].language
    # Reserve room for the header, whose count is known only at the end.
    room = MESSAGE_LIMIT - len(text(language, "log_grouped", count=len(rendered))) - 2
    parts: list[str] = []
    used: list[int] = []
    for entry_id, body in rendered:
        needed = len(body) + (2 if parts else 0)
        if parts and needed > room:
            break
        parts.append(body[: room - 2])
        used.append(entry_id)
        room -= needed
    if len(parts) == 1:
        return parts[0], used
    return text(language, "log_grouped", count=len(parts)) + "\n\n" + "\n\n".join(parts), used


def render(entry: PendingMessage) -> str:
    """The text of one queued entry in its language (plain text: names are not markup)."""
    language, payload = entry.language, entry.payload
    if entry.kind == "notice":
        return text(language, str(payload["key"]))
    if entry.kind == "warning":
        user = _user(language, payload)
        if payload.get("banned"):
            return text(language, "banned_entry", user=user)
        if payload.get("limit"):
            return text(
                language,
                "warning_strike",
                user=user,
                strike=payload["strike"],
                limit=payload["limit"],
            )
        return text(language, "warning_entry", user=user)
    return _evidence_text(language, payload)


def _evidence_text(language: str, payload: dict[str, object]) -> str:
    outcome = str(payload["outcome"])
    header = _HEADERS[outcome]
    seen = datetime.fromisoformat(str(payload["time"]))
    lines = [
        text(language, header),
        text(language, "log_time", time=seen.strftime("%Y-%m-%d %H:%M:%S")),
        text(language, "log_chat", chat=f"{payload['chat_title']} ({payload['chat_id']})"),
        text(language, "log_message", link=payload["link"]),
        text(language, "log_uploader", uploader=_user(language, payload)),
    ]
    if outcome == "too_large":
        lines.append(text(language, "log_reason_too_large", limit=payload["limit_mb"]))
    else:
        lines.append(
            text(
                language,
                "log_match",
                match_type=text(language, f"match_{payload['match_type']}"),
                bank=payload["bank"],
                distance=payload["distance"],
            )
        )
    if payload.get("moderation") == "banned":
        lines.append(text(language, "log_action_banned"))
    elif payload.get("moderation") == "warned":
        lines.append(text(language, "log_action_warned", strike=payload.get("strike")))
    return "\n".join(lines)


def _user(language: str, payload: dict[str, object]) -> str:
    user_id = payload.get("user_id")
    if user_id is None:
        return text(language, "uploader_unknown")
    username = payload.get("username")
    return f"{user_id} (@{username})" if username else str(user_id)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _name(exc: BaseException) -> str:
    return type(exc).__name__
