"""Webhook mode: Telegram posts updates to the bot, which answers only once it has acted."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.telegram.conftest import World, changed, running_bot
from tests.telegram.fake_api import FakeTelegram

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_updates_posted_to_the_webhook_are_acted_on(world: World, fake: FakeTelegram) -> None:
    port = free_port()
    settings = changed(
        world.settings,
        telegram_webhook_url=f"http://127.0.0.1:{port}/telegram",
        telegram_webhook_port=port,
        telegram_webhook_secret="webhook-secret",
    )
    group = fake.add_chat()
    member = fake.add_user("member")
    async with running_bot(fake, settings, world.backend, world.service.db):
        await fake.wait_for(lambda: fake.webhook is not None)
        assert fake.webhook is not None
        assert fake.webhook["secret_token"] == "webhook-secret"
        posted = fake.send_photo(group, member, world.protected)
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                fake.webhook["url"],
                json=fake.pending_updates()[0],
                headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
            )
        assert forged.status_code == 403
        assert not fake.is_deleted(posted)
        await fake.push_webhook()
        # The webhook answered after acting, so the deletion is already done.
        assert fake.is_deleted(posted)
        assert not fake.pending_updates()
