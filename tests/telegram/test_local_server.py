"""With a local Bot API server (REMPART_TELEGRAM_API_URL), files come from disk, up to the
service's upload limit instead of the cloud's 20 MB."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.telegram import endpoints_from_settings
from tests.telegram.conftest import World, changed, running_bot
from tests.telegram.fake_api import FakeTelegram

pytestmark = pytest.mark.anyio


async def test_a_large_document_is_read_from_disk_and_checked(world: World, tmp_path: Path) -> None:
    fake = FakeTelegram(local_mode=True, files_dir=tmp_path / "bot-api")
    async with fake.running():
        settings = changed(world.settings, telegram_api_url=fake.root + "/")
        endpoints = endpoints_from_settings(settings)
        assert endpoints.local_mode
        group = fake.add_chat()
        member = fake.add_user("member")
        # The protected JPEG with 21 MB of trailing bytes: decoders stop at the image's end.
        padded = world.protected + bytes(21 * 1024 * 1024)
        async with running_bot(fake, settings, world.backend, world.service.db, endpoints):
            posted = fake.send_document(group, member, padded, file_name="big.jpg")
            await fake.wait_acknowledged()

    assert fake.calls("getFile")
    assert fake.downloads == 0  # read from the path getFile gave, not over HTTP
    assert fake.is_deleted(posted)
