"""Telegram handlers, one per kind of update, wired in one place: ``build_application``.

- media in groups, supergroups and channels (messages, edits, channel posts): checked;
- ``/start`` (and ``/help``) and media in a private chat: the explanation, in the user's
  language; images sent there are never downloaded;
- ``/rempart_*`` admin commands in groups and channels (chat admins, and the moderators they
  allowed): replies in the chat;
- ``my_chat_member``: the bot's own rights changed.

Handlers format replies from the catalogs (``rempart.telegram.i18n``) and call the moderator;
they never log an update's content: the error handler logs the update id and error class only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Chat, ChatFullInfo, ChatMemberAdministrator, ChatMemberOwner, Message, Update
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from rempart.telegram.calls import call
from rempart.telegram.i18n import language_of, text
from rempart.telegram.media import media_item, post_of
from rempart.telegram.moderator import Moderator
from rempart.telegram.store import POLICIES, BotStore

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE

MEDIA = (
    filters.PHOTO
    | filters.Document.ALL
    | filters.ANIMATION
    | filters.VIDEO
    | filters.Sticker.STATIC
    | filters.Sticker.VIDEO
)
MODERATED = filters.ChatType.GROUPS | filters.ChatType.CHANNEL
# Commands come as new messages or channel posts (not as edits of old ones).
COMMAND_UPDATES = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
ADMIN_COMMANDS = (
    "rempart_status",
    "rempart_on",
    "rempart_off",
    "rempart_policy",
    "rempart_logchannel",
    "rempart_allow",
)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the Bot API lives. The default is Telegram's cloud; a local Bot API server
    (``REMPART_TELEGRAM_API_URL``) is ``<root>/bot`` and ``<root>/file/bot``, in local mode."""

    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    local_mode: bool = False

    @classmethod
    def local_server(cls, root: str) -> Endpoints:
        root = root.rstrip("/")
        return cls(f"{root}/bot", f"{root}/file/bot", local_mode=True)


def build_application(
    token: str, endpoints: Endpoints, *, read_timeout: float = 30.0
) -> Application:
    """The python-telegram-bot application: bot, network layer and no persistence (the store
    is the one source of truth). Handlers are added by ``Handlers.register``."""
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(endpoints.base_url)
        .base_file_url(endpoints.base_file_url)
        .local_mode(endpoints.local_mode)
        .read_timeout(read_timeout)
        .get_updates_read_timeout(read_timeout)
        .connection_pool_size(64)
        .updater(None)
        .build()
    )


class Handlers:
    """The bot's handlers, bound to its moderator and store."""

    def __init__(self, moderator: Moderator, store: BotStore, case_url: str | None) -> None:
        self.moderator = moderator
        self.store = store
        self.case_url = case_url
        self._locks: dict[int, asyncio.Lock] = {}

    def register(self, application: Application) -> None:
        private = filters.ChatType.PRIVATE
        application.add_handler(CommandHandler(["start", "help"], self.start, private))
        application.add_handler(MessageHandler(private & MEDIA, self.private_media))
        for name in ADMIN_COMMANDS:
            application.add_handler(
                CommandHandler(name, self._admin(name), COMMAND_UPDATES & MODERATED)
            )
            application.add_handler(CommandHandler(name, self.group_only, private))
        application.add_handler(MessageHandler(MODERATED & MEDIA, self.media))
        application.add_handler(
            ChatMemberHandler(self.my_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        application.add_error_handler(self.error)

    # -- media -------------------------------------------------------------------------------

    async def media(self, update: Update, context: Context) -> None:
        message = update.effective_message
        item = media_item(message) if message else None
        if message is None or item is None:
            return
        await self.moderator.check(post_of(update.update_id, message), item)

    # -- private chat --------------------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        language = _language(message)
        protect = (
            text(language, "start_protect_link", url=self.case_url)
            if self.case_url
            else text(language, "start_protect_nolink")
        )
        body = "\n\n".join(
            [text(language, "start_intro"), protect, text(language, "start_never_send")]
        )
        await _reply(message, body)

    async def private_media(self, update: Update, context: Context) -> None:
        if update.effective_message is not None:
            message = update.effective_message
            await _reply(message, text(_language(message), "private_media"))

    async def group_only(self, update: Update, context: Context) -> None:
        if update.effective_message is not None:
            message = update.effective_message
            await _reply(message, text(_language(message), "group_only"))

    # -- admin commands ------------------------------------------------------------------------

    def _admin(self, name: str) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
        commands: dict[str, Callable[[Message, list[str]], Awaitable[str]]] = {
            "rempart_status": self._status,
            "rempart_on": self._on,
            "rempart_off": self._off,
            "rempart_policy": self._policy,
            "rempart_logchannel": self._logchannel,
            "rempart_allow": self._allow,
        }
        command = commands[name]

        async def handle(update: Update, context: Context) -> None:
            message = update.effective_message
            if message is None:
                return
            # One command at a time per chat, in the order they came: /rempart_off then
            # /rempart_on in one batch must leave the bot on.
            async with self._chat_lock(message.chat.id):
                if not await self._may_administer(message):
                    await _reply(message, text(_language(message), "not_admin"))
                    return
                await _reply(message, await command(message, list(context.args or [])))

        return handle

    def _chat_lock(self, chat_id: int) -> asyncio.Lock:
        if len(self._locks) > 10_000:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(chat_id, asyncio.Lock())

    async def _may_administer(self, message: Message) -> bool:
        chat = message.chat
        # Posted as the chat itself: a channel's own post or a group's anonymous admin; only
        # admins can do either.
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True
        user = message.from_user
        if user is None or message.sender_chat is not None:
            return False
        if await self.moderator.is_admin(chat.id, user.id):
            return True
        return await asyncio.to_thread(self.store.is_allowed, chat.id, user.id)

    async def _status(self, message: Message, args: list[str]) -> str:
        language = _language(message)
        chat_id = message.chat.id
        await self.moderator.flush_counters()
        settings = await asyncio.to_thread(self.store.chat, chat_id)
        counts = await asyncio.to_thread(self.store.counts, chat_id)
        return text(
            language,
            "status",
            state=text(language, "state_on" if settings.enabled else "state_off"),
            policy=self._policy_name(language, settings.policy),
            log=settings.log_chat_id if settings.log_chat_id else text(language, "log_none"),
            checked=counts.checked,
            removed=counts.removed,
            manual=counts.manual,
            no_rights=counts.no_rights,
            flagged=counts.flagged,
            unchecked=counts.unchecked,
        )

    async def _on(self, message: Message, args: list[str]) -> str:
        await self._update(message, enabled=True)
        return text(_language(message), "turned_on")

    async def _off(self, message: Message, args: list[str]) -> str:
        await self._update(message, enabled=False)
        return text(_language(message), "turned_off")

    async def _policy(self, message: Message, args: list[str]) -> str:
        language = _language(message)
        if len(args) != 1 or args[0].lower() not in POLICIES:
            return text(language, "policy_usage")
        policy = args[0].lower()
        await self._update(message, policy=policy)
        return text(language, "policy_set", policy=self._policy_name(language, policy))

    async def _logchannel(self, message: Message, args: list[str]) -> str:
        language = _language(message)
        if len(args) != 1:
            return text(language, "logchannel_usage")
        if args[0].lower() == "off":
            await self._update(message, log_chat_id=None)
            return text(language, "logchannel_off")
        target = await self._postable_chat(args[0], message)
        if target is None:
            return text(language, "logchannel_unreachable", log=args[0])
        await self._update(message, log_chat_id=target.id)
        return text(language, "logchannel_set", log=target.title or target.username or target.id)

    async def _postable_chat(self, reference: str, message: Message) -> ChatFullInfo | None:
        """The chat named by an id or @username, if the bot may post there and the admin who
        asks is an admin there too (evidence goes only where the chat's admins can see it)."""
        chat_ref: int | str = int(reference) if reference.lstrip("-").isdigit() else reference
        try:
            target = await call(lambda: self.moderator.bot.get_chat(chat_ref))
        except (BadRequest, Forbidden):
            return None
        bot_member = await self.moderator.member(target.id, self.moderator.bot.id)
        if target.type == Chat.CHANNEL:
            may_post = isinstance(bot_member, ChatMemberOwner) or (
                isinstance(bot_member, ChatMemberAdministrator)
                and bool(bot_member.can_post_messages)
            )
        else:
            may_post = bot_member is not None and bot_member.status in (
                ChatMemberStatus.OWNER,
                ChatMemberStatus.ADMINISTRATOR,
                ChatMemberStatus.MEMBER,
            )
        if not may_post:
            return None
        asker = message.from_user
        if (
            message.sender_chat is None
            and asker is not None
            and not await self.moderator.is_admin(target.id, asker.id)
        ):
            return None
        return target

    async def _allow(self, message: Message, args: list[str]) -> str:
        language = _language(message)
        chat_id = message.chat.id
        removing = bool(args) and args[0].lower() == "remove"
        rest = args[1:] if removing else args
        user_id: int | None = None
        if rest and rest[0].isdigit():
            user_id = int(rest[0])
        elif not rest and message.reply_to_message and message.reply_to_message.from_user:
            user_id = message.reply_to_message.from_user.id
        if user_id is None:
            if args:
                return text(language, "allow_usage")
            allowed = await asyncio.to_thread(self.store.allowed, chat_id)
            if not allowed:
                return text(language, "allow_empty")
            return text(language, "allow_list", users=", ".join(str(u) for u in allowed))
        await asyncio.to_thread(self.store.allow, chat_id, user_id, not removing)
        return text(language, "allow_removed" if removing else "allow_added", user=user_id)

    async def _update(self, message: Message, **changes: object) -> None:
        # The configuring admin's language becomes the chat's (warnings, log entries).
        changes["language"] = _language(message)
        await asyncio.to_thread(self.store.update_chat, message.chat.id, **changes)

    def _policy_name(self, language: str, policy: str) -> str:
        return text(language, f"policy_{policy}", limit=self.moderator.ban_after)

    # -- membership and errors -------------------------------------------------------------------

    async def my_membership(self, update: Update, context: Context) -> None:
        change = update.my_chat_member
        if change is None:
            return
        member = change.new_chat_member
        self.moderator.remember_member(change.chat.id, member)
        granted = isinstance(member, ChatMemberOwner) or (
            isinstance(member, ChatMemberAdministrator) and bool(member.can_delete_messages)
        )
        if granted:
            settings = await asyncio.to_thread(self.store.chat, change.chat.id)
            if settings.rights_notice_sent:
                await asyncio.to_thread(
                    self.store.update_chat, change.chat.id, rights_notice_sent=False
                )

    async def error(self, update: object, context: Context) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        log.error(
            "update failed",
            extra={"update_id": update_id, "error": type(error).__name__ if error else None},
        )


def _language(message: Message) -> str:
    user = message.from_user
    return language_of(user.language_code if user else None)


async def _reply(message: Message, body: str) -> None:
    """Answer in the chat; a chat that refuses the answer (403, 400) is not an error."""
    try:
        await call(lambda: message.reply_text(body, do_quote=False), attempts=3)
    except (BadRequest, Forbidden) as exc:
        log.info("reply refused by its chat", extra={"error": type(exc).__name__})
