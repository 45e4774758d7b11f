"""The archive of sealed documents: one row per document, one per seal applied to it.

Revision ID: 0002
Revises: 0003
Create Date: 2025-01-02

It follows 0003 (access and audit), which was merged first: revision ids are names, the
order is the chain of ``down_revision``.

Archive ids are ULIDs (26 characters, sortable by creation time), so keyset paging and time
ranges are ranges of the primary key and of the ``(uscc, ..., id)`` indexes; no query needs
OFFSET.  Ids and object keys use the "C" collation on PostgreSQL so that they sort bytewise:
ULID order is then time order, and keys sort as the object store lists them.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OBJECT_KEY = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
_ULID = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("id", _ULID, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        _ts("timestamp_time", nullable=True),
        sa.Column("document_type", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.Column("object_key", _OBJECT_KEY, nullable=False),
        sa.Column("version_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_archives"),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name="fk_archives_uscc_enterprises"
        ),
        sa.UniqueConstraint("object_key", name="uq_archives_object_key"),
        sa.CheckConstraint("status IN ('ok', 'missing', 'corrupt')", name="ck_archives_status"),
        sa.CheckConstraint(
            "level IN ('B-B', 'B-T', 'B-LT', 'B-LTA')", name="ck_archives_level"
        ),
        sa.CheckConstraint(
            "document_type IN ('contract', 'invoice', 'other')",
            name="ck_archives_document_type",
        ),
        sa.CheckConstraint("size >= 0", name="ck_archives_size"),
    )
    op.create_index("ix_archives_uscc_id", "archives", ["uscc", "id"])
    op.create_index(
        "ix_archives_uscc_document_type_id", "archives", ["uscc", "document_type", "id"]
    )
    op.create_index("ix_archives_uscc_reference_id", "archives", ["uscc", "reference", "id"])
    op.create_index("ix_archives_status", "archives", ["status"])

    op.create_table(
        "archive_seals",
        sa.Column("archive_id", _ULID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("archive_id", "position", name="pk_archive_seals"),
        sa.ForeignKeyConstraint(
            ["archive_id"], ["archives.id"], name="fk_archive_seals_archive_id_archives"
        ),
        sa.CheckConstraint(
            "kind IN ('official', 'contract', 'finance', 'invoice', 'legal_rep')",
            name="ck_archive_seals_kind",
        ),
        sa.CheckConstraint("position >= 0", name="ck_archive_seals_position"),
    )
    op.create_index(
        "ix_archive_seals_uscc_kind_archive_id", "archive_seals", ["uscc", "kind", "archive_id"]
    )
    op.create_index("ix_archive_seals_serial", "archive_seals", ["serial"])


def downgrade() -> None:
    op.drop_index("ix_archive_seals_serial", table_name="archive_seals")
    op.drop_index("ix_archive_seals_uscc_kind_archive_id", table_name="archive_seals")
    op.drop_table("archive_seals")
    op.drop_index("ix_archives_status", table_name="archives")
    op.drop_index("ix_archives_uscc_reference_id", table_name="archives")
    op.drop_index("ix_archives_uscc_document_type_id", table_name="archives")
    op.drop_index("ix_archives_uscc_id", table_name="archives")
    op.drop_table("archives")
