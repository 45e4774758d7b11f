"""Enterprises, their license status history, and their seals (one row per seal version).

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Values of the CHECK constraints are written out here on purpose: a migration is a snapshot,
it must not change when the enums of the domain do.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_LICENSE_STATUS = "status IN ('active', 'suspended', 'cancelled', 'revoked')"


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "enterprises",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("legal_representative", sa.String(20), nullable=False),
        sa.Column("face", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("registered_at"),
        sa.PrimaryKeyConstraint("uscc", name="pk_enterprises"),
        sa.CheckConstraint(_LICENSE_STATUS, name="ck_enterprises_status"),
    )

    op.create_table(
        "license_status_history",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("at"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_license_status_history"),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name="fk_license_status_history_uscc_enterprises"
        ),
        sa.CheckConstraint(_LICENSE_STATUS, name="ck_license_status_history_status"),
    )
    op.create_index(
        "ix_license_status_history_uscc_at", "license_status_history", ["uscc", "at"]
    )

    op.create_table(
        "seals",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("key_ref", sa.Text(), nullable=False),
        sa.Column("key_algorithm", sa.String(32), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        _ts("not_before"),
        _ts("not_after"),
        sa.Column("image_png", sa.LargeBinary(), nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("image_source", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("status_changed_at", nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_seals"),
        sa.ForeignKeyConstraint(["uscc"], ["enterprises.uscc"], name="fk_seals_uscc_enterprises"),
        sa.UniqueConstraint("uscc", "kind", "version", name="uq_seals_uscc_kind_version"),
        sa.UniqueConstraint("serial", name="uq_seals_serial"),
        sa.CheckConstraint("version >= 1", name="ck_seals_version"),
        sa.CheckConstraint(
            "kind IN ('official', 'contract', 'finance', 'invoice', 'legal_rep')",
            name="ck_seals_kind",
        ),
        sa.CheckConstraint("status IN ('active', 'suspended', 'revoked')", name="ck_seals_status"),
        sa.CheckConstraint("image_source IN ('rendered', 'scan')", name="ck_seals_image_source"),
    )
    op.create_index("ix_seals_status", "seals", ["status"])


def downgrade() -> None:
    op.drop_index("ix_seals_status", table_name="seals")
    op.drop_table("seals")
    op.drop_index("ix_license_status_history_uscc_at", table_name="license_status_history")
    op.drop_table("license_status_history")
    op.drop_table("enterprises")
