"""Seal-use approval (用印审批): policies per enterprise and seal kind, requests, decisions.

Revision ID: 0011
Revises: 0015

``seal_policies`` says, per enterprise and seal kind, whether using the seal needs approval,
by how many approvers (``quorum``) of which (``approvers``: key ids, null for every approver
key of the enterprise), and when (``document_types``, ``min_amount_fen``).  ``approvals`` holds
each sealing request that needs approval, ``approval_votes`` the approvers' decisions, and
``approval_documents`` the uploaded bytes while the request waits (removed when it ends; the
SHA-256 stays on the request and in the audit log).  No existing table changes.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ULID = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")
_KINDS = "kind IN ('official', 'contract', 'finance', 'invoice', 'legal_rep')"
_STATUSES = "status IN ('pending', 'approved', 'sealed', 'rejected', 'expired', 'failed')"


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "seal_policies",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("approval", sa.String(16), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("approvers", sa.JSON(), nullable=True),
        sa.Column("document_types", sa.JSON(), nullable=True),
        sa.Column("min_amount_fen", sa.BigInteger(), nullable=True),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "kind", name="pk_seal_policies"),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name="fk_seal_policies_uscc_enterprises"
        ),
        sa.CheckConstraint(_KINDS, name="ck_seal_policies_kind"),
        sa.CheckConstraint("approval IN ('none', 'required')", name="ck_seal_policies_approval"),
        sa.CheckConstraint("quorum >= 1", name="ck_seal_policies_quorum"),
        sa.CheckConstraint("min_amount_fen >= 0", name="ck_seal_policies_min_amount"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", _ULID, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("requester_name", sa.String(200), nullable=False),
        _ts("requested_at"),
        _ts("expires_at"),
        _ts("finished_at", nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("document_size", sa.BigInteger(), nullable=False),
        sa.Column("document_format", sa.String(8), nullable=False),
        sa.Column("original_name", sa.String(255), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("document_type", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("placements", sa.JSON(), nullable=False),
        _ts("sealing_since", nullable=True),
        sa.Column("archive_id", _ULID, nullable=True),
        sa.Column("result_sha256", sa.String(64), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name="fk_approvals_uscc_enterprises"
        ),
        sa.UniqueConstraint(
            "requested_by", "idempotency_key", name="uq_approvals_requested_by_idempotency_key"
        ),
        sa.CheckConstraint(_STATUSES, name="ck_approvals_status"),
        sa.CheckConstraint(
            "document_format IN ('pdf', 'ofd')", name="ck_approvals_document_format"
        ),
        sa.CheckConstraint(
            "document_type IN ('contract', 'invoice', 'other')", name="ck_approvals_document_type"
        ),
        sa.CheckConstraint("document_size >= 0", name="ck_approvals_document_size"),
    )
    op.create_index("ix_approvals_uscc_status_id", "approvals", ["uscc", "status", "id"])
    op.create_index("ix_approvals_status_expires_at", "approvals", ["status", "expires_at"])
    op.create_table(
        "approval_votes",
        sa.Column("approval_id", _ULID, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        _ts("at"),
        sa.PrimaryKeyConstraint("approval_id", "key_id", name="pk_approval_votes"),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name="fk_approval_votes_approval_id_approvals",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("decision IN ('approve', 'reject')", name="ck_approval_votes_decision"),
    )
    op.create_table(
        "approval_documents",
        sa.Column("approval_id", _ULID, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("approval_id", name="pk_approval_documents"),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name="fk_approval_documents_approval_id_approvals",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("approval_documents")
    op.drop_table("approval_votes")
    op.drop_index("ix_approvals_status_expires_at", table_name="approvals")
    op.drop_index("ix_approvals_uscc_status_id", table_name="approvals")
    op.drop_table("approvals")
    op.drop_table("seal_policies")
