"""The hash-chained audit log.

Each entry's hash is SHA-256 over the previous hash and the entry's canonical JSON, so
changing, removing or reordering any entry breaks every hash after it.  Entries are written
in the transaction of the change they record; a single head row serialises writers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from seals.audit import AuditEvent

from .access_tables import AuditHeadRow, AuditRow
from .db import WRITE, translate_errors

__all__ = ["GENESIS", "AuditLog", "append_events", "entry_hash"]

GENESIS = "0" * 64


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _fields(row: AuditRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at.astimezone(UTC).isoformat(),
        "actor": row.actor,
        "action": row.action,
        "uscc": row.uscc,
        "seal_kind": row.seal_kind,
        "serial": row.serial,
        "document_sha256": row.document_sha256,
        "archive_id": row.archive_id,
        "detail": row.detail,
    }


def append_events(
    session: Session, events: Iterable[AuditEvent], at: datetime | None = None
) -> list[int]:
    """Append ``events`` in the caller's transaction; returns their sequence numbers."""
    events = list(events)
    if not events:
        return []
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(0x65736561)))
    session.execute(
        update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=AuditHeadRow.seq)
    )  # takes the write lock on the head
    head = session.get(AuditHeadRow, 1, populate_existing=True)
    if head is None:
        head = AuditHeadRow(id=1, seq=0, last_hash=GENESIS)
        session.add(head)
        session.flush()
    when = (at or datetime.now(UTC)).astimezone(UTC)
    seqs = []
    for event in events:
        row = AuditRow(
            seq=head.seq + 1,
            at=when,
            actor=event.actor,
            action=event.action,
            uscc=event.uscc,
            seal_kind=event.seal_kind,
            serial=event.serial,
            document_sha256=event.document_sha256,
            archive_id=event.archive_id,
            detail=dict(event.detail),
            prev_hash=head.last_hash,
            hash="",
        )
        row.hash = entry_hash(head.last_hash, _fields(row))
        session.add(row)
        head.seq, head.last_hash = row.seq, row.hash
        seqs.append(row.seq)
    session.flush()
    return seqs


class AuditLog:
    """Reading and checking the chain."""

    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    def append(self, events: Iterable[AuditEvent]) -> list[int]:
        with translate_errors(), self._write.begin() as session:
            return append_events(session, events)

    def entries(
        self, *, uscc: str | None = None, after: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        stmt = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(limit)
        if uscc is not None:
            stmt = stmt.where(AuditRow.uscc == uscc)
        with translate_errors(), self._read.begin() as session:
            return [
                {**_fields(r), "prev_hash": r.prev_hash, "hash": r.hash}
                for r in session.scalars(stmt)
            ]

    def verify(self, batch: int = 1000) -> dict[str, Any]:
        """Recompute the chain; report the first entry whose hash or link is wrong."""
        prev, count, after = GENESIS, 0, 0
        with translate_errors(), self._read.begin() as session:
            while True:
                rows = list(
                    session.scalars(
                        select(AuditRow)
                        .where(AuditRow.seq > after)
                        .order_by(AuditRow.seq)
                        .limit(batch)
                    )
                )
                if not rows:
                    break
                for row in rows:
                    expected = entry_hash(prev, _fields(row))
                    if row.prev_hash != prev or row.hash != expected or row.seq != count + 1:
                        return {
                            "ok": False,
                            "entries": count,
                            "first_broken": row.seq,
                            "reason": "sequence gap"
                            if row.seq != count + 1
                            else (
                                "link to the previous entry broken"
                                if row.prev_hash != prev
                                else "entry changed after it was written"
                            ),
                        }
                    prev, count, after = row.hash, count + 1, row.seq
            head = session.get(AuditHeadRow, 1)
        if head is not None and (head.seq != count or head.last_hash != prev):
            return {
                "ok": False,
                "entries": count,
                "first_broken": count + 1,
                "reason": "entries missing at the end of the chain",
            }
        return {"ok": True, "entries": count, "first_broken": None, "reason": None}
