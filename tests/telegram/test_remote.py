"""Remote mode: the bot matches and records through a rempart service's HTTP API (uvicorn on
127.0.0.1), keeping its own state in its own database; it behaves as in direct mode."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from rempart.api import create_app
from rempart.orgs import create_key, get_org
from rempart.service import OPERATOR_ORG, Service
from rempart.telegram import RemoteBackend, backend_from_settings
from tests.telegram.conftest import bot_settings, protect, running_bot
from tests.telegram.fake_api import FakeTelegram
from tests.telegram.images import jpeg, load

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def api_server(service: Service) -> AsyncIterator[str]:
    app = create_app(service.settings, service)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def test_remote_mode_deletes_logs_and_records_like_direct_mode(
    tmp_path: Path, photos: list[Path], fake: FakeTelegram
) -> None:
    service = Service(bot_settings(tmp_path / "service"))
    protected = jpeg(load(photos[0]))
    async with api_server(service) as url:
        case_id, pin = protect(service, protected)
        with service.db.transaction() as session:
            key = create_key(session, get_org(session, OPERATOR_ORG), ["match"])
        settings = bot_settings(tmp_path / "bot", api_url=url, api_key=key)
        backend, database = backend_from_settings(settings)
        assert isinstance(backend, RemoteBackend)
        await asyncio.to_thread(backend.start)
        group = fake.add_chat(username="remote_group")
        member = fake.add_user("member")
        try:
            async with running_bot(fake, settings, backend, database):
                kept = fake.send_photo(group, member, jpeg(load(photos[1])))
                removed = fake.send_photo(group, member, protected)
                await fake.wait_acknowledged()
                await fake.wait_for(lambda: bool(service.case_view(case_id, pin).sightings))
        finally:
            await asyncio.to_thread(backend.stop)
            database.dispose()

    assert fake.is_deleted(removed) and not fake.is_deleted(kept)
    [sighting] = service.case_view(case_id, pin).sightings
    assert sighting.location == f"https://t.me/remote_group/{removed['message_id']}"
    assert (sighting.platform, sighting.action) == ("telegram", "removed")
    # The bot's own tables live in its own database, not the service's.
    assert database.settings.sqlalchemy_url != service.settings.sqlalchemy_url
