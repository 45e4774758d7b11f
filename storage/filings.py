"""A front's access forms waiting to be filed with the centre (备案), an outbox (issue 19).

A department registers its verifier key at a front with the access form; the row is written
in the transaction that makes the key, and a worker sends it upstream
(``POST /v1/access-forms``) until the centre accepts it, recording the centre's id.  When an
admin at the centre revokes that filing, the registry feed names it and the front revokes the
key the filing stands for (:meth:`FilingOutbox.keys_of_filings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Engine, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from .db import WRITE, translate_errors
from .tables import Base

__all__ = ["AccessFilingRow", "Filing", "FilingOutbox"]


class AccessFilingRow(Base):
    """One verifier key's access form, owed to the centre until ``filed_at`` (migration 0016)."""

    __tablename__ = "access_filings"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer)
    filed_at: Mapped[datetime | None]
    #: the id the centre gave the filing (its key id in the centre's feed)
    upstream_id: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "upstream_id"), Index(None, "filed_at", "next_attempt_at"))


@dataclass(frozen=True)
class Filing:
    key_id: str
    name: str
    form: dict[str, Any]
    attempts: int


class FilingOutbox:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    def add(self, key_id: str, name: str, form: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        with translate_errors(), self._write.begin() as session:
            session.add(
                AccessFilingRow(
                    key_id=key_id,
                    name=name,
                    form=form,
                    created_at=now,
                    next_attempt_at=now,
                    attempts=0,
                )
            )

    def due(self, limit: int = 20) -> list[Filing]:
        now = datetime.now(UTC)
        with translate_errors(), self._read.begin() as session:
            rows = session.scalars(
                select(AccessFilingRow)
                .where(AccessFilingRow.filed_at.is_(None), AccessFilingRow.next_attempt_at <= now)
                .order_by(AccessFilingRow.created_at)
                .limit(limit)
            )
            return [Filing(r.key_id, r.name, r.form, r.attempts) for r in rows]

    def filed(self, key_id: str, upstream_id: str) -> None:
        with translate_errors(), self._write.begin() as session:
            row = session.get(AccessFilingRow, key_id)
            if row is not None:
                row.filed_at, row.upstream_id, row.last_error = datetime.now(UTC), upstream_id, None

    def failed(self, key_id: str, error: str, backoff: float) -> None:
        with translate_errors(), self._write.begin() as session:
            row = session.get(AccessFilingRow, key_id)
            if row is not None:
                row.attempts += 1
                row.last_error = error[:500]
                delay = min(backoff * 2 ** min(row.attempts, 8), 300.0)
                row.next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)

    def status(self, key_id: str) -> dict[str, Any] | None:
        with translate_errors(), self._read.begin() as session:
            row = session.get(AccessFilingRow, key_id)
            if row is None:
                return None
            return {
                "filed": row.filed_at is not None,
                "filed_at": row.filed_at.isoformat() if row.filed_at else None,
                "upstream_id": row.upstream_id,
                "attempts": row.attempts,
            }

    def keys_of_filings(self, upstream_ids: list[str]) -> list[str]:
        """The front's key ids the centre's filings ``upstream_ids`` stand for."""
        if not upstream_ids:
            return []
        with translate_errors(), self._read.begin() as session:
            return list(
                session.scalars(
                    select(AccessFilingRow.key_id).where(
                        AccessFilingRow.upstream_id.in_(upstream_ids)
                    )
                )
            )
