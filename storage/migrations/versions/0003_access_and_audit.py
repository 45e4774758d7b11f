"""API keys, the hash-chained audit log and its head, idempotency records.

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("access_form", sa.JSON(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index(op.f("ix_api_keys_uscc"), "api_keys", ["uscc"], unique=False)
    op.create_table(
        "audit",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("seal_kind", sa.String(16), nullable=True),
        sa.Column("serial", sa.String(48), nullable=True),
        sa.Column("document_sha256", sa.String(64), nullable=True),
        sa.Column("archive_id", sa.String(32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit")),
    )
    op.create_index("ix_audit_uscc_seq", "audit", ["uscc", "seq"], unique=False)
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "last_hash": "0" * 64}])
    op.create_table(
        "idempotency",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("principal", sa.String(32), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("archive_id", sa.String(32), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", "principal", name=op.f("pk_idempotency")),
    )


def downgrade() -> None:
    op.drop_table("idempotency")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_uscc_seq", table_name="audit")
    op.drop_table("audit")
    op.drop_index(op.f("ix_api_keys_uscc"), table_name="api_keys")
    op.drop_table("api_keys")
