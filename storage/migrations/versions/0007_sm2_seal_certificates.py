"""SM2 seal certificates beside the ECDSA/RSA ones (issue 14).

Revision ID: 0007
Revises: 0006

A seal version may hold a second key and certificate, SM2 (keystore/sm2_pki.py), sharing
the row's kind, version, image and status.  All three columns are nullable: seals issued
before (or with ``ESEAL_SEAL_ALGORITHMS`` without ``sm2``) have none and keep working.
``sm2_serial`` is lowercase hex like ``serial`` and unique among SM2 certificates.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.add_column(sa.Column("sm2_key_ref", sa.Text(), nullable=True))
        batch.add_column(sa.Column("sm2_serial", sa.String(40), nullable=True))
        batch.add_column(sa.Column("sm2_certificate_pem", sa.Text(), nullable=True))
        batch.create_unique_constraint("uq_seals_sm2_serial", ["sm2_serial"])


def downgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.drop_constraint("uq_seals_sm2_serial", type_="unique")
        batch.drop_column("sm2_certificate_pem")
        batch.drop_column("sm2_serial")
        batch.drop_column("sm2_key_ref")
