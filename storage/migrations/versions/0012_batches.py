"""Batches: many documents queued for sealing in the background.

Revision ID: 0012
Revises: 0011

``batches`` is one request of ``POST /v1/batches``; ``batch_items`` holds each file, its
input until a worker has sealed it (or given up on it), then its result: the archive id and
SHA-256 of the sealed file, or the code and detail of the problem.  The queue lives here so
that it survives a restart and any worker process of any host can take a file: a worker
claims a file with a lease (``worker``, ``lease_until``; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the write lock on SQLite) and a file whose lease ran out is claimed again.

It follows 0010 and touches no earlier table; 0011 (another change made beside it) is
independent of it.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ULID = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", _ULID, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("principal", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.ForeignKeyConstraint(["uscc"], ["enterprises.uscc"], name="fk_batches_uscc_enterprises"),
        sa.UniqueConstraint(
            "principal", "idempotency_key", name="uq_batches_principal_idempotency_key"
        ),
        sa.CheckConstraint("status IN ('queued', 'running', 'done')", name="ck_batches_status"),
        sa.CheckConstraint("total >= 1 AND done >= 0 AND failed >= 0", name="ck_batches_counts"),
        sa.CheckConstraint("done + failed <= total", name="ck_batches_finished"),
    )
    op.create_index("ix_batches_uscc_id", "batches", ["uscc", "id"])
    op.create_table(
        "batch_items",
        sa.Column("batch_id", _ULID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("input", sa.LargeBinary(), nullable=True),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("input_size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(64), nullable=True),
        _ts("lease_until", nullable=True),
        _ts("not_before", nullable=True),
        sa.Column("archive_id", _ULID, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("format", sa.String(8), nullable=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("notices", sa.JSON(), nullable=True),
        _ts("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "position", name="pk_batch_items"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name="fk_batch_items_batch_id_batches",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_batch_items_status"
        ),
        sa.CheckConstraint("position >= 0 AND attempts >= 0", name="ck_batch_items_position"),
        sa.CheckConstraint("format IN ('pdf', 'ofd', 'ses')", name="ck_batch_items_format"),
    )
    op.create_index(
        "ix_batch_items_status_batch_id_position",
        "batch_items",
        ["status", "batch_id", "position"],
    )


def downgrade() -> None:
    op.drop_index("ix_batch_items_status_batch_id_position", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_index("ix_batches_uscc_id", table_name="batches")
    op.drop_table("batches")
