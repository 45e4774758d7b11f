"""Signed webhooks: subscriptions, the outbox of events, deliveries and their attempts.

Revision ID: 0013
Revises: 0012

An event is written in the transaction of the change it reports (``storage.outbox.emit``),
with one delivery per subscription that wants it; a worker of the API server sends the
deliveries of each subscription in ``seq`` order, retries, and logs every attempt.
Subscription and event ids are ULIDs ("C" collation on PostgreSQL, as the archive's ids).
Deleting a subscription deletes its deliveries and their attempts (ON DELETE CASCADE).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ULID = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", _ULID, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        _ts("previous_expires_at", nullable=True),
        _ts("secret_rotated_at", nullable=True),
        _ts("created_at"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name="fk_webhook_subscriptions_uscc_enterprises"
        ),
    )
    op.create_index("ix_webhook_subscriptions_uscc", "webhook_subscriptions", ["uscc"])
    op.create_table(
        "webhook_events",
        sa.Column("id", _ULID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", _ULID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", _ULID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("next_attempt_at"),
        _ts("locked_until", nullable=True),
        _ts("delivered_at", nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("redelivery_of", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name="fk_webhook_deliveries_subscription_id_webhook_subscriptions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["webhook_events.id"], name="fk_webhook_deliveries_event_id_webhook_events"
        ),
        sa.UniqueConstraint(
            "subscription_id", "seq", name="uq_webhook_deliveries_subscription_id_seq"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
        ),
        sa.CheckConstraint("attempts >= 0", name="ck_webhook_deliveries_attempts"),
    )
    op.create_index(
        "ix_webhook_deliveries_subscription_id_status_seq",
        "webhook_deliveries",
        ["subscription_id", "status", "seq"],
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", _BIG_ID, nullable=False),
        _ts("at"),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_webhook_attempts_delivery_id_id", "webhook_attempts", ["delivery_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_attempts_delivery_id_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_index(
        "ix_webhook_deliveries_subscription_id_status_seq", table_name="webhook_deliveries"
    )
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_index("ix_webhook_subscriptions_uscc", table_name="webhook_subscriptions")
    op.drop_table("webhook_subscriptions")
