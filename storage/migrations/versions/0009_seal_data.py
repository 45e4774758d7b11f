"""GB/T 38540 seal data (SESeal, ``.esl``) of each seal version with SM2.

Revision ID: 0009
Revises: 0008

``esl`` holds the DER of the seal version's SESeal, signed by the platform's seal maker;
``esl_id`` its esID and ``esl_version`` its SESeal version (4, or 5 with a timestamp).  All
nullable: seals without SM2 have none, and seal versions issued before this migration have
none either (nothing is back-filled: a re-issue, or an image upload, makes one).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.add_column(sa.Column("esl", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("esl_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("esl_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.drop_column("esl_version")
        batch.drop_column("esl_id")
        batch.drop_column("esl")
