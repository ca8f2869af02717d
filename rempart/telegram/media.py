"""What a message carries: the media item to check, who posted it where, and its link.

Telegram facts behind the choices here:
- a photo comes in several sizes; the largest is the closest to what was uploaded (Telegram
  re-encodes photos, so exact hashes rarely match them: near and derivative matching do);
- an animation (GIF, sent as MP4) also fills ``document``: it is taken as the animation;
- a document's MIME type is what the sender's app claimed: every document is checked, and
  one whose bytes are not media rempart reads is ignored without noise;
- album items arrive as separate messages with one ``media_group_id``: each is checked alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import Chat, Message

# The largest file a bot may download through the cloud Bot API.
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One file of a message. ``claims_media`` is False for documents that do not say they are
    an image or a video: those are checked, but a failure to decode them is not news."""

    file_id: str
    file_unique_id: str
    kind: str  # photo | document | animation | video | sticker
    size: int | None
    claims_media: bool


@dataclass(frozen=True, slots=True)
class Post:
    """Where a media item was posted and by whom (ids and names only, never content)."""

    update_id: int
    chat_id: int
    chat_type: str
    chat_title: str
    message_id: int
    sent_at: datetime
    location: str
    user_id: int | None
    username: str | None

    def item_key(self, item: MediaItem) -> str:
        """Identifies this file in this message: a re-delivered update or an edit of the
        caption yields the same key, an edit that swaps the file a new one."""
        return f"{self.chat_id}:{self.message_id}:{item.file_unique_id}"


def media_item(message: Message) -> MediaItem | None:
    """The file of ``message`` worth checking, or None."""
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size))
        return MediaItem(
            largest.file_id, largest.file_unique_id, "photo", largest.file_size, claims_media=True
        )
    if message.animation:
        animation = message.animation
        return MediaItem(
            animation.file_id, animation.file_unique_id, "animation", animation.file_size, True
        )
    if message.video:
        video = message.video
        return MediaItem(video.file_id, video.file_unique_id, "video", video.file_size, True)
    if message.sticker and not message.sticker.is_animated:
        sticker = message.sticker
        return MediaItem(
            sticker.file_id, sticker.file_unique_id, "sticker", sticker.file_size, True
        )
    if message.document:
        document = message.document
        mime = (document.mime_type or "").lower()
        return MediaItem(
            document.file_id,
            document.file_unique_id,
            "document",
            document.file_size,
            claims_media=mime.startswith(("image/", "video/")),
        )
    return None


def post_of(update_id: int, message: Message) -> Post:
    chat = message.chat
    user = message.from_user
    # A message sent on behalf of a chat (a channel post, an anonymous admin, a linked channel)
    # has no person to warn or ban.
    person = user if user is not None and message.sender_chat is None else None
    sent = message.date if message.date.tzinfo else message.date.replace(tzinfo=UTC)
    return Post(
        update_id=update_id,
        chat_id=chat.id,
        chat_type=chat.type,
        chat_title=chat.title or chat.username or str(chat.id),
        message_id=message.message_id,
        sent_at=sent.astimezone(UTC),
        location=message_location(chat, message.message_id),
        user_id=person.id if person else None,
        username=person.username if person else None,
    )


def message_location(chat: Chat, message_id: int) -> str:
    """A link to the message where Telegram has one, else ``telegram:<chat id>/<message id>``.

    Public chats: ``https://t.me/<username>/<id>``; private supergroups and channels (ids
    ``-100...``): ``https://t.me/c/<id without -100>/<id>``, which opens for members. Basic
    groups have no message links.
    """
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    text = str(chat.id)
    if text.startswith("-100"):
        return f"https://t.me/c/{text[4:]}/{message_id}"
    return f"telegram:{chat.id}/{message_id}"


def now() -> datetime:
    return datetime.now(UTC)
