"""Storage models (SQLAlchemy 2). Wire schemas live in ``rempart.api.schemas``, never here.

Hash values are sensitive data: they live in ``signals`` only, are never copied into the audit
log, and are deleted (not flagged) when a case is withdrawn.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names on SQLite and PostgreSQL, so migrations can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned as timezone-aware UTC, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: rempart stores UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organisation(Base):
    """A helpline, NGO or platform using the service; owns banks, keys and webhooks."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Ed25519 key pair that signs the bank files this organisation exports (PEM / raw base64).
    signing_private_key: Mapped[str] = mapped_column(Text)
    signing_public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    """An API key: public ``key_id`` to find it, SHA-256 of the secret to check it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    org: Mapped[Organisation] = relationship(lazy="joined")


class Bank(Base):
    """A named list of signals with an owner and a policy."""

    __tablename__ = "banks"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_banks_org_id_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="protect")  # protect | allow
    action: Mapped[str] = mapped_column(String(16), default="remove")  # remove | review
    pdq_threshold: Mapped[int] = mapped_column(Integer, default=31)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Shared banks are matched for every organisation's queries (the cases bank is);
    # others only for their owner's.
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    org: Mapped[Organisation] = relationship(lazy="joined")


class Case(Base):
    """One person's submission. After withdrawal only ``case_id`` and ``withdrawn_at`` remain."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(20), unique=True)
    pin_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | withdrawn
    bank_id: Mapped[int | None] = mapped_column(
        ForeignKey("banks.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utcnow, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    failed_pin_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Signal(Base):
    """One fingerprint in a bank. ``value`` is hex for pdq/md5/sha256, JSON text otherwise."""

    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_type_value", "type", "value_key"),
        Index("ix_signals_bank_id", "bank_id"),
        Index("ix_signals_case_id", "case_id"),
        # Ids are never reused (the change log and the indexes refer to them).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), nullable=True
    )
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    # A short, indexable form of the value (the hex itself, or a SHA-256 of long JSON values).
    value_key: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SignalChange(Base):
    """Sequence-numbered log of index changes that every worker process applies in order."""

    __tablename__ = "signal_changes"
    # Sequence numbers are never reused, even after old entries are pruned.
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    op: Mapped[str] = mapped_column(String(16))  # add | remove | bank
    signal_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bank_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Sighting(Base):
    """An evidence record: where and when a protected signal was seen. Append-only.

    Rows are never updated; they are deleted only with their case (withdrawal).
    """

    __tablename__ = "sightings"
    __table_args__ = (Index("ix_sightings_case_id", "case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), nullable=True
    )
    bank_id: Mapped[int | None] = mapped_column(
        ForeignKey("banks.id", ondelete="SET NULL"), nullable=True
    )
    signal_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reporter_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), nullable=True
    )
    platform: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(Text, default="")
    match_type: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    distance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uploader: Mapped[str | None] = mapped_column(String(200), nullable=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The sighting token's id makes a re-sent report idempotent.
    dedup_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)


class AuditEntry(Base):
    """Who did what, when. Never hash values, PINs or other organisations' bank contents."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class Webhook(Base):
    """An organisation's endpoint for match events, signed with its own secret."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookDelivery(Base):
    """A persisted event waiting to be delivered (outbox): a restart loses nothing."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class TrustedKey(Base):
    """A partner's public key whose signed bank files an organisation accepts."""

    __tablename__ = "trusted_keys"
    __table_args__ = (UniqueConstraint("org_id", "public_key", name="uq_trusted_keys_org_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceSecret(Base):
    """Service-wide secrets generated once (the sighting-token key), shared by every worker."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# -- Telegram bot (rempart.telegram) -----------------------------------------------------------
# The bot's own state. Uploader ids and message links are evidence, kept like ``Sighting``; no
# message content, file or hash is ever stored here.


class TelegramChat(Base):
    """A group or channel's bot settings, set by its admins; absent means the defaults."""

    __tablename__ = "telegram_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    policy: Mapped[str] = mapped_column(
        String(16), default="delete"
    )  # delete|delete_warn|delete_ban
    log_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Language of the bot's messages in this chat and its log channel (the configuring admin's).
    language: Mapped[str] = mapped_column(String(8), default="en")
    # The "I need admin rights" notice was posted; cleared when the rights are granted.
    rights_notice_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    checked: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TelegramAllowedUser(Base):
    """A chat's own moderator who may use the admin commands without being a Telegram admin."""

    __tablename__ = "telegram_allowed_users"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TelegramStrike(Base):
    """How many protected images one uploader posted in one chat (the ban-after-N count)."""

    __tablename__ = "telegram_strikes"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TelegramAction(Base):
    """One media item (chat, message, file) the bot must act on: a match, or a file it could
    not check. ``item_key`` is unique, so a re-delivered update acts once; ``stage`` lets a
    restarted bot finish what a stopped one began (new -> done)."""

    __tablename__ = "telegram_actions"
    __table_args__ = (
        Index("ix_telegram_actions_stage", "stage"),
        Index("ix_telegram_actions_chat_id", "chat_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_key: Mapped[str] = mapped_column(String(160), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    chat_type: Mapped[str] = mapped_column(String(16))
    chat_title: Mapped[str] = mapped_column(String(255), default="")
    message_id: Mapped[int] = mapped_column(BigInteger)
    location: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verdict: Mapped[str] = mapped_column(String(16))  # remove | review | unchecked
    match_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    bank: Mapped[str | None] = mapped_column(String(200), nullable=True)
    distance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    moderation: Mapped[str] = mapped_column(String(8), default="none")  # none | warn | ban
    strike: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    stage: Mapped[str] = mapped_column(String(16), default="new")  # new | done
    message_date: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TelegramSighting(Base):
    """An evidence record the bot owes the service (outbox): kept until the service has it."""

    __tablename__ = "telegram_sightings"
    __table_args__ = (Index("ix_telegram_sightings_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("telegram_actions.id", ondelete="CASCADE"))
    # The service's sighting token for this match: replayed as is, so a retry is idempotent.
    token: Mapped[str] = mapped_column(Text)
    signal_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    match_type: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|recorded|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class TelegramOutbox(Base):
    """A bot message waiting to be posted (log entry, warning, notice): grouped and paced per
    destination chat, never dropped. ``payload`` holds facts, rendered in ``language`` when
    sent."""

    __tablename__ = "telegram_outbox"
    __table_args__ = (Index("ix_telegram_outbox_status", "status", "chat_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # evidence | warning | notice
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
