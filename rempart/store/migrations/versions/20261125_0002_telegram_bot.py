"""telegram bot: chat settings, allow-lists, strikes, actions, sightings and message outboxes

Revision ID: 20261125_0002
Revises: 20261125_0001
Create Date: 2026-11-25 21:04:47
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261125_0002"
down_revision = "20261125_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "telegram_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_key", sa.String(length=160), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_type", sa.String(length=16), nullable=False),
        sa.Column("chat_title", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("match_type", sa.String(length=16), nullable=True),
        sa.Column("bank", sa.String(length=200), nullable=True),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("moderation", sa.String(length=8), nullable=False),
        sa.Column("strike", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("message_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_actions")),
        sa.UniqueConstraint("item_key", name=op.f("uq_telegram_actions_item_key")),
    )
    with op.batch_alter_table("telegram_actions", schema=None) as batch_op:
        batch_op.create_index("ix_telegram_actions_chat_id", ["chat_id"], unique=False)
        batch_op.create_index("ix_telegram_actions_stage", ["stage"], unique=False)

    op.create_table(
        "telegram_allowed_users",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_telegram_allowed_users")),
    )
    op.create_table(
        "telegram_chats",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("log_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("rights_notice_sent", sa.Boolean(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_telegram_chats")),
    )
    op.create_table(
        "telegram_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_outbox")),
    )
    with op.batch_alter_table("telegram_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_telegram_outbox_status", ["status", "chat_id"], unique=False)

    op.create_table(
        "telegram_strikes",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_telegram_strikes")),
    )
    op.create_table(
        "telegram_sightings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("signal_id", sa.BigInteger(), nullable=True),
        sa.Column("match_type", sa.String(length=16), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["telegram_actions.id"],
            name=op.f("fk_telegram_sightings_action_id_telegram_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_sightings")),
    )
    with op.batch_alter_table("telegram_sightings", schema=None) as batch_op:
        batch_op.create_index("ix_telegram_sightings_status", ["status"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("telegram_sightings", schema=None) as batch_op:
        batch_op.drop_index("ix_telegram_sightings_status")

    op.drop_table("telegram_sightings")
    op.drop_table("telegram_strikes")
    with op.batch_alter_table("telegram_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_telegram_outbox_status")

    op.drop_table("telegram_outbox")
    op.drop_table("telegram_chats")
    op.drop_table("telegram_allowed_users")
    with op.batch_alter_table("telegram_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_telegram_actions_stage")
        batch_op.drop_index("ix_telegram_actions_chat_id")

    op.drop_table("telegram_actions")
