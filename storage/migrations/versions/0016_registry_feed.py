"""The registry's change feed and a front system's replica state and filings (issue 19).

Revision ID: 0016
Revises: 0014

``registry_feed``: one row per changed thing of the registry, numbered in commit order (the
transaction that changes it appends the row after raising ``registry_revision``).  A centre
fills it; a front reads the centre's over HTTP.  ``replica_state``: a front's position in the
centre's feed.  ``access_filings``: a front's access forms owed to the centre (an outbox).
New tables only.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "registry_feed",
        sa.Column("seq", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("seq", name="pk_registry_feed"),
    )
    op.create_index("ix_registry_feed_kind_key", "registry_feed", ["kind", "key"])
    op.create_table(
        "replica_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        _ts("issued_at", nullable=True),
        _ts("confirmed_at", nullable=True),
        sa.Column("feed_certificate", sa.Text(), nullable=True),
        sa.Column("pki", sa.JSON(), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_replica_state_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_replica_state"),
    )
    op.create_table(
        "access_filings",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("next_attempt_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("filed_at", nullable=True),
        sa.Column("upstream_id", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_access_filings"),
    )
    op.create_index("ix_access_filings_upstream_id", "access_filings", ["upstream_id"])
    op.create_index(
        "ix_access_filings_filed_at_next_attempt_at",
        "access_filings",
        ["filed_at", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("access_filings")
    op.drop_table("replica_state")
    op.drop_index("ix_registry_feed_kind_key", table_name="registry_feed")
    op.drop_table("registry_feed")
