"""The registry's revision: a counter every write of enterprises or seals raises (issue 13).

Revision ID: 0008
Revises: 0007

One row (``id = 1``).  Each status change, whoever makes it (a server, the CLI), raises it
in the transaction that changes the status, so a server's cache of seal statuses (its OCSP
responses) sees a change made by another process at its next look-up instead of when the
cached response expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "registry_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_registry_revision_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_revision")),
    )
    op.bulk_insert(table, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("registry_revision")
