"""The moderation pipeline for one media item: download, hash, match, decide, act, record.

Order of work, chosen so that nothing is lost or done twice when the bot stops at any point:

1. the verdict (cached by ``file_unique_id``; the bytes are hashed in memory and dropped);
2. the decision, in one transaction: the action row (unique per chat, message and file), the
   sightings it owes the service and the uploader's strike. A re-delivered update finds the row
   and stops here;
3. the Telegram side (delete, warn, ban), then in one transaction the outcome, the log entry and
   the warning to post, and the sightings released to the service;
4. outboxes drain in the background (``rempart.telegram.outbox``).

A bot that stopped between 2 and 3 finishes the job at its next start (``resume``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta

from telegram import Bot, ChatMember, ChatMemberAdministrator, ChatMemberOwner
from telegram.error import BadRequest, Forbidden, TelegramError

from rempart.errors import MediaError, TooLarge
from rempart.telegram.backend import MatchBackend, TransientBackendError, selected_hits
from rempart.telegram.calls import call, describes
from rempart.telegram.media import MediaItem, Post, now
from rempart.telegram.store import ActionView, BotStore, NewAction, OwedSighting
from rempart.telegram.verdicts import Verdict, VerdictCache

log = logging.getLogger(__name__)

# Telegram lets a bot delete a group message only within 48 hours of its sending; a minute of
# margin for clock skew between Telegram and this host.
DELETE_WINDOW = timedelta(hours=48) - timedelta(minutes=1)
# How long an answer of getChatMember is trusted (seconds).
MEMBER_CACHE_SECONDS = 60.0

# What the evidence record says was done, per outcome.
SIGHTING_ACTIONS = {
    "deleted": "removed",
    "gone": "removed",
    "manual": "needs_manual_removal",
    "no_rights": "not_removed_no_rights",
    "flagged": "flagged_for_review",
}


@dataclass(frozen=True, slots=True)
class Rights:
    """What the bot may do in a chat."""

    can_delete: bool
    can_restrict: bool


class Moderator:
    """Checks media items and acts on matches; one per bot process."""

    def __init__(
        self,
        bot: Bot,
        backend: MatchBackend,
        store: BotStore,
        *,
        download_limit: int,
        ban_after: int,
    ) -> None:
        self.bot = bot
        self.backend = backend
        self.store = store
        self.download_limit = download_limit
        self.ban_after = ban_after
        self.cache = VerdictCache()
        self.outbox_ready = asyncio.Event()
        self.sightings_ready = asyncio.Event()
        self._checked: Counter[int] = Counter()
        self._members: dict[tuple[int, int], tuple[ChatMember | None, float]] = {}
        self._member_locks: dict[tuple[int, int], asyncio.Lock] = {}

    # -- checking ----------------------------------------------------------------------------

    async def check(self, post: Post, item: MediaItem) -> str | None:
        """Check one media item; returns the outcome when there was something to act on."""
        settings = await asyncio.to_thread(self.store.chat, post.chat_id)
        if not settings.enabled:
            return None
        if item.size is not None and item.size > self.download_limit:
            return await self._too_large(post, item)
        try:
            version = await asyncio.to_thread(self.backend.bank_version)
            verdict = await self.cache.verdict(
                item.file_unique_id, version, lambda: self._compute(item)
            )
        except TooLarge:
            return await self._too_large(post, item)
        except (TelegramError, TransientBackendError) as exc:
            log.warning(
                "media not checked", extra={"update_id": post.update_id, "error": _name(exc)}
            )
            return None
        if not verdict.readable:
            if item.claims_media:
                log.info("media not readable", extra={"update_id": post.update_id})
            return None
        self._checked[post.chat_id] += 1
        if not verdict.hits:
            return None
        removing = [hit for hit in verdict.hits if hit.action == "remove"]
        acted_on = removing or list(verdict.hits)
        best = min(acted_on, key=lambda hit: hit.strength)
        new = replace(
            self._new_action(post, item, "remove" if removing else "review"),
            match_type=best.match_type,
            bank=best.bank,
            distance=best.distance,
        )
        moderation = (
            _moderation(settings.policy) if removing and post.chat_type != "channel" else "none"
        )
        owed = [OwedSighting(h.token, h.signal_id, h.match_type, h.distance) for h in acted_on]
        return await self._decide_and_act(post, new, owed, moderation)

    async def _compute(self, item: MediaItem) -> Verdict:
        """Download, hash and match one file; ``TooLarge`` over the download limit."""
        try:
            telegram_file = await call(lambda: self.bot.get_file(item.file_id))
        except BadRequest as exc:
            if describes(exc, "file is too big"):  # the cloud Bot API's 20 MB limit
                raise TooLarge("over the Bot API download limit") from exc
            raise
        if telegram_file.file_size is not None and telegram_file.file_size > self.download_limit:
            raise TooLarge("over the download limit")
        data = bytes(await call(telegram_file.download_as_bytearray))
        try:
            hits = await asyncio.to_thread(self.backend.match_media, data)
        except MediaError:
            return Verdict(readable=False)
        finally:
            del data
        return Verdict(tuple(selected_hits(hits)))

    async def _too_large(self, post: Post, item: MediaItem) -> str | None:
        if not item.claims_media:
            return None
        return await self._decide_and_act(
            post, self._new_action(post, item, "unchecked"), [], "none"
        )

    def _new_action(self, post: Post, item: MediaItem, verdict: str) -> NewAction:
        return NewAction(
            item_key=post.item_key(item),
            chat_id=post.chat_id,
            chat_type=post.chat_type,
            chat_title=post.chat_title,
            message_id=post.message_id,
            location=post.location,
            user_id=post.user_id,
            username=post.username,
            verdict=verdict,
            message_date=post.sent_at,
        )

    async def _decide_and_act(
        self, post: Post, new: NewAction, owed: list[OwedSighting], moderation: str
    ) -> str | None:
        action = await asyncio.to_thread(
            self.store.open_action, new, owed, moderation, self.ban_after
        )
        if action is None:
            log.info("item decided before; not acting twice", extra={"update_id": post.update_id})
            return None
        try:
            outcome = await self.carry_out(action)
        except TelegramError as exc:  # flood control or network beyond the retries
            log.warning(
                "action postponed", extra={"update_id": post.update_id, "error": _name(exc)}
            )
            return None
        log.info("media matched", extra={"update_id": post.update_id, "outcome": outcome})
        return outcome

    # -- acting --------------------------------------------------------------------------------

    async def carry_out(self, action: ActionView) -> str:
        """Delete, warn or ban as decided, then store the outcome and queue its messages."""
        settings = await asyncio.to_thread(self.store.chat, action.chat_id)
        moderation = "none"
        messages: list[tuple[int, str, dict[str, object], str]] = []
        if action.verdict == "unchecked":
            outcome = "too_large"
        elif action.verdict == "review":
            outcome = "flagged"
        else:
            outcome = await self._remove(action)
            if outcome in ("deleted", "gone") and action.moderation != "none":
                moderation = await self._moderate(action)
                if moderation in ("warned", "banned"):
                    messages.append(
                        (
                            action.chat_id,
                            "warning",
                            _warning(action, moderation, settings.policy, self.ban_after),
                            settings.language,
                        )
                    )
            if outcome == "no_rights" and await asyncio.to_thread(
                self.store.claim_rights_notice, action.chat_id
            ):
                log.warning("bot lacks admin rights in a chat; it keeps checking and logging")
                messages.append(
                    (action.chat_id, "notice", {"key": "rights_missing"}, settings.language)
                )
        if settings.log_chat_id is not None:
            messages.append(
                (
                    settings.log_chat_id,
                    "evidence",
                    _evidence(action, outcome, moderation, self.download_limit),
                    settings.language,
                )
            )
        await asyncio.to_thread(self.store.finish_action, action.id, outcome, moderation, messages)
        if messages:
            self.outbox_ready.set()
        self.sightings_ready.set()
        return outcome

    async def _remove(self, action: ActionView) -> str:
        if now() - action.message_date > DELETE_WINDOW:
            return "manual"
        rights = await self.rights(action.chat_id)
        if not rights.can_delete:
            return "no_rights"
        try:
            await call(lambda: self.bot.delete_message(action.chat_id, action.message_id))
        except BadRequest as exc:
            if describes(exc, "not found"):
                return "gone"
            if describes(exc, "not enough rights", "have no rights"):
                self.forget_member(action.chat_id, self.bot.id)
                return "no_rights"
            return "manual"  # "message can't be deleted": too old, or a kind bots cannot delete
        except Forbidden:
            self.forget_member(action.chat_id, self.bot.id)
            return "no_rights"
        return "deleted"

    async def _moderate(self, action: ActionView) -> str:
        if action.user_id is None:
            return "none"
        if action.moderation == "warn":
            return "warned"
        rights = await self.rights(action.chat_id)
        if not rights.can_restrict:
            return "warned"
        try:
            await call(lambda: self.bot.ban_chat_member(action.chat_id, action.user_id or 0))
        except (BadRequest, Forbidden) as exc:  # an admin or the owner cannot be banned
            log.info("uploader not banned", extra={"error": _name(exc)})
            return "warned"
        return "banned"

    async def resume(self, older_than: float = 0.0) -> int:
        """Carry out the actions decided ``older_than`` seconds ago or more but not finished (a
        stopped bot, or Telegram unreachable beyond the retries); returns how many."""
        unfinished = await asyncio.to_thread(self.store.unfinished_actions, older_than)
        for action in unfinished:
            try:
                await self.carry_out(action)
            except TelegramError as exc:
                log.warning("unfinished action not resumed", extra={"error": _name(exc)})
        if unfinished:
            log.info("resumed unfinished actions", extra={"count": len(unfinished)})
        self.sightings_ready.set()
        self.outbox_ready.set()
        return len(unfinished)

    # -- members and rights --------------------------------------------------------------------

    async def member(self, chat_id: int, user_id: int) -> ChatMember | None:
        """``getChatMember``, cached for a minute; None when Telegram refuses to say."""
        key = (chat_id, user_id)
        held = self._members.get(key)
        if held is not None and held[1] > time.monotonic():
            return held[0]
        lock = self._member_locks.setdefault(key, asyncio.Lock())
        async with lock:
            held = self._members.get(key)
            if held is not None and held[1] > time.monotonic():
                return held[0]
            try:
                found: ChatMember | None = await call(
                    lambda: self.bot.get_chat_member(chat_id, user_id)
                )
            except (BadRequest, Forbidden):
                found = None
            if len(self._members) > 50_000:
                self._members.clear()
                self._member_locks.clear()
            self._members[key] = (found, time.monotonic() + MEMBER_CACHE_SECONDS)
            return found

    def remember_member(self, chat_id: int, member: ChatMember) -> None:
        """Take a membership Telegram told us about (a my_chat_member update) as current."""
        self._members[(chat_id, member.user.id)] = (member, time.monotonic() + MEMBER_CACHE_SECONDS)

    def forget_member(self, chat_id: int, user_id: int) -> None:
        self._members.pop((chat_id, user_id), None)

    async def rights(self, chat_id: int) -> Rights:
        member = await self.member(chat_id, self.bot.id)
        if isinstance(member, ChatMemberOwner):
            return Rights(True, True)
        if isinstance(member, ChatMemberAdministrator):
            return Rights(bool(member.can_delete_messages), bool(member.can_restrict_members))
        return Rights(False, False)

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        member = await self.member(chat_id, user_id)
        return isinstance(member, ChatMemberOwner | ChatMemberAdministrator)

    # -- counters ------------------------------------------------------------------------------

    async def flush_counters(self) -> None:
        """Write the counts of checked images (kept in memory between flushes)."""
        counts, self._checked = dict(self._checked), Counter()
        if counts:
            try:
                await asyncio.to_thread(self.store.add_checked, counts)
            except Exception:
                self._checked.update(counts)
                raise


def _moderation(policy: str) -> str:
    return {"delete_warn": "warn", "delete_ban": "ban"}.get(policy, "none")


def _warning(action: ActionView, moderation: str, policy: str, ban_after: int) -> dict[str, object]:
    return {
        "user_id": action.user_id,
        "username": action.username,
        "banned": moderation == "banned",
        "strike": action.strike,
        "limit": ban_after if policy == "delete_ban" else None,
    }


def _evidence(
    action: ActionView, outcome: str, moderation: str, download_limit: int
) -> dict[str, object]:
    return {
        "outcome": outcome,
        "time": action.created_at.isoformat(),
        "chat_title": action.chat_title,
        "chat_id": action.chat_id,
        "link": action.location,
        "user_id": action.user_id,
        "username": action.username,
        "match_type": action.match_type,
        "bank": action.bank,
        "distance": action.distance,
        "moderation": moderation,
        "strike": action.strike,
        "limit_mb": download_limit // (1024 * 1024),
    }


def _name(exc: BaseException) -> str:
    return type(exc).__name__
