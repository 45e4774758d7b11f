"""Login challenges of relying parties (认证登录 with the business license).

Revision ID: 0015
Revises: 0010

One row per challenge a relying party asks for (``POST /v1/auth/challenges``): its nonce
(unique per relying party), purpose and lifetime; the enterprise that confirmed it, the signed
assertion, and when the relying party verified that online (once).  A new table only: no
other table changes, so it follows any revision that leaves ``enterprises`` in place.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("relying_party", sa.String(32), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=True),
        sa.Column("expect_uscc", sa.String(18), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("confirmed_by", sa.String(32), nullable=True),
        _ts("confirmed_at", nullable=True),
        sa.Column("assertion", sa.Text(), nullable=True),
        _ts("assertion_expires_at", nullable=True),
        _ts("verified_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_login_challenges"),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name="fk_login_challenges_uscc_enterprises"
        ),
        sa.UniqueConstraint(
            "relying_party", "nonce", name="uq_login_challenges_relying_party_nonce"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed')", name="ck_login_challenges_status"
        ),
        sa.CheckConstraint(
            "algorithm IN ('ES256', 'RS256', 'SM2SM3')", name="ck_login_challenges_algorithm"
        ),
        sa.CheckConstraint(
            "status = 'pending' OR (uscc IS NOT NULL AND assertion IS NOT NULL)",
            name="ck_login_challenges_confirmed",
        ),
    )
    op.create_index("ix_login_challenges_expires_at", "login_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_login_challenges_expires_at", table_name="login_challenges")
    op.drop_table("login_challenges")
