"""Versions of an archived document (B-LTA renewal).

Revision ID: 0006
Revises: 0005

Version 1 of a document is its ``archives`` row, unchanged.  A renewal (a new document
timestamp) or an extension writes the new file as a new object and one ``archive_versions``
row with its SHA-256, size and where it is; the original file stays.  ``renew_by`` is the
notAfter of the certificate of the version's last timestamp, so ``archive renew --before``
can skip documents renewed recently without reading them.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OBJECT_KEY = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
_ULID = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "archive_versions",
        sa.Column("archive_id", _ULID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.Column("object_key", _OBJECT_KEY, nullable=False),
        sa.Column("version_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("renew_by", nullable=True),
        sa.PrimaryKeyConstraint("archive_id", "version", name="pk_archive_versions"),
        sa.ForeignKeyConstraint(
            ["archive_id"], ["archives.id"], name="fk_archive_versions_archive_id_archives"
        ),
        sa.UniqueConstraint("object_key", name="uq_archive_versions_object_key"),
        sa.CheckConstraint("version >= 2", name="ck_archive_versions_version"),
        sa.CheckConstraint("action IN ('renew', 'extend')", name="ck_archive_versions_action"),
        sa.CheckConstraint(
            "status IN ('ok', 'missing', 'corrupt')", name="ck_archive_versions_status"
        ),
        sa.CheckConstraint(
            "level IN ('B-B', 'B-T', 'B-LT', 'B-LTA')", name="ck_archive_versions_level"
        ),
        sa.CheckConstraint("size >= 0", name="ck_archive_versions_size"),
    )


def downgrade() -> None:
    op.drop_table("archive_versions")
