"""The bot end to end: python-telegram-bot against the fake Bot API server, direct mode."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import pytest
from sqlalchemy import select

from rempart.store.models import TelegramStrike
from rempart.telegram import Endpoints, ModerationBot
from tests.telegram.conftest import World, changed, protect, running_bot
from tests.telegram.fake_api import FakeTelegram

pytestmark = [
    pytest.mark.anyio,
    # python-telegram-bot's own RetryAfter warns about its future type when built.
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]


async def test_a_protected_photo_is_deleted_and_logged(world: World, fake: FakeTelegram) -> None:
    group = fake.add_chat("supergroup", "Neighbours", username="neighbours")
    log_channel = fake.add_chat("channel", "Moderation log")
    admin = fake.add_user("admin")
    uploader = fake.add_user("uploader")
    fake.set_member(group, admin, "admin")
    fake.set_member(log_channel, admin, "admin")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, admin, f"/rempart_logchannel {log_channel.id}")
        await fake.wait_acknowledged()
        posted = fake.send_photo(group, uploader, world.protected)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: len(fake.sent_to(log_channel)) == 1)

    assert fake.is_deleted(posted)
    entry = fake.sent_to(log_channel)[0]
    link = f"https://t.me/neighbours/{posted['message_id']}"
    assert "Protected image removed" in entry
    assert link in entry
    assert f"{uploader.id} (@uploader)" in entry
    assert "Match: near, bank cases, distance" in entry
    [sighting] = world.sightings()
    assert (sighting.platform, sighting.location, sighting.action) == ("telegram", link, "removed")
    assert sighting.match_type == "near"


async def test_an_unrelated_photo_stays_and_is_counted(world: World, fake: FakeTelegram) -> None:
    group = fake.add_chat()
    admin, member = fake.add_user("admin"), fake.add_user("member")
    fake.set_member(group, admin, "admin")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        posted = fake.send_photo(group, member, world.unrelated)
        await fake.wait_acknowledged()
        fake.send_command(group, admin, "/rempart_status")
        await fake.wait_acknowledged()

    assert not fake.is_deleted(posted)
    assert not fake.calls("deleteMessage")
    assert world.sightings() == []
    [status] = fake.sent_to(group)
    assert "rempart is on in this chat." in status
    assert "Images checked: 1\nRemoved: 0" in status


async def test_an_album_loses_only_its_protected_item(world: World, fake: FakeTelegram) -> None:
    group = fake.add_chat()
    member = fake.add_user("member")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        album = fake.send_album(group, member, [world.unrelated, world.protected, world.unrelated])
        await fake.wait_acknowledged()

    assert [fake.is_deleted(item) for item in album] == [False, True, False]
    assert len(world.sightings()) == 1


async def test_an_edit_that_swaps_in_a_protected_photo(world: World, fake: FakeTelegram) -> None:
    group = fake.add_chat(username="swaps")
    log_channel = fake.add_chat("channel", "Log")
    admin, member = fake.add_user("admin"), fake.add_user("member")
    fake.set_member(group, admin, "admin")
    fake.set_member(log_channel, admin, "owner")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, admin, f"/rempart_logchannel {log_channel.id}")
        recent = fake.send_photo(group, member, world.unrelated)
        old = fake.send_photo(group, member, world.unrelated)
        fake.backdate(old, 3 * 24 * 3600)
        await fake.wait_acknowledged()
        assert not fake.calls("deleteMessage")

        fake.edit_photo(recent, world.protected)
        fake.edit_photo(old, world.protected)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: "\n".join(fake.sent_to(log_channel)).count("Time (UTC)") == 2)

    assert fake.is_deleted(recent)
    # Older than 48 hours: a bot cannot delete it, so the log asks for a manual removal.
    assert not fake.is_deleted(old)
    assert [int(c["message_id"]) for c in fake.calls("deleteMessage")] == [recent["message_id"]]
    entries = "\n".join(fake.sent_to(log_channel))
    assert "NEEDS MANUAL REMOVAL" in entries
    assert f"https://t.me/swaps/{old['message_id']}" in entries
    actions = sorted(s.action for s in world.sightings())
    assert actions == ["needs_manual_removal", "removed"]


async def test_flood_control_on_delete_is_waited_out(world: World, fake: FakeTelegram) -> None:
    from tests.telegram.fake_api import too_many_requests

    group = fake.add_chat()
    member = fake.add_user("member")
    fake.fail_next("deleteMessage", too_many_requests(1))
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        posted = fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()

    assert fake.is_deleted(posted)
    assert len(fake.calls("deleteMessage")) == 2
    assert [s.action for s in world.sightings()] == ["removed"]


async def test_without_admin_rights_it_says_so_once_and_keeps_logging(
    world: World, fake: FakeTelegram
) -> None:
    group = fake.add_chat(bot_rights="member")
    log_channel = fake.add_chat("channel", "Log")
    owner, member = fake.add_user("owner"), fake.add_user("member")
    fake.set_member(group, owner, "owner")
    fake.set_member(log_channel, owner, "owner")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, owner, f"/rempart_logchannel {log_channel.id}")
        await fake.wait_acknowledged()
        first = fake.send_photo(group, member, world.protected)
        second = fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: "\n".join(fake.sent_to(log_channel)).count("NOT removed") == 2)
        await fake.wait_for(lambda: any("I need administrator" in t for t in fake.sent_to(group)))

    assert not fake.is_deleted(first) and not fake.is_deleted(second)
    assert not fake.calls("deleteMessage") and not fake.calls("banChatMember")
    notices = [t for t in fake.sent_to(group) if "I need administrator rights" in t]
    assert len(notices) == 1
    assert [s.action for s in world.sightings()] == ["not_removed_no_rights"] * 2


async def test_admin_commands_are_for_admins(world: World, fake: FakeTelegram) -> None:
    group = fake.add_chat()
    admin = fake.add_user("admin")
    member = fake.add_user("membre", language_code="fr")
    fake.set_member(group, admin, "admin")
    fake.set_member(group, member, "member")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, member, "/rempart_off")
        fake.send_command(group, member, "/rempart_policy delete_ban")
        await fake.wait_acknowledged()
        posted = fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()
        # The admin lets the member moderate; then the member may turn the bot off.
        fake.send_command(group, admin, f"/rempart_allow {member.id}")
        await fake.wait_acknowledged()
        fake.send_command(group, member, "/rempart_off")
        await fake.wait_acknowledged()
        later = fake.send_photo(group, admin, world.protected)
        await fake.wait_acknowledged()

    replies = fake.sent_to(group)
    refusal = (
        "Seuls les administrateurs de cette conversation, et les modérateurs qu'ils ont"
        " ajoutés avec /rempart_allow, peuvent utiliser les commandes rempart."
    )
    assert replies[:2] == [refusal, refusal]
    assert fake.is_deleted(posted)
    assert not fake.calls("banChatMember")
    assert replies[-1].startswith("rempart est désactivé")
    assert not fake.is_deleted(later)


async def test_delete_ban_warns_then_bans(world: World, fake: FakeTelegram) -> None:
    group = fake.add_chat()
    admin, member = fake.add_user("admin"), fake.add_user("member")
    fake.set_member(group, admin, "admin")
    fake.set_member(group, member, "member")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, admin, "/rempart_policy delete_ban")
        await fake.wait_acknowledged()
        fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: any("Strike 1 of 2" in t for t in fake.sent_to(group)))
        fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: any("was banned" in t for t in fake.sent_to(group)))

    assert [int(c["user_id"]) for c in fake.calls("banChatMember")] == [member.id]
    assert group.members[member.id]["status"] == "kicked"


async def test_a_channel_post_is_deleted(world: World, fake: FakeTelegram) -> None:
    channel = fake.add_chat("channel", "News", username="news")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        posted = fake.send_photo(channel, None, world.protected)
        await fake.wait_acknowledged()

    assert fake.is_deleted(posted)
    [sighting] = world.sightings()
    assert sighting.location == f"https://t.me/news/{posted['message_id']}"
    assert sighting.uploader is None


async def test_private_chat_explains_in_the_users_language(
    world: World, fake: FakeTelegram
) -> None:
    user = fake.add_user("akiko", language_code="ja")
    chat = fake.add_chat("private", "Akiko", bot_rights="member")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(chat, user, "/start")
        fake.send_photo(chat, user, world.protected)
        await fake.wait_acknowledged()

    start, refusal = fake.sent_to(chat)
    assert start.startswith("こんにちは")
    assert "rempart のモデレーションボットです。" in start
    assert "画像を私に送らないでください" in start
    assert refusal.startswith("ここに画像を送らないでください")
    # The image never left Telegram: not even its file was asked for.
    assert not fake.calls("getFile")


async def test_a_reposted_file_is_not_downloaded_again_until_a_bank_changes(
    world: World, fake: FakeTelegram
) -> None:
    group = fake.add_chat()
    member = fake.add_user("member")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        original = fake.send_photo(group, member, world.unrelated)
        await fake.wait_acknowledged()
        fake.forward(original, group, member)
        await fake.wait_acknowledged()
        assert len(fake.calls("getFile")) == 1

        # Once the unrelated photo is protected too, its earlier verdict no longer holds.
        protect(world.service, world.unrelated)
        repost = fake.forward(original, group, member)
        await fake.wait_acknowledged()

    assert len(fake.calls("getFile")) == 2
    assert fake.is_deleted(repost) and not fake.is_deleted(original)


async def test_duplicate_deliveries_act_once(world: World, fake: FakeTelegram) -> None:
    group = fake.add_chat()
    log_channel = fake.add_chat("channel", "Log")
    owner, member = fake.add_user("owner"), fake.add_user("member")
    fake.set_member(group, owner, "owner")
    fake.set_member(log_channel, owner, "owner")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, owner, "/rempart_policy delete_warn")
        fake.send_command(group, owner, f"/rempart_logchannel {log_channel.id}")
        await fake.wait_acknowledged()
        fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()
        fake.redeliver_all()  # Telegram sends every update again
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: bool(fake.sent_to(log_channel)))
        await fake.wait_for(lambda: any("was removed" in t for t in fake.sent_to(group)))

    assert len(fake.calls("deleteMessage")) == 1
    assert len(world.sightings()) == 1
    assert "\n".join(fake.sent_to(log_channel)).count("Time (UTC)") == 1
    assert sum("was removed" in t for t in fake.sent_to(group)) == 1


async def test_a_restart_mid_stream_loses_and_repeats_nothing(
    world: World, fake: FakeTelegram
) -> None:
    from tests.telegram.fake_api import too_many_requests

    group = fake.add_chat()
    log_channel = fake.add_chat("channel", "Log")
    owner, member = fake.add_user("owner"), fake.add_user("member")
    fake.set_member(group, owner, "owner")
    fake.set_member(log_channel, owner, "owner")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, owner, f"/rempart_logchannel {log_channel.id}")
        await fake.wait_acknowledged()
    stream = [world.protected if n % 2 else world.unrelated for n in range(8)]
    posted = [fake.send_photo(group, member, data) for data in stream]

    # The first bot dies (no clean stop) while it waits out flood control on a delete: some
    # items are decided, none acknowledged.
    fake.fail_next("deleteMessage", too_many_requests(60))
    first = asyncio.create_task(_serve(fake, world))
    await fake.wait_for(lambda: len(fake.calls("deleteMessage")) >= 1)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert fake.pending_updates(), "the dead bot acknowledged nothing"
    assert world.store().unfinished_actions(), "it died between a decision and its deletion"

    async with running_bot(fake, world.settings, world.backend, world.service.db):
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: "\n".join(fake.sent_to(log_channel)).count("Time (UTC)") == 4)

    protected = [message for n, message in enumerate(posted) if n % 2]
    assert all(fake.is_deleted(message) for message in protected)
    assert not any(fake.is_deleted(m) for n, m in enumerate(posted) if not n % 2)
    locations = sorted(s.location for s in world.sightings())
    assert locations == sorted(
        f"https://t.me/c/{-group.id - 10**12}/{m['message_id']}" for m in protected
    )
    assert "\n".join(fake.sent_to(log_channel)).count("Time (UTC)") == 4


async def _serve(fake: FakeTelegram, world: World) -> None:
    """A bot that runs until its task is cancelled: no clean stop, like a killed process."""
    bot = ModerationBot(
        world.settings,
        world.backend,
        world.store(),
        Endpoints(fake.base_url, fake.base_file_url),
    )
    await bot.run(asyncio.Event())


async def test_files_over_the_download_limit_are_logged_as_not_checked(
    world: World, fake: FakeTelegram
) -> None:
    group = fake.add_chat()
    log_channel = fake.add_chat("channel", "Log")
    owner, member = fake.add_user("owner"), fake.add_user("member")
    fake.set_member(group, owner, "owner")
    fake.set_member(log_channel, owner, "owner")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, owner, f"/rempart_logchannel {log_channel.id}")
        await fake.wait_acknowledged()
        fake.send_document(group, member, world.protected, file_size=25 * 1024 * 1024)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: bool(fake.sent_to(log_channel)))

    assert not fake.calls("getFile")
    [entry] = fake.sent_to(log_channel)
    assert entry.startswith("Image NOT checked")
    assert "over 20 MB" in entry


async def test_a_raid_is_logged_in_grouped_entries_at_telegrams_pace(
    world: World, fake: FakeTelegram
) -> None:
    settings = changed(world.settings, telegram_messages_per_minute=20)
    group = fake.add_chat()
    log_channel = fake.add_chat("channel", "Log")
    owner, raider = fake.add_user("owner"), fake.add_user("raider")
    fake.set_member(group, owner, "owner")
    fake.set_member(log_channel, owner, "owner")
    async with running_bot(fake, settings, world.backend, world.service.db):
        fake.send_command(group, owner, f"/rempart_logchannel {log_channel.id}")
        fake.send_command(group, owner, "/rempart_policy delete_warn")
        await fake.wait_acknowledged()
        raid = [fake.send_photo(group, raider, world.protected) for _ in range(12)]
        await fake.wait_acknowledged()
        await fake.wait_for(
            lambda: "\n".join(fake.sent_to(log_channel)).count("Time (UTC)") == 12, timeout=30
        )

    assert all(fake.is_deleted(message) for message in raid)
    # Twelve items decided at once by one uploader: every strike counted.
    with world.service.db.reading() as session:
        assert session.scalar(select(TelegramStrike.count)) == 12
    entries = fake.sent_to(log_channel)
    assert len(entries) < 12
    assert all(len(entry) <= 4096 for entry in entries)
    assert any(entry.splitlines()[0].endswith(" entries") for entry in entries)
    times = [
        at
        for at, params in zip(
            fake.call_times("sendMessage"), fake.calls("sendMessage"), strict=True
        )
        if int(params["chat_id"]) == log_channel.id
    ]
    # About 20 messages a minute into one chat: at least 3 s between two of them.
    assert all(later - earlier >= 2.9 for earlier, later in itertools.pairwise(times))


async def test_an_image_sent_as_a_document_with_a_wrong_type_is_caught(
    world: World, fake: FakeTelegram
) -> None:
    group = fake.add_chat()
    member = fake.add_user("member")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        disguised = fake.send_document(
            group, member, world.protected, mime_type="application/pdf", file_name="notes.pdf"
        )
        text_file = fake.send_document(
            group, member, b"just words\n", mime_type="text/plain", file_name="notes.txt"
        )
        await fake.wait_acknowledged()

    assert fake.is_deleted(disguised) and not fake.is_deleted(text_file)
    # A document keeps its bytes: the exact hashes match, not only PDQ.
    [sighting] = world.sightings()
    assert sighting.match_type == "exact"


async def test_a_log_channel_that_kicked_the_bot_does_not_stop_it(
    world: World, fake: FakeTelegram
) -> None:
    group = fake.add_chat()
    log_channel = fake.add_chat("channel", "Log")
    owner, member = fake.add_user("owner"), fake.add_user("member")
    fake.set_member(group, owner, "owner")
    fake.set_member(log_channel, owner, "owner")
    async with running_bot(fake, world.settings, world.backend, world.service.db):
        fake.send_command(group, owner, f"/rempart_logchannel {log_channel.id}")
        await fake.wait_acknowledged()
        fake.set_member(log_channel, fake.bot, "kicked")
        first = fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: bool(fake.calls("sendMessage")[1:]))
        second = fake.send_photo(group, member, world.protected)
        await fake.wait_acknowledged()
        await fake.wait_for(lambda: len(fake.sent_to(log_channel)) == 2)

    assert fake.is_deleted(first) and fake.is_deleted(second)
    # Each entry was tried once, refused with 403, and not retried forever.
    assert len(fake.sent_to(log_channel)) == 2
    assert len(world.sightings()) == 2
