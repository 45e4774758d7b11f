"""Archived files of three formats: sealed PDFs, sealed OFDs, GB/T 38540 signatures.

Revision ID: 0010
Revises: 0009

``archives.format`` is ``pdf``, ``ofd`` or ``ses`` (``seals.vocab.DocumentFormat``); every
row archived before this revision is a PDF, which the column's default gives it.  The object
key and the names a file is downloaded and exported under take the format's extension.

``level`` keeps its one word list (PAdES's); an OFD or SES record is ``B-B`` or ``B-T`` (its
``SES_Signature`` carries an SM2 timestamp), never ``B-LT``/``B-LTA``, which need a PDF's DSS
and document timestamps: a second CHECK says so.  Later versions (``archive_versions``) are
renewals and extensions of PDFs, so that table gets no format column.

It follows 0009 (the seals' GB/T 38540 seal data); neither touches the other's tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_FORMAT_CHECK = "format IN ('pdf', 'ofd', 'ses')"
_LEVEL_CHECK = "format = 'pdf' OR level IN ('B-B', 'B-T')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # a batch copy of ``archives`` would drop the table that archive_seals,
        # archive_parties and archive_versions refer to, which SQLite's foreign keys refuse
        # once rows exist; ADD COLUMN takes named CHECKs in place (and tests old rows)
        op.execute(
            "ALTER TABLE archives ADD COLUMN format VARCHAR(8) DEFAULT 'pdf' NOT NULL "
            f"CONSTRAINT ck_archives_format CHECK ({_FORMAT_CHECK}) "
            f"CONSTRAINT ck_archives_level_of_format CHECK ({_LEVEL_CHECK})"
        )
        return
    op.add_column(
        "archives", sa.Column("format", sa.String(8), nullable=False, server_default="pdf")
    )
    op.create_check_constraint("ck_archives_format", "archives", _FORMAT_CHECK)
    op.create_check_constraint("ck_archives_level_of_format", "archives", _LEVEL_CHECK)


def downgrade() -> None:
    # without the column an OFD or SES row would read as a PDF: refuse rather than lie
    others = op.get_bind().scalar(sa.text("SELECT count(*) FROM archives WHERE format <> 'pdf'"))
    if others:
        raise RuntimeError(
            f"{others} archived OFD or SES documents would read as PDFs below revision 0010; "
            "the downgrade stops"
        )
    if op.get_bind().dialect.name == "sqlite":
        # the column's CHECKs are its own, so SQLite drops them with it
        op.execute("ALTER TABLE archives DROP COLUMN format")
        return
    op.drop_constraint("ck_archives_level_of_format", "archives", type_="check")
    op.drop_constraint("ck_archives_format", "archives", type_="check")
    op.drop_column("archives", "format")
