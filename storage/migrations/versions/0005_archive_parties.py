"""Parties of an archived document, its original name.

Revision ID: 0005
Revises: 0004

An archived document belongs to the enterprise that sealed it (``sealer``) and to every
registered enterprise whose valid seal it carries (``party``).  Documents archived before
this revision get their sealer as their one party.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ULID = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("archives") as batch:
        batch.add_column(sa.Column("original_name", sa.String(255), nullable=True))
    op.create_table(
        "archive_parties",
        sa.Column("archive_id", _ULID, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("archive_id", "uscc", name="pk_archive_parties"),
        sa.ForeignKeyConstraint(
            ["archive_id"], ["archives.id"], name="fk_archive_parties_archive_id_archives",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name="fk_archive_parties_uscc_enterprises"
        ),
        sa.CheckConstraint("role IN ('sealer', 'party')", name="ck_archive_parties_role"),
    )
    op.create_index(
        "ix_archive_parties_uscc_archive_id", "archive_parties", ["uscc", "archive_id"]
    )
    op.execute(
        "INSERT INTO archive_parties (archive_id, uscc, role) "
        "SELECT id, uscc, 'sealer' FROM archives"
    )


def downgrade() -> None:
    op.drop_index("ix_archive_parties_uscc_archive_id", table_name="archive_parties")
    op.drop_table("archive_parties")
    with op.batch_alter_table("archives") as batch:
        batch.drop_column("original_name")
