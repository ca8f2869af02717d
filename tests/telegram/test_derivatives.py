"""A derivative of a protected photo (regen50: its lower-middle half replaced by another photo's
pixels, as a "nudified" fake keeps the face and background) is removed like the photo itself.

Whole-image PDQ drifts 60-100 bits on such an edit: the regional signatures catch it (the case
holds the photo's reference regions, the upload is checked with its query regions).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.telegram.conftest import World, running_bot
from tests.telegram.fake_api import FakeTelegram
from tests.telegram.images import load, regen50

pytestmark = pytest.mark.anyio


async def test_a_regen50_derivative_is_deleted_and_logged(
    world: World, fake: FakeTelegram, photos: list[Path]
) -> None:
    # The donor is a photo outside the bank, so it cannot cause the match.
    derivative = regen50(load(photos[0]), load(photos[-1]))
    group = fake.add_chat(username="derived")
    log_channel = fake.add_chat("channel", "Log")
    owner, member = fake.add_user("owner"), fake.add_user("member")
    fake.set_member(group, owner, "owner")
    fake.set_member(log_channel, owner, "owner")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, owner, f"/rempart_logchannel {log_channel.id}")
        await fake.wait_acknowledged()
        posted = fake.send_photo(group, member, derivative)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: bool(fake.sent_to(log_channel)))

    assert fake.is_deleted(posted)
    [entry] = fake.sent_to(log_channel)
    assert "Match: derivative (altered copy), bank cases" in entry
    assert f"https://t.me/derived/{posted['message_id']}" in entry
    [sighting] = world.sightings()
    assert (sighting.match_type, sighting.action) == ("derivative", "removed")
