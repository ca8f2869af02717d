"""Running the bot: long polling (default) or a webhook, background outboxes, clean stop.

Updates are acknowledged only once they are processed. Long polling asks ``getUpdates`` for a
batch, processes it (concurrently, at most ``telegram_concurrency`` at once) and only then moves
the offset past it; the webhook answers Telegram after processing. A bot that dies mid-batch
therefore gets the batch again: what it had decided is found in the store (one action per item)
and what it had not is done now, so nothing is lost and nothing is done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.error import TelegramError

from rempart.config import Settings
from rempart.errors import RempartError
from rempart.telegram.backend import MatchBackend
from rempart.telegram.calls import call
from rempart.telegram.handlers import Endpoints, Handlers, build_application
from rempart.telegram.media import CLOUD_DOWNLOAD_LIMIT
from rempart.telegram.moderator import Moderator
from rempart.telegram.outbox import MessagePoster, SightingRecorder
from rempart.telegram.store import BotStore

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "my_chat_member",
]
COUNTER_FLUSH_SECONDS = 5.0
# Every RESUME_EVERY rounds, actions left unfinished for RESUME_AFTER_SECONDS are retried.
RESUME_EVERY = 12
RESUME_AFTER_SECONDS = 120.0
# How long a stopping bot keeps recording the sightings it owes before leaving them queued.
FINAL_DRAIN_SECONDS = 10.0
# After a failed getUpdates (network, Telegram 5xx), wait this long before asking again.
POLL_RETRY_SECONDS = 2.0


@dataclass
class ModerationBot:
    """Everything one bot process runs; ``run(stop)`` until ``stop`` is set."""

    settings: Settings
    backend: MatchBackend
    store: BotStore
    endpoints: Endpoints

    def __post_init__(self) -> None:
        token = self.settings.telegram_token
        if token is None:
            raise RempartError("the bot needs a token (REMPART_TELEGRAM_TOKEN)")
        self.application = build_application(
            token.get_secret_value(), self.endpoints, read_timeout=30.0
        )
        local = self.endpoints.local_mode
        self.moderator = Moderator(
            self.application.bot,
            self.backend,
            self.store,
            download_limit=(
                self.settings.max_upload_bytes
                if local
                else min(CLOUD_DOWNLOAD_LIMIT, self.settings.max_upload_bytes)
            ),
            ban_after=self.settings.telegram_ban_after,
        )
        Handlers(self.moderator, self.store, self.settings.telegram_case_url).register(
            self.application
        )
        self.poster = MessagePoster(
            self.application.bot,
            self.store,
            self.moderator.outbox_ready,
            self.settings.telegram_messages_per_minute,
        )
        self.recorder = SightingRecorder(self.backend, self.store, self.moderator.sightings_ready)
        self._slots = asyncio.Semaphore(self.settings.telegram_concurrency)
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; the current batch is finished and acknowledged first."""
        async with self.application:
            await self.moderator.resume()
            background = [
                asyncio.create_task(self.poster.run(stop), name="rempart-outbox"),
                asyncio.create_task(self.recorder.run(stop), name="rempart-sightings"),
                asyncio.create_task(self._maintain(stop), name="rempart-maintenance"),
            ]
            try:
                if self.settings.telegram_webhook_url:
                    await self._serve_webhook(stop)
                else:
                    await self._poll(stop)
            finally:
                stop.set()
                await asyncio.gather(*background, return_exceptions=True)
                await self.moderator.flush_counters()
                # Hand the service what is owed now; what it cannot take stays queued.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.recorder.record_pending(), FINAL_DRAIN_SECONDS)
        log.info("bot stopped", extra={"updates": self.processed})

    async def process(self, update: Update) -> None:
        """Process one update (bounded with the others); handler errors are logged, not raised."""
        async with self._slots:
            await self.application.process_update(update)
            self.processed += 1

    # -- long polling --------------------------------------------------------------------------

    async def _poll(self, stop: asyncio.Event) -> None:
        bot = self.application.bot
        # A webhook left by an earlier run would make getUpdates fail with 409.
        await call(lambda: bot.delete_webhook(drop_pending_updates=False))
        offset: int | None = None
        log.info("bot polling for updates")
        while not stop.is_set():
            fetch = asyncio.ensure_future(
                bot.get_updates(
                    offset=offset,
                    timeout=self.settings.telegram_poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                )
            )
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([fetch, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetch.done():
                # Stopped during a long poll: its updates (if any) were not acknowledged.
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, TelegramError):
                    await fetch
                break
            try:
                updates = fetch.result()
            except TelegramError as exc:
                log.warning("getUpdates failed; retrying", extra={"error": type(exc).__name__})
                await _sleep_unless(stop, POLL_RETRY_SECONDS)
                continue
            if not updates:
                continue
            await asyncio.gather(*(self.process(update) for update in updates))
            offset = updates[-1].update_id + 1
        if offset is not None:
            # Acknowledge the last batch before leaving, so the next start does not redo it.
            with contextlib.suppress(TelegramError):
                await bot.get_updates(offset=offset, timeout=0, limit=1)

    # -- webhook -------------------------------------------------------------------------------

    async def _serve_webhook(self, stop: asyncio.Event) -> None:
        settings = self.settings
        secret = settings.telegram_webhook_secret
        if secret is None:
            raise RempartError("webhook mode needs REMPART_TELEGRAM_WEBHOOK_SECRET")
        expected = secret.get_secret_value()
        bot = self.application.bot

        async def receive(request: Request) -> Response:
            if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != expected:
                return Response(status_code=403)
            try:
                update = Update.de_json(await request.json(), bot)
            except ValueError:
                return Response(status_code=400)
            await self.process(update)
            return Response(status_code=200)

        app = Starlette(routes=[Route("/telegram", receive, methods=["POST"])])
        server = _WebhookServer(
            uvicorn.Config(
                app,
                host=settings.telegram_webhook_listen,
                port=settings.telegram_webhook_port,
                log_config=None,
                access_log=False,
            )
        )
        serving = asyncio.create_task(server.serve())
        await call(
            lambda: bot.set_webhook(
                url=settings.telegram_webhook_url or "",
                allowed_updates=ALLOWED_UPDATES,
                secret_token=expected,
                max_connections=settings.telegram_concurrency,
            )
        )
        log.info("bot receiving updates by webhook")
        await stop.wait()
        server.should_exit = True
        await serving

    async def _maintain(self, stop: asyncio.Event) -> None:
        """Flush the counters; now and then, finish actions that Telegram kept us from
        finishing (flood control or network beyond the retries)."""
        rounds = 0
        while not await _sleep_unless(stop, COUNTER_FLUSH_SECONDS):
            rounds += 1
            try:
                await self.moderator.flush_counters()
                if rounds % RESUME_EVERY == 0:
                    await self.moderator.resume(older_than=RESUME_AFTER_SECONDS)
            except Exception:  # the next round retries
                log.exception("maintenance round failed")


class _WebhookServer(uvicorn.Server):
    """Uvicorn without its signal handlers: SIGTERM is the bot's (``run_until_signalled``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when ``stop`` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def run_until_signalled(bot: ModerationBot) -> None:
    """Run ``bot`` until SIGTERM or SIGINT, then stop cleanly (current batch finished)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await bot.run(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
