"""A matching service with one protected photo, the fake Bot API server, and a running bot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rempart.config import Settings
from rempart.service import Service
from rempart.signals import compute_image_signals
from rempart.store import Database
from rempart.telegram import DirectBackend, Endpoints, MatchBackend, ModerationBot
from rempart.telegram.store import BotStore
from tests.telegram.fake_api import TOKEN, FakeTelegram
from tests.telegram.images import jpeg, load


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def bot_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "telegram_token": TOKEN,
        "telegram_poll_timeout": 5,
        # Tests do not wait out Telegram's pace, except the raid test, which sets its own.
        "telegram_messages_per_minute": 6000,
        "telegram_ban_after": 2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class World:
    """A started service whose cases bank protects ``protected`` (one shared photo)."""

    settings: Settings
    service: Service
    backend: DirectBackend
    protected: bytes
    unrelated: bytes
    case_id: str
    pin: str

    def sightings(self) -> list[object]:
        return list(self.service.case_view(self.case_id, self.pin).sightings)

    def store(self) -> BotStore:
        return BotStore(self.service.db)


def protect(service: Service, data: bytes) -> tuple[str, str]:
    """A victim's case for ``data``: the signals her device computes, with the regional
    signature where the service matches regions."""
    regions = service.engine.accepts("regions")
    return service.create_case(compute_image_signals(data, regions=regions).signals())


@pytest.fixture
def world(tmp_path: Path, photos: list[Path]) -> Iterator[World]:
    settings = bot_settings(tmp_path)
    service = Service(settings)
    backend = DirectBackend(service)
    backend.start()
    protected = jpeg(load(photos[0]))
    case_id, pin = protect(service, protected)
    try:
        yield World(settings, service, backend, protected, jpeg(load(photos[1])), case_id, pin)
    finally:
        backend.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram()
    async with telegram.running():
        yield telegram


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeTelegram,
    settings: Settings,
    backend: MatchBackend,
    database: Database,
    endpoints: Endpoints | None = None,
) -> AsyncIterator[ModerationBot]:
    """A bot serving ``fake`` until the block ends (then stopped cleanly)."""
    bot = ModerationBot(
        settings,
        backend,
        BotStore(database),
        endpoints or Endpoints(fake.base_url, fake.base_file_url),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run(stop))
    try:
        yield bot
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def changed(settings: Settings, **changes: object) -> Settings:
    """``settings`` with ``changes``, validated like settings read from the environment."""
    return Settings(**{**settings.model_dump(), **changes})
