"""Log entries: rendered from facts in the chat's language, grouped up to Telegram's limit,
posted at Telegram's pace."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from rempart.telegram.outbox import MESSAGE_LIMIT, MessagePoster, render, render_group
from rempart.telegram.store import PendingMessage


def evidence(entry_id: int, language: str = "en", title: str = "Group") -> PendingMessage:
    payload: dict[str, object] = {
        "outcome": "deleted",
        "time": "2026-11-25T21:00:00+00:00",
        "chat_title": title,
        "chat_id": -1001000000001,
        "link": f"https://t.me/c/1000000001/{entry_id}",
        "user_id": 42,
        "username": "uploader",
        "match_type": "derivative",
        "bank": "cases",
        "distance": 27,
        "moderation": "banned",
        "strike": 3,
        "limit_mb": 20,
    }
    return PendingMessage(entry_id, "evidence", payload, language)


def test_an_entry_names_time_chat_link_uploader_and_match() -> None:
    assert render(evidence(7)) == "\n".join(
        [
            "Protected image removed",
            "Time (UTC): 2026-11-25 21:00:00",
            "Chat: Group (-1001000000001)",
            "Message: https://t.me/c/1000000001/7",
            "Uploader: 42 (@uploader)",
            "Match: derivative (altered copy), bank cases, distance 27",
            "Uploader banned",
        ]
    )


def test_an_entry_is_rendered_in_its_language() -> None:
    assert render(evidence(7, "fr")).startswith("Image protégée supprimée\nHeure (UTC) :")


def test_many_entries_share_messages_within_the_limit() -> None:
    pending = [evidence(n, title="x" * 150) for n in range(40)]
    body, used = render_group(pending)
    assert len(body) <= MESSAGE_LIMIT
    assert 1 < len(used) < 40
    assert body.startswith(f"{len(used)} entries\n\n")
    assert used == list(range(len(used)))


def test_a_single_entry_has_no_header() -> None:
    body, used = render_group([evidence(1)])
    assert used == [1] and body.startswith("Protected image removed")


class SlowNetworkBot:
    """A bot whose messages take the given seconds to reach Telegram, which counts arrivals."""

    def __init__(self, transit: list[float]) -> None:
        self.transit = transit
        self.arrivals: list[float] = []

    async def send_message(self, chat_id: int, body: str) -> None:
        await asyncio.sleep(self.transit.pop(0) if self.transit else 0.0)
        self.arrivals.append(time.monotonic())


class QueuedEntries:
    """The outbox of one chat, holding ``count`` entries that arrive one per turn."""

    def __init__(self, count: int) -> None:
        self.left = [evidence(n) for n in range(count)]

    def outbox_destinations(self) -> list[int]:
        return [-100] if self.left else []

    def pending_messages(self, chat_id: int, limit: int) -> list[PendingMessage]:
        return self.left[:1]

    def messages_done(self, ids: list[int], status: str) -> None:
        self.left = [entry for entry in self.left if entry.id not in ids]


@pytest.mark.anyio
async def test_a_slow_send_does_not_let_the_next_one_arrive_early() -> None:
    store = QueuedEntries(3)
    bot = SlowNetworkBot([0.4, 0.0, 0.0])
    poster = MessagePoster(bot, store, asyncio.Event(), per_minute=120)  # type: ignore[arg-type]
    # New entries keep waking the poster (a raid): it looks for due chats far more often
    # than its pace allows.
    while store.left:
        await poster.post_due()
        await asyncio.sleep(0.01)
    assert len(bot.arrivals) == 3
    assert all(later - earlier >= 0.5 for earlier, later in itertools.pairwise(bot.arrivals))
