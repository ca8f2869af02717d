"""The bot's state in the store: chat settings, allow-lists, strikes, actions and outboxes.

Every function is one unit of work (one transaction) and synchronous; the bot calls them through
``asyncio.to_thread``. Chat settings are read through a small in-process cache: one bot process
polls a token, so its own writes are the only ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rempart.store import Database
from rempart.store.models import (
    TelegramAction,
    TelegramAllowedUser,
    TelegramChat,
    TelegramOutbox,
    TelegramSighting,
    TelegramStrike,
    utcnow,
)

T = TypeVar("T")

POLICIES = ("delete", "delete_warn", "delete_ban")
# Outcomes of an action (TelegramAction.outcome), as the status counters group them.
REMOVED = ("deleted", "gone")


@dataclass(frozen=True, slots=True)
class ChatSettings:
    chat_id: int
    enabled: bool = True
    policy: str = "delete"
    log_chat_id: int | None = None
    language: str = "en"
    rights_notice_sent: bool = False


@dataclass(frozen=True, slots=True)
class NewAction:
    """What the bot decided about one media item, before acting on it."""

    item_key: str
    chat_id: int
    chat_type: str
    chat_title: str
    message_id: int
    location: str
    user_id: int | None
    username: str | None
    verdict: str  # remove | review | unchecked
    message_date: datetime
    match_type: str | None = None
    bank: str | None = None
    distance: int | None = None


@dataclass(frozen=True, slots=True)
class OwedSighting:
    token: str
    signal_id: int | None
    match_type: str
    distance: int


@dataclass(frozen=True, slots=True)
class ActionView:
    """An action as the bot carries it out (a detached copy of its row)."""

    id: int
    chat_id: int
    chat_type: str
    chat_title: str
    message_id: int
    location: str
    user_id: int | None
    username: str | None
    verdict: str
    match_type: str | None
    bank: str | None
    distance: int | None
    moderation: str
    strike: int | None
    message_date: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PendingSighting:
    id: int
    token: str
    signal_id: int | None
    match_type: str
    distance: int
    location: str
    outcome: str
    seen_at: datetime
    uploader: str | None


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: int
    kind: str
    payload: dict[str, object]
    language: str


@dataclass(frozen=True, slots=True)
class ChatCounts:
    checked: int
    removed: int
    manual: int
    no_rights: int
    flagged: int
    unchecked: int


class BotStore:
    """The bot's tables in ``database`` (the service's store in direct mode, its own in remote)."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self._chats: dict[int, ChatSettings] = {}
        self._lock = threading.Lock()

    # -- chat settings -----------------------------------------------------------------------

    def chat(self, chat_id: int) -> ChatSettings:
        with self._lock:
            held = self._chats.get(chat_id)
        if held is not None:
            return held
        with self.db.reading() as session:
            row = session.get(TelegramChat, chat_id)
            settings = _settings(row) if row is not None else ChatSettings(chat_id)
        with self._lock:
            self._chats[chat_id] = settings
        return settings

    def update_chat(self, chat_id: int, **changes: object) -> ChatSettings:
        """Change settings (``enabled``, ``policy``, ``log_chat_id``, ``language``...)."""

        def change(session: Session) -> ChatSettings:
            row = _chat_row(session, chat_id)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            return _settings(row)

        settings = self._retrying(change)
        with self._lock:
            self._chats[chat_id] = settings
        return settings

    def claim_rights_notice(self, chat_id: int) -> bool:
        """Mark the missing-rights notice as sent; False when it was sent already.

        One conditional UPDATE decides: photos of one chat are processed at once, and a read
        then a write let two of them both find the notice unsent (both databases re-check the
        condition under the row's write lock).
        """

        def claim(session: Session) -> ChatSettings | None:
            row = _chat_row(session, chat_id)
            claimed = session.execute(
                update(TelegramChat)
                .where(
                    TelegramChat.chat_id == chat_id,
                    TelegramChat.rights_notice_sent.is_(False),
                )
                .values(rights_notice_sent=True)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            session.refresh(row)
            return _settings(row)

        settings = self._retrying(claim)
        if settings is None:
            return False
        with self._lock:
            self._chats[chat_id] = settings
        return True

    def add_checked(self, counts: dict[int, int]) -> None:
        """Add to the per-chat count of checked images."""

        def add(session: Session) -> None:
            for chat_id, count in counts.items():
                row = _chat_row(session, chat_id)
                row.checked = (row.checked or 0) + count

        if counts:
            self._retrying(add)

    def _retrying(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction, again when a concurrent one inserted the same row
        first (two updates of one new chat or uploader processed at once)."""
        for attempt in range(3):
            try:
                with self.db.transaction() as session:
                    return work(session)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def counts(self, chat_id: int) -> ChatCounts:
        with self.db.reading() as session:
            row = session.get(TelegramChat, chat_id)
            by_outcome: dict[str | None, int] = {
                outcome: count
                for outcome, count in session.execute(
                    select(TelegramAction.outcome, func.count())
                    .where(TelegramAction.chat_id == chat_id)
                    .group_by(TelegramAction.outcome)
                )
            }
        return ChatCounts(
            checked=row.checked if row is not None else 0,
            removed=sum(by_outcome.get(outcome, 0) for outcome in REMOVED),
            manual=by_outcome.get("manual", 0),
            no_rights=by_outcome.get("no_rights", 0),
            flagged=by_outcome.get("flagged", 0),
            unchecked=by_outcome.get("too_large", 0),
        )

    # -- allow-list --------------------------------------------------------------------------

    def allowed(self, chat_id: int) -> list[int]:
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(TelegramAllowedUser.user_id)
                    .where(TelegramAllowedUser.chat_id == chat_id)
                    .order_by(TelegramAllowedUser.user_id)
                )
            )

    def is_allowed(self, chat_id: int, user_id: int) -> bool:
        with self.db.reading() as session:
            return session.get(TelegramAllowedUser, (chat_id, user_id)) is not None

    def allow(self, chat_id: int, user_id: int, allowed: bool) -> None:
        with self.db.transaction() as session:
            row = session.get(TelegramAllowedUser, (chat_id, user_id))
            if allowed and row is None:
                session.add(TelegramAllowedUser(chat_id=chat_id, user_id=user_id))
            elif not allowed and row is not None:
                session.delete(row)

    # -- actions -----------------------------------------------------------------------------

    def open_action(
        self,
        new: NewAction,
        sightings: Sequence[OwedSighting],
        moderation: str = "none",
        ban_after: int = 1,
    ) -> ActionView | None:
        """Record the decision, the sightings it owes and (for ``warn``/``ban``) a strike, in
        one transaction. ``None`` when this item was decided before (a re-delivered update).

        ``moderation`` is the chat policy's wish for the uploader (``none``, ``warn``, ``ban``);
        ``ban`` becomes ``warn`` until the uploader's strikes reach ``ban_after``.
        """

        def decide(session: Session) -> ActionView | None:
            if session.scalar(
                select(TelegramAction.id).where(TelegramAction.item_key == new.item_key)
            ):
                return None
            wish, strike = "none", None
            if moderation != "none" and new.user_id is not None:
                strike = _add_strike(session, new.chat_id, new.user_id)
                wish = "warn" if moderation == "ban" and strike < ban_after else moderation
            row = TelegramAction(
                item_key=new.item_key,
                chat_id=new.chat_id,
                chat_type=new.chat_type,
                chat_title=new.chat_title[:255],
                message_id=new.message_id,
                location=new.location,
                user_id=new.user_id,
                username=new.username,
                verdict=new.verdict,
                match_type=new.match_type,
                bank=new.bank,
                distance=new.distance,
                moderation=wish,
                strike=strike,
                stage="new",
                message_date=new.message_date,
            )
            session.add(row)
            session.flush()
            for owed in sightings:
                session.add(
                    TelegramSighting(
                        action_id=row.id,
                        token=owed.token,
                        signal_id=owed.signal_id,
                        match_type=owed.match_type,
                        distance=owed.distance,
                    )
                )
            session.flush()
            return _view(row)

        # A unique key hit means a concurrent transaction decided this item (then the retry
        # finds its row and stops) or created the same strike row first (then it counts on).
        return self._retrying(decide)

    def unfinished_actions(self, older_than: float = 0.0) -> list[ActionView]:
        """Actions decided at least ``older_than`` seconds ago but not carried out."""
        cutoff = utcnow() - timedelta(seconds=older_than)
        with self.db.reading() as session:
            rows = session.scalars(
                select(TelegramAction)
                .where(TelegramAction.stage == "new", TelegramAction.created_at <= cutoff)
                .order_by(TelegramAction.id)
            )
            return [_view(row) for row in rows]

    def finish_action(
        self,
        action_id: int,
        outcome: str,
        moderation: str,
        messages: Sequence[tuple[int, str, dict[str, object], str]],
    ) -> None:
        """Store what was done, queue its messages ``(chat_id, kind, payload, language)`` and
        release its sightings, in one transaction."""
        with self.db.transaction() as session:
            row = session.get(TelegramAction, action_id)
            if row is None or row.stage != "new":
                return
            row.outcome = outcome
            row.moderation = moderation
            row.stage = "done"
            for chat_id, kind, payload, language in messages:
                session.add(
                    TelegramOutbox(chat_id=chat_id, kind=kind, payload=payload, language=language)
                )

    # -- sightings outbox --------------------------------------------------------------------

    def pending_sightings(self, limit: int = 50) -> list[PendingSighting]:
        with self.db.reading() as session:
            rows = session.execute(
                select(TelegramSighting, TelegramAction)
                .join(TelegramAction, TelegramAction.id == TelegramSighting.action_id)
                .where(TelegramSighting.status == "pending", TelegramAction.stage == "done")
                .order_by(TelegramSighting.id)
                .limit(limit)
            )
            return [
                PendingSighting(
                    id=sighting.id,
                    token=sighting.token,
                    signal_id=sighting.signal_id,
                    match_type=sighting.match_type,
                    distance=sighting.distance,
                    location=action.location,
                    outcome=action.outcome or "",
                    seen_at=action.created_at,
                    uploader=_uploader(action.user_id, action.username),
                )
                for sighting, action in rows
            ]

    def sighting_done(self, sighting_id: int, error: str | None = None) -> None:
        """Mark a sighting recorded, or failed for good with the error's class name."""
        with self.db.transaction() as session:
            session.execute(
                update(TelegramSighting)
                .where(TelegramSighting.id == sighting_id)
                .values(
                    status="failed" if error else "recorded",
                    last_error=error,
                    recorded_at=None if error else utcnow(),
                    attempts=TelegramSighting.attempts + 1,
                )
            )

    def sighting_retry(self, sighting_id: int, error: str) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(TelegramSighting)
                .where(TelegramSighting.id == sighting_id)
                .values(last_error=error, attempts=TelegramSighting.attempts + 1)
            )

    # -- message outbox ----------------------------------------------------------------------

    def outbox_destinations(self) -> list[int]:
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(TelegramOutbox.chat_id)
                    .where(TelegramOutbox.status == "pending")
                    .group_by(TelegramOutbox.chat_id)
                    .order_by(func.min(TelegramOutbox.id))
                )
            )

    def pending_messages(self, chat_id: int, limit: int) -> list[PendingMessage]:
        with self.db.reading() as session:
            rows = session.scalars(
                select(TelegramOutbox)
                .where(TelegramOutbox.status == "pending", TelegramOutbox.chat_id == chat_id)
                .order_by(TelegramOutbox.id)
                .limit(limit)
            )
            return [PendingMessage(r.id, r.kind, dict(r.payload), r.language) for r in rows]

    def messages_done(self, ids: Sequence[int], status: str) -> None:
        """Mark queued messages ``sent`` or ``failed`` (the destination refused them)."""
        with self.db.transaction() as session:
            session.execute(
                update(TelegramOutbox)
                .where(TelegramOutbox.id.in_(list(ids)))
                .values(
                    status=status,
                    attempts=TelegramOutbox.attempts + 1,
                    sent_at=utcnow() if status == "sent" else None,
                )
            )

    def queue_message(
        self, chat_id: int, kind: str, payload: dict[str, object], language: str
    ) -> None:
        with self.db.transaction() as session:
            session.add(
                TelegramOutbox(chat_id=chat_id, kind=kind, payload=payload, language=language)
            )


def _chat_row(session: Session, chat_id: int) -> TelegramChat:
    row = session.get(TelegramChat, chat_id)
    if row is None:
        row = TelegramChat(
            chat_id=chat_id,
            enabled=True,
            policy="delete",
            language="en",
            rights_notice_sent=False,
            checked=0,
        )
        session.add(row)
        session.flush()
    return row


def _settings(row: TelegramChat) -> ChatSettings:
    return ChatSettings(
        chat_id=row.chat_id,
        enabled=row.enabled,
        policy=row.policy,
        log_chat_id=row.log_chat_id,
        language=row.language,
        rights_notice_sent=row.rights_notice_sent,
    )


def _add_strike(session: Session, chat_id: int, user_id: int) -> int:
    """One more strike, counted in the database (no lost update between concurrent items)."""
    key = (TelegramStrike.chat_id == chat_id, TelegramStrike.user_id == user_id)
    counted = session.execute(
        update(TelegramStrike)
        .where(*key)
        .values(count=TelegramStrike.count + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not getattr(counted, "rowcount", 0):
        session.add(TelegramStrike(chat_id=chat_id, user_id=user_id, count=1))
        session.flush()
    count = session.scalar(select(TelegramStrike.count).where(*key))
    assert count is not None
    return count


def _view(row: TelegramAction) -> ActionView:
    return ActionView(
        id=row.id,
        chat_id=row.chat_id,
        chat_type=row.chat_type,
        chat_title=row.chat_title,
        message_id=row.message_id,
        location=row.location,
        user_id=row.user_id,
        username=row.username,
        verdict=row.verdict,
        match_type=row.match_type,
        bank=row.bank,
        distance=row.distance,
        moderation=row.moderation,
        strike=row.strike,
        message_date=row.message_date,
        created_at=row.created_at,
    )


def _uploader(user_id: int | None, username: str | None) -> str | None:
    if user_id is None:
        return None
    return f"{user_id} (@{username})" if username else str(user_id)
