"""A front system's replica of the centre's registry (issue 19): applying feed batches.

The replica is the same tables as the centre's (enterprises, their status history, seals,
permits), filled from the centre's feed (:mod:`storage.feed`); ``replica_state`` holds where
the front is in the feed, the sequence and issue time of the last batch it accepted, when the
replica was last confirmed current, the pinned feed certificate and the centre's CA
certificates.  A batch is applied in one transaction with the new position, so a front that
stops half-way starts again from the last batch it applied whole.

Seal rows of the replica carry no key reference (``key_ref`` is :data:`NO_KEY`): a front
holds no seal keys, and no code path of a front signs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Engine,
    Integer,
    Text,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from .access_tables import ApiKeyRow
from .db import WRITE, translate_errors
from .feed import FeedKind
from .repository import _bump_revision
from .tables import Base, EnterpriseRow, PermitRow, SealRow, StatusChangeRow

__all__ = ["NO_KEY", "Replica", "ReplicaState", "ReplicaStateRow"]

#: the key reference of a replicated seal: there is none on a front
NO_KEY = "replica:none"


class ReplicaStateRow(Base):
    """One row: a front's position in the centre's feed (migration 0016)."""

    __tablename__ = "replica_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cursor: Mapped[int] = mapped_column(BigInteger)
    sequence: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    feed_certificate: Mapped[str | None] = mapped_column(Text)
    #: the centre's CA certificates (PEM) by role, as the last batch carried them
    pki: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


@dataclass(frozen=True)
class ReplicaState:
    cursor: int
    sequence: int
    issued_at: datetime | None
    confirmed_at: datetime | None
    feed_certificate: str | None
    pki: dict[str, Any] | None


class Replica:
    """The replica's state and the application of batches (thread-safe; one transaction
    per call)."""

    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with translate_errors(), self._write.begin() as session:
            yield session

    def state(self) -> ReplicaState:
        with translate_errors(), self._read.begin() as session:
            row = session.get(ReplicaStateRow, 1)
            if row is None:
                return ReplicaState(0, 0, None, None, None, None)
            return ReplicaState(
                row.cursor,
                row.sequence,
                row.issued_at,
                row.confirmed_at,
                row.feed_certificate,
                row.pki,
            )

    def pin(self, certificate_pem: str) -> None:
        """Keep the centre's feed certificate (first contact, or the configured one)."""
        with self._writing() as session:
            self._row(session).feed_certificate = certificate_pem

    def apply(
        self,
        *,
        after: int,
        next_cursor: int,
        sequence: int,
        issued_at: datetime,
        changes: list[dict[str, Any]],
        pki: dict[str, Any],
        revoked_keys: list[str],
    ) -> int:
        """Apply one verified batch; the number of records written.  Refuses (ValueError) a
        batch that does not start where the replica stands or goes backwards."""
        with self._writing() as session:
            row = self._row(session, lock=True)
            if after != row.cursor:
                raise ValueError(f"the batch starts at {after}, the replica stands at {row.cursor}")
            if sequence < row.sequence or next_cursor < after:
                raise ValueError("the batch goes backwards")
            if row.issued_at is not None and issued_at <= row.issued_at:
                raise ValueError("the batch is not newer than the last one accepted")
            written = 0
            for change in changes:
                record = change.get("record")
                if record is None:
                    continue
                _APPLY[FeedKind(change["kind"])](session, record)
                written += 1
            for key_id in revoked_keys:
                key = session.get(ApiKeyRow, key_id)
                if key is not None and key.revoked_at is None:
                    key.revoked_at = issued_at
            row.cursor, row.sequence, row.issued_at = next_cursor, sequence, issued_at
            row.confirmed_at = issued_at
            row.pki = pki
            if written:
                session.flush()
                _bump_revision(session)  # the verifier's registry cache reads afresh
            return written

    @staticmethod
    def _row(session: Session, *, lock: bool = False) -> ReplicaStateRow:
        row = session.get(ReplicaStateRow, 1, with_for_update=lock)
        if row is None:
            row = ReplicaStateRow(id=1, cursor=0, sequence=0)
            session.add(row)
            session.flush()
        return row


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _license(session: Session, record: dict[str, Any]) -> None:
    uscc = record["uscc"]
    row = session.get(EnterpriseRow, uscc)
    if row is None:
        row = EnterpriseRow(uscc=uscc)
        session.add(row)
    row.name, row.type = record["name"], record["type"]
    row.legal_representative = record["legal_representative"]
    row.face, row.status = record["face"], record["status"]
    row.registered_at = _dt(record["registered_at"])  # type: ignore[assignment]
    session.flush()
    session.execute(delete(StatusChangeRow).where(StatusChangeRow.uscc == uscc))
    session.add_all(
        StatusChangeRow(uscc=uscc, status=h["status"], at=_dt(h["at"]), reason=h["reason"])
        for h in record["history"]
    )


_SEAL_TIMES = ("not_before", "not_after", "created_at", "status_changed_at", "compromised_at")
_SEAL_BYTES = ("image_png", "esl")


def _seal(session: Session, record: dict[str, Any]) -> None:
    values = dict(record)
    for name in _SEAL_TIMES:
        values[name] = _dt(values.get(name))
    for name in _SEAL_BYTES:
        if values.get(name) is not None:
            values[name] = base64.b64decode(values[name])
    row = session.scalars(
        select(SealRow).where(
            SealRow.uscc == values["uscc"],
            SealRow.kind == values["kind"],
            SealRow.version == values["version"],
        )
    ).first()
    if row is None:
        row = SealRow(key_ref=NO_KEY)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()


def _permit(session: Session, record: dict[str, Any]) -> None:
    row = session.get(PermitRow, record["id"])
    if row is None:
        row = PermitRow(id=record["id"])
        session.add(row)
    for name, value in record.items():
        if name in ("valid_from", "valid_to"):
            value = date.fromisoformat(value) if value else None
        elif name in ("created_at", "updated_at"):
            value = _dt(value)
        setattr(row, name, value)
    session.flush()


def _access(session: Session, record: dict[str, Any]) -> None:
    """A relying party's key revoked at the centre: handled by the caller, which knows which
    of the front's own keys a filing stands for (``revoked_keys``)."""


_APPLY = {
    FeedKind.LICENSE: _license,
    FeedKind.SEAL: _seal,
    FeedKind.PERMIT: _permit,
    FeedKind.ACCESS: _access,
}
