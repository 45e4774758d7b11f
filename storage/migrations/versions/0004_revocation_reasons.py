"""Seal revocation reason codes and key-compromise times.

Revision ID: 0004
Revises: 0002

Existing revoked and suspended seals get the code they were published with before: a
suspension ``certificate_hold``, a re-issue ``superseded``, the seals of a cancelled or
revoked license ``cessation_of_operation``, every other revocation ``unspecified``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CODES = (
    "unspecified",
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
)


def upgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.add_column(sa.Column("reason_code", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("compromised_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            "ck_seals_reason_code",
            "reason_code IN (" + ", ".join(f"'{c}'" for c in _CODES) + ")",
        )
    op.execute(
        "UPDATE seals SET reason_code = CASE"
        " WHEN status = 'suspended' THEN 'certificate_hold'"
        " WHEN status_reason = 'superseded' THEN 'superseded'"
        " WHEN status_reason LIKE 'license %' THEN 'cessation_of_operation'"
        " ELSE 'unspecified' END"
        " WHERE status IN ('suspended', 'revoked')"
    )


def downgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.drop_constraint("ck_seals_reason_code", type_="check")
        batch.drop_column("compromised_at")
        batch.drop_column("reason_code")
