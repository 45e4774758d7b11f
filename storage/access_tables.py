"""Tables of access and accountability: API keys, the audit chain, idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base, UTCDateTime

__all__ = ["ApiKeyRow", "AuditHeadRow", "AuditRow", "IdempotencyRow"]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: SHA-256 of the secret part of the token (the token itself is shown once, never stored)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: the relying party's access form (附件2 电子营业执照应用接入信息表), for verifier keys
    access_form: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditHeadRow(Base):
    """One row: the chain's tip. Updating it first serialises writers of the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditRow(Base):
    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_uscc_seq", "uscc", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    uscc: Mapped[str | None] = mapped_column(String(18))
    seal_kind: Mapped[str | None] = mapped_column(String(16))
    serial: Mapped[str | None] = mapped_column(String(48))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    archive_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class IdempotencyRow(Base):
    """A finished request's answer, replayed for a retry with the same key."""

    __tablename__ = "idempotency"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    principal: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    archive_id: Mapped[str | None] = mapped_column(String(32))
    response_headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
