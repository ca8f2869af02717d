"""A fake Telegram Bot API server for tests: real JSON shapes and error codes, on 127.0.0.1.

See tests/telegram/README.md. In short::

    fake = FakeTelegram()
    async with fake.running():                 # serves on 127.0.0.1:<free port>
        group = fake.add_chat("supergroup", "Test group", bot_rights="admin")
        alice = fake.add_user("alice", language_code="fr")
        fake.send_photo(group, alice, jpeg_bytes)   # queued for getUpdates
        ...  # point python-telegram-bot at fake.base_url / fake.base_file_url
        await fake.wait_acknowledged()          # the bot confirmed every update
        assert fake.calls("deleteMessage")

It keeps chats, members, messages and files in memory, serves ``getUpdates`` as a long poll with
Telegram's offset rule (an offset confirms every update below it), serves file downloads under
``/file/bot<token>/<path>`` (or, in local mode, writes files to disk and answers absolute paths
like ``telegram-bot-api --local``), records every call, and fails calls on demand
(``fail_next``) with Telegram's own error bodies (400, 403, 429 with ``retry_after``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "123456:TEST-fake-token"
BOT_ID = 123456
# Parameters that stay strings even when they look like JSON (free text, ids, URLs).
_TEXT_PARAMS = {"text", "caption", "file_id", "url", "secret_token", "chat_id"}
# Telegram's sizes for a photo: thumbnails and the re-encoded picture (longest side).
PHOTO_SIDES = (90, 320, 1280)
PHOTO_QUALITY = 87

ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_messages": True,
    "can_edit_messages": True,
    "can_pin_messages": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_manage_topics": False,
}


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code", "description", "parameters"?}``."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


@dataclass
class FakeUser:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class FakeChat:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    # user id -> ChatMember JSON without "user"
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    # message id -> (sent at, deleted)
    messages: dict[int, list[Any]] = field(default_factory=dict)
    next_message_id: int = 1

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title:
            data["title"] = self.title
        if self.username:
            data["username"] = self.username
        if self.type == "private":
            data["first_name"] = self.title or "user"
        return data


@dataclass
class FakeFile:
    file_id: str
    file_unique_id: str
    data: bytes
    path: str


@dataclass
class Fault:
    method: str
    error: ApiError
    times: int


class FakeTelegram:
    """The fake server's state and its ASGI app (``app``)."""

    def __init__(
        self, token: str = TOKEN, *, local_mode: bool = False, files_dir: Path | None = None
    ):
        if local_mode and files_dir is None:
            raise ValueError("local mode writes files to disk: give files_dir")
        self.token = token
        self.local_mode = local_mode
        self.files_dir = files_dir
        self.bot = FakeUser(BOT_ID, "rempart test bot", "rempart_test_bot", is_bot=True)
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.files: dict[str, FakeFile] = {}
        self.updates: list[dict[str, Any]] = []
        self.acknowledged = 0  # every update id below this was confirmed by an offset
        self.requests: list[tuple[str, dict[str, Any], float]] = []  # method, params, time
        self.downloads = 0
        self.webhook: dict[str, Any] | None = None
        self._faults: list[Fault] = []
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(500_000)
        self._new_update = asyncio.Event()
        self._allowed: list[str] | None = None
        self._closing = False
        self.root = ""
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
            ]
        )

    # -- serving -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeTelegram]:
        """Serve on 127.0.0.1 (a free port) in the running event loop."""
        server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.root = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            self._closing = True  # long polls still open answer now, so the server can stop
            self._new_update.set()
            server.should_exit = True
            await serving

    @property
    def base_url(self) -> str:
        return f"{self.root}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root}/file/bot"

    # -- world building ------------------------------------------------------------------------

    def add_user(
        self, username: str | None = None, *, language_code: str | None = "en"
    ) -> FakeUser:
        user = FakeUser(next(self._ids), (username or "user").title(), username, language_code)
        self.users[user.id] = user
        return user

    def add_chat(
        self,
        type: str = "supergroup",
        title: str = "Test group",
        *,
        username: str | None = None,
        bot_rights: str = "admin",
    ) -> FakeChat:
        """A chat the bot is in: ``bot_rights`` is ``admin`` (delete and ban), ``member`` (no
        rights) or ``owner``."""
        base = next(self._ids)
        # Supergroups and channels: -100 followed by a 10-digit id, as Telegram numbers them.
        chat_id = {"group": -base, "private": base}.get(type, -(10**12 + 10**9 + base))
        chat = FakeChat(chat_id, type, title, username)
        self.chats[chat.id] = chat
        self.set_member(chat, self.bot, bot_rights)
        return chat

    def set_member(self, chat: FakeChat, user: FakeUser, status: str) -> None:
        """``status``: owner (creator), admin, member, left or kicked."""
        if status == "admin":
            chat.members[user.id] = {"status": "administrator", **ADMIN_RIGHTS}
        elif status == "owner":
            chat.members[user.id] = {"status": "creator", "is_anonymous": False}
        elif status == "kicked":
            chat.members[user.id] = {"status": "kicked", "until_date": 0}
        else:
            chat.members[user.id] = {"status": status}

    def photo_sizes(self, data: bytes) -> list[dict[str, Any]]:
        """Telegram's sizes of an uploaded photo: each side re-encoded as a JPEG."""
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
        sizes = []
        for side in PHOTO_SIDES:
            copy = rgb.copy()
            copy.thumbnail((side, side))
            buffer = io.BytesIO()
            copy.save(buffer, "JPEG", quality=PHOTO_QUALITY)
            stored = self.store_file(buffer.getvalue(), "photos", "jpg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(stored.data),
                    "width": copy.width,
                    "height": copy.height,
                }
            )
        return sizes

    def store_file(self, data: bytes, folder: str, extension: str) -> FakeFile:
        number = next(self._ids)
        path = f"{folder}/file_{number}.{extension}"
        if self.local_mode:
            assert self.files_dir is not None
            disk = self.files_dir / self.token / path
            disk.parent.mkdir(parents=True, exist_ok=True)
            disk.write_bytes(data)
            path = str(disk)
        stored = FakeFile(f"AgAC{number:08d}fake", f"AQAD{number:06d}", data, path)
        self.files[stored.file_id] = stored
        return stored

    # -- incoming messages (each queues an update) ---------------------------------------------

    def send_photo(
        self,
        chat: FakeChat,
        user: FakeUser | None,
        data: bytes | None = None,
        *,
        sizes: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A photo message; ``sizes`` from ``photo_sizes`` saves re-encoding (benchmarks)."""
        if sizes is None:
            assert data is not None, "give the photo's bytes or its sizes"
            sizes = self.photo_sizes(data)
        return self._post(chat, user, {"photo": sizes, **extra})

    def send_document(
        self,
        chat: FakeChat,
        user: FakeUser | None,
        data: bytes,
        mime_type: str = "image/jpeg",
        file_name: str = "picture.jpg",
        file_size: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        stored = self.store_file(data, "documents", file_name.rsplit(".", 1)[-1])
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": file_size if file_size is not None else len(data),
        }
        return self._post(chat, user, {"document": document, **extra})

    def send_video(
        self, chat: FakeChat, user: FakeUser | None, data: bytes, *, animation: bool = False
    ) -> dict[str, Any]:
        """A video, or an animation (a GIF, which Telegram turns into a silent MP4); an
        animation message also carries the file as ``document``, as Telegram's does."""
        stored = self.store_file(data, "animations" if animation else "videos", "mp4")
        media = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 160,
            "height": 120,
            "duration": 6,
            "mime_type": "video/mp4",
            "file_size": len(data),
        }
        if not animation:
            return self._post(chat, user, {"video": media})
        return self._post(
            chat, user, {"animation": media, "document": {**media, "file_name": "a.mp4"}}
        )

    def send_album(
        self, chat: FakeChat, user: FakeUser, photos: list[bytes]
    ) -> list[dict[str, Any]]:
        """Album items arrive as separate messages sharing a ``media_group_id``."""
        group_id = str(next(self._ids) * 7919)
        return [self.send_photo(chat, user, data, media_group_id=group_id) for data in photos]

    def forward(self, message: dict[str, Any], chat: FakeChat, user: FakeUser) -> dict[str, Any]:
        """The same file posted again (it keeps its ``file_unique_id``)."""
        media = {key: message[key] for key in ("photo", "document", "animation") if key in message}
        origin = {"type": "user", "sender_user": message.get("from"), "date": message["date"]}
        return self._post(chat, user, {**media, "forward_origin": origin})

    def send_command(
        self, chat: FakeChat, user: FakeUser | None, command_text: str, **extra: Any
    ) -> dict[str, Any]:
        command = command_text.split()[0]
        entity = {"offset": 0, "length": len(command), "type": "bot_command"}
        return self._post(chat, user, {"text": command_text, "entities": [entity], **extra})

    def edit_photo(
        self, message: dict[str, Any], data: bytes, *, edit_date: float | None = None
    ) -> dict[str, Any]:
        """The sender replaced a message's photo (``edited_message`` / ``edited_channel_post``)."""
        chat = self.chats[message["chat"]["id"]]
        edited = {key: value for key, value in message.items() if key not in ("photo", "document")}
        edited["photo"] = self.photo_sizes(data)
        edited["edit_date"] = int(edit_date if edit_date is not None else time.time())
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        self._queue(kind, edited)
        return edited

    def _post(
        self,
        chat: FakeChat,
        user: FakeUser | None,
        content: dict[str, Any],
        *,
        date: float | None = None,
    ) -> dict[str, Any]:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        sent = int(date if date is not None else time.time())
        chat.messages[message_id] = [sent, False]
        message: dict[str, Any] = {"message_id": message_id, "date": sent, "chat": chat.to_json()}
        if chat.type == "channel":
            message["sender_chat"] = chat.to_json()
        elif user is not None:
            message["from"] = user.to_json()
        message.update(content)
        self._queue("channel_post" if chat.type == "channel" else "message", message)
        return message

    def backdate(self, message: dict[str, Any], seconds: float) -> None:
        """Pretend ``message`` was sent ``seconds`` earlier (for the 48-hour delete limit)."""
        message["date"] -= int(seconds)
        self.chats[message["chat"]["id"]].messages[message["message_id"]][0] = message["date"]

    def _queue(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self.updates.append({"update_id": update_id, kind: payload})
        self._new_update.set()
        return update_id

    def redeliver_all(self) -> None:
        """Forget every acknowledgement: Telegram sends the updates again (as after a bot
        crash before its offset reached Telegram)."""
        self.acknowledged = 0
        self._new_update.set()

    # -- faults and inspection -----------------------------------------------------------------

    def fail_next(self, method: str, error: ApiError, times: int = 1) -> None:
        self._faults.append(Fault(method, error, times))

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params, _ in self.requests if name == method]

    def call_times(self, method: str) -> list[float]:
        return [at for name, _, at in self.requests if name == method]

    def sent_to(self, chat: FakeChat | int) -> list[str]:
        chat_id = chat if isinstance(chat, int) else chat.id
        return [p["text"] for p in self.calls("sendMessage") if int(p["chat_id"]) == chat_id]

    def is_deleted(self, message: dict[str, Any]) -> bool:
        return bool(self.chats[message["chat"]["id"]].messages[message["message_id"]][1])

    def pending_updates(self) -> list[dict[str, Any]]:
        return [u for u in self.updates if u["update_id"] >= self.acknowledged]

    async def wait_acknowledged(self, timeout: float = 20.0) -> None:
        """Until the bot has confirmed (processed) every queued update."""
        await self.wait_for(lambda: not self.pending_updates(), timeout)

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the fake Telegram server waited in vain")
            await asyncio.sleep(0.02)

    async def push_webhook(self) -> None:
        """Deliver pending updates to the webhook as Telegram does; confirm those answered 2xx."""
        assert self.webhook is not None, "no webhook set"
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret_token", "")}
        async with httpx.AsyncClient(timeout=30) as client:
            for update in self.pending_updates():
                response = await client.post(self.webhook["url"], json=update, headers=headers)
                if response.is_success:
                    self.acknowledged = update["update_id"] + 1

    # -- HTTP ----------------------------------------------------------------------------------

    async def _method(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse(ApiError(401, "Unauthorized").body(), status_code=401)
        method = request.path_params["method"]
        try:
            params = await _params(request)
        except ClientDisconnect:  # a bot killed mid-request
            return Response(status_code=499)
        self.requests.append((method, params, time.monotonic()))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return JSONResponse(ApiError(404, "Not Found").body(), status_code=404)
        try:
            self._fault(method)
            result = await handler(params) if method == "getUpdates" else handler(params)
        except ApiError as error:
            return JSONResponse(error.body(), status_code=error.code)
        return JSONResponse({"ok": True, "result": result})

    def _fault(self, method: str) -> None:
        for fault in self._faults:
            if fault.method == method and fault.times > 0:
                fault.times -= 1
                raise fault.error

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        path = request.path_params["path"]
        for stored in self.files.values():
            if stored.path == path:
                self.downloads += 1
                return Response(stored.data, media_type="application/octet-stream")
        return Response(status_code=404)

    def _chat(self, params: dict[str, Any]) -> FakeChat:
        reference = params.get("chat_id")
        for chat in self.chats.values():
            if str(chat.id) == str(reference) or (
                chat.username and str(reference).lstrip("@") == chat.username
            ):
                if chat.members.get(self.bot.id, {}).get("status") in ("left", "kicked"):
                    raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
                return chat
        raise ApiError(400, "Bad Request: chat not found")

    def _bot_may(self, chat: FakeChat, right: str) -> bool:
        member = chat.members.get(self.bot.id, {})
        return member.get("status") == "creator" or bool(
            member.get("status") == "administrator" and member.get(right)
        )

    # -- methods -------------------------------------------------------------------------------

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot.to_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook"
                " to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        if offset:
            self.acknowledged = max(self.acknowledged, offset)
        if "allowed_updates" in params:
            self._allowed = list(params["allowed_updates"]) or None
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            ready = [
                u
                for u in self.pending_updates()
                if self._allowed is None or any(kind in u for kind in self._allowed)
            ][:limit]
            if ready or self._closing or time.monotonic() >= deadline:
                return ready
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self.acknowledged = max((u["update_id"] + 1 for u in self.updates), default=0)
        return True

    def _api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if not self.local_mode and len(stored.data) > 20 * 1024 * 1024:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.path,
        }

    def _api_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        entry = chat.messages.get(int(params["message_id"]))
        if entry is None or entry[1]:
            raise ApiError(400, "Bad Request: message to delete not found")
        if not self._bot_may(chat, "can_delete_messages") or time.time() - entry[0] > 48 * 3600:
            raise ApiError(400, "Bad Request: message can't be deleted")
        entry[1] = True
        return True

    def _api_banChatMember(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        user_id = int(params["user_id"])
        if not self._bot_may(chat, "can_restrict_members"):
            raise ApiError(400, "Bad Request: not enough rights to restrict/unrestrict chat member")
        status = chat.members.get(user_id, {}).get("status")
        if status == "creator":
            raise ApiError(400, "Bad Request: can't remove chat owner")
        if status == "administrator":
            raise ApiError(400, "Bad Request: user is an administrator of the chat")
        chat.members[user_id] = {"status": "kicked", "until_date": 0}
        return True

    def _member_json(self, chat: FakeChat, user_id: int) -> dict[str, Any]:
        user = self.bot if user_id == self.bot.id else self.users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        member = chat.members.get(user_id, {"status": "left"})
        return {"user": user.to_json(), **member}

    def _api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        return self._member_json(chat, int(params["user_id"]))

    def _api_getChatAdministrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat(params)
        return [
            self._member_json(chat, user_id)
            for user_id, member in chat.members.items()
            if member["status"] in ("creator", "administrator")
        ]

    def _api_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        return {
            **chat.to_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        if chat.type == "channel" and not self._bot_may(chat, "can_post_messages"):
            raise ApiError(400, "Bad Request: need administrator rights in the channel chat")
        if len(str(params.get("text", ""))) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        message_id = chat.next_message_id
        chat.next_message_id += 1
        chat.messages[message_id] = [int(time.time()), False]
        return {
            "message_id": message_id,
            "from": self.bot.to_json(),
            "chat": chat.to_json(),
            "date": int(time.time()),
            "text": params.get("text", ""),
        }


async def _params(request: Request) -> dict[str, Any]:
    """Parameters as Telegram reads them: query string, JSON body or form (values JSON-encoded
    where they are not plain strings)."""
    raw: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw.update(await request.json())
        return raw
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        body = await request.body()
        if content_type.startswith("application/x-www-form-urlencoded"):
            raw.update(dict(urllib.parse.parse_qsl(body.decode())))
        else:
            form = await request.form()
            raw.update({key: value for key, value in form.items() if isinstance(value, str)})
    return {key: _decoded(key, value) for key, value in raw.items()}


def _decoded(key: str, value: Any) -> Any:
    if key in _TEXT_PARAMS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
