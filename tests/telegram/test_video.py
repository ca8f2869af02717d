"""Videos and animations go through the same entry point as photos and match by vPDQ."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.telegram.conftest import World, running_bot
from tests.telegram.fake_api import FakeTelegram
from tests.videos import scenes, write_video

pytestmark = pytest.mark.anyio


async def test_a_protected_video_reposted_as_an_animation_is_deleted(
    world: World, fake: FakeTelegram, photos: list[Path], tmp_path: Path
) -> None:
    original = write_video(tmp_path / "original.mp4", scenes(photos[20:23], seconds_each=2))
    case_id, pin = world.service.create_case(
        world.service.fingerprint(original.read_bytes()).signals
    )
    # Re-encoded at another bit rate: other bytes, the same pictures.
    repost = write_video(
        tmp_path / "repost.mp4", scenes(photos[20:23], seconds_each=2), bit_rate=150_000
    )
    other = write_video(tmp_path / "other.mp4", scenes(photos[40:43], seconds_each=2))
    group = fake.add_chat()
    member = fake.add_user("member")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        animation = fake.send_video(group, member, repost.read_bytes(), animation=True)
        video = fake.send_video(group, member, other.read_bytes())
        await fake.wait_acknowledged()

    assert fake.is_deleted(animation) and not fake.is_deleted(video)
    [sighting] = world.service.case_view(case_id, pin).sightings
    assert (sighting.match_type, sighting.action) == ("video", "removed")
