"""Permits and filings under a license (issue 18, 一网展示).

Revision ID: 0014
Revises: 0013 (re-chained after merging main: it follows 0013)

``permits``: one row per permit (许可) or filing (备案) of an enterprise, with its recorded
status; the status a reader sees is computed from it and the day (a permit past its last day
reads ``expired`` without a write).  ``permit_documents``: every uploaded copy of a permit
(PDF) with its SHA-256, never changed; the newest is the permit's document.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "permits",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("issuing_authority", sa.String(100), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_permits"),
        sa.ForeignKeyConstraint(["uscc"], ["enterprises.uscc"], name="fk_permits_uscc_enterprises"),
        sa.UniqueConstraint("uscc", "kind", "number", name="uq_permits_uscc_kind_number"),
        sa.CheckConstraint("kind IN ('permit', 'filing')", name="ck_permits_kind"),
        sa.CheckConstraint(
            "status IN ('valid', 'suspended', 'revoked', 'expired')", name="ck_permits_status"
        ),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_permits_period"),
    )
    op.create_table(
        "permit_documents",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("permit_id", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _ts("uploaded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_permit_documents"),
        sa.ForeignKeyConstraint(
            ["permit_id"], ["permits.id"], name="fk_permit_documents_permit_id_permits"
        ),
        sa.CheckConstraint("size >= 0", name="ck_permit_documents_size"),
    )
    op.create_index(
        "ix_permit_documents_permit_id_id", "permit_documents", ["permit_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_permit_documents_permit_id_id", table_name="permit_documents")
    op.drop_table("permit_documents")
    op.drop_table("permits")
