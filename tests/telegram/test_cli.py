"""`rempart bot` as an operator runs it: a process that needs its token, serves a local Bot
API server, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli import app
from rempart.config import Settings
from rempart.service import Service
from tests.telegram.conftest import protect
from tests.telegram.fake_api import TOKEN, FakeTelegram
from tests.telegram.images import jpeg, load


def test_without_a_token_it_says_what_to_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bot"], env={"REMPART_DATA_DIR": str(tmp_path), "REMPART_TELEGRAM_TOKEN": ""}
    )
    assert result.exit_code == 3
    assert "REMPART_TELEGRAM_TOKEN" in result.output


@pytest.mark.anyio
async def test_sigterm_stops_the_bot_after_it_acted(tmp_path: Path, photos: list[Path]) -> None:
    data_dir = tmp_path / "data"
    service = Service(Settings(data_dir=data_dir))
    service.start(background=False)
    protected = jpeg(load(photos[0]))
    protect(service, protected)
    service.stop()

    fake = FakeTelegram(local_mode=True, files_dir=tmp_path / "bot-api")
    async with fake.running():
        group = fake.add_chat()
        posted = fake.send_photo(group, fake.add_user("member"), protected)
        env = {
            **os.environ,
            "REMPART_DATA_DIR": str(data_dir),
            "REMPART_TELEGRAM_TOKEN": TOKEN,
            "REMPART_TELEGRAM_API_URL": fake.root,
            "REMPART_TELEGRAM_POLL_TIMEOUT": "5",
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rempart", "bot", env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            await fake.wait_acknowledged(timeout=60)
            bot.send_signal(signal.SIGTERM)
            _, logs = await asyncio.wait_for(bot.communicate(), 30)
        finally:
            if bot.returncode is None:
                bot.kill()
    assert bot.returncode == 0, logs.decode()[-2000:]
    assert fake.is_deleted(posted)
    assert b'"bot stopped"' in logs
    # The log says what happened by update id, never what the message held.
    assert b"member" not in logs and TOKEN.encode() not in logs
