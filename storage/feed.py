"""The registry's change feed (issue 19): what changed, in commit order, for front systems.

Every registry write (licenses, seals, permits; the revocation of a relying party's key)
appends one row per changed thing to ``registry_feed`` in its own transaction, right after it
raised the registry's revision (:func:`storage.repository._bump_revision`).  That update
holds the revision row's lock until commit, so feed numbers are taken in commit order: a
reader that saw number N has seen every number below it, on SQLite and PostgreSQL alike.

A feed entry names the thing (``license`` USCC, ``seal`` ``uscc/kind/version``, ``permit``
id, ``access`` key id); a batch carries each named thing's state as it is when the batch is
read.  A front applying batches in order therefore ends at the centre's current state, and
applying one twice changes nothing (every change is an upsert of a whole record).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Index, String, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from .access_tables import ApiKeyRow
from .db import translate_errors
from .tables import Base, BigId, EnterpriseRow, PermitRow, SealRow, StatusChangeRow

__all__ = ["FeedBatchRows", "FeedEntryRow", "FeedKind", "FeedLog", "append_changes", "seal_key"]


class FeedKind(StrEnum):
    """What a feed entry names."""

    LICENSE = "license"
    SEAL = "seal"
    PERMIT = "permit"
    ACCESS = "access"


class FeedEntryRow(Base):
    """One change of the registry, numbered in commit order (migration 0016)."""

    __tablename__ = "registry_feed"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]

    __table_args__ = (Index(None, "kind", "key"),)


_ORDER = {FeedKind.LICENSE: 0, FeedKind.SEAL: 1, FeedKind.PERMIT: 2, FeedKind.ACCESS: 3}


def seal_key(uscc: str, kind: str, version: int) -> str:
    return f"{uscc}/{kind}/{version}"


def append_changes(session: Session, changes: Iterable[tuple[FeedKind, str]]) -> None:
    """Append the changes to the feed in the caller's transaction (after the revision's
    update, whose lock orders the numbers)."""
    rows = [
        {"kind": kind.value, "key": key, "at": datetime.now(UTC)}
        for kind, key in dict.fromkeys(changes)
    ]
    if rows:
        session.execute(insert(FeedEntryRow), rows)


@dataclass(frozen=True)
class FeedBatchRows:
    """The records changed after one cursor: ``next`` is the last entry's number read."""

    after: int
    next: int
    more: bool
    changes: list[dict[str, Any]]


class FeedLog:
    """Reads the feed and the records it names."""

    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)

    def head(self) -> int:
        with translate_errors(), self._read.begin() as session:
            return int(session.scalar(select(func.max(FeedEntryRow.seq))) or 0)

    def batch(self, after: int, limit: int) -> FeedBatchRows:
        """The entries numbered above ``after`` (at most ``limit``), each thing once, with
        the current state of what they name, in one read transaction."""
        with translate_errors(), self._read.begin() as session:
            entries = list(
                session.scalars(
                    select(FeedEntryRow)
                    .where(FeedEntryRow.seq > after)
                    .order_by(FeedEntryRow.seq)
                    .limit(limit + 1)
                )
            )
            more = len(entries) > limit
            entries = entries[:limit]
            last: dict[tuple[str, str], int] = {}
            for entry in entries:
                last[(entry.kind, entry.key)] = entry.seq
            changes = []
            # licenses before what refers to them (seals, permits), then in feed order
            for (kind, key), seq in sorted(
                last.items(), key=lambda item: (_ORDER[FeedKind(item[0][0])], item[1])
            ):
                record = _record(session, FeedKind(kind), key)
                changes.append({"seq": seq, "kind": kind, "key": key, "record": record})
            return FeedBatchRows(
                after=after,
                next=entries[-1].seq if entries else after,
                more=more,
                changes=changes,
            )


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _columns(row: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    skipped = set(skip)
    return {
        column.key: _json(getattr(row, column.key))
        for column in row.__table__.columns
        if column.key not in skipped
    }


#: what never leaves the centre: the seals' key references and the surrogate ids
_SEAL_PRIVATE = ("id", "key_ref", "sm2_key_ref")


def _record(session: Session, kind: FeedKind, key: str) -> dict[str, Any] | None:
    if kind is FeedKind.LICENSE:
        enterprise = session.get(EnterpriseRow, key)
        if enterprise is None:
            return None
        history = session.scalars(
            select(StatusChangeRow)
            .where(StatusChangeRow.uscc == key)
            .order_by(StatusChangeRow.at, StatusChangeRow.id)
        )
        return {
            **_columns(enterprise),
            "history": [_columns(h, ("id", "uscc")) for h in history],
        }
    if kind is FeedKind.SEAL:
        uscc, seal_kind, version = key.split("/")
        seal = session.scalars(
            select(SealRow).where(
                SealRow.uscc == uscc, SealRow.kind == seal_kind, SealRow.version == int(version)
            )
        ).first()
        return None if seal is None else _columns(seal, _SEAL_PRIVATE)
    if kind is FeedKind.PERMIT:
        permit = session.get(PermitRow, key)
        return None if permit is None else _columns(permit)
    api_key = session.get(ApiKeyRow, key)
    if api_key is None:
        return None
    # the revocation alone: a relying party's contact details stay at the centre
    filed_via = (api_key.access_form or {}).get("filed_via")
    return {"id": api_key.id, "revoked_at": _json(api_key.revoked_at), "filed_via": filed_via}
