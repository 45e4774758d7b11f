"""The SQL implementation of :class:`seals.permits.PermitRepository`.

Each writing method is one transaction: the permit's rows, its audit entry, and the
registry's revision (as :mod:`storage.repository` raises it for enterprises and seals), so a
process that caches what the registry says learns of the change at its next look-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from seals.audit import AuditEvent
from seals.permits import Permit, PermitDocument, PermitExists, PermitKind, PermitStatus

from .audit import append_events
from .db import WRITE, translate_errors
from .feed import FeedKind
from .repository import _bump_revision
from .tables import PermitDocumentRow, PermitRow

__all__ = ["SqlPermitRepository"]


class SqlPermitRepository:
    """Permits and their documents in the metadata database (migrated to head)."""

    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with translate_errors(), self._write.begin() as session:
            yield session

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with translate_errors(), self._read.begin() as session:
            yield session

    def add_permit(self, permit: Permit, event: AuditEvent) -> None:
        try:
            with self._writing() as session:
                session.add(_row(permit))
                session.flush()
                append_events(session, [event])
                _bump_revision(session, [(FeedKind.PERMIT, permit.id)])
        except IntegrityError as err:  # a concurrent add of the same type and number
            raise PermitExists(
                f"{permit.uscc} has a {permit.kind.value} numbered {permit.number} already"
            ) from err

    def save_permit(self, permit: Permit, event: AuditEvent) -> None:
        with self._writing() as session:
            row = session.get(PermitRow, permit.id, with_for_update=True)
            if row is None:  # not reached: the service read it first, and nothing deletes
                raise RuntimeError(f"permit {permit.id} vanished")
            _fill(row, permit)
            session.flush()
            append_events(session, [event])
            _bump_revision(session, [(FeedKind.PERMIT, permit.id)])

    def permits(self, uscc: str) -> list[Permit]:
        with self._reading() as session:
            rows = session.scalars(
                select(PermitRow)
                .where(PermitRow.uscc == uscc)
                .order_by(PermitRow.created_at, PermitRow.id)
            ).all()
            documents = _latest_documents(session, [r.id for r in rows])
            return [_to_permit(row, documents.get(row.id)) for row in rows]

    def permit(self, uscc: str, permit_id: str) -> Permit | None:
        with self._reading() as session:
            row = session.get(PermitRow, permit_id)
            if row is None or row.uscc != uscc:
                return None
            return _to_permit(row, _latest_documents(session, [row.id]).get(row.id))

    def add_document(
        self, permit: Permit, document: PermitDocument, content: bytes, event: AuditEvent
    ) -> None:
        with self._writing() as session:
            session.add(
                PermitDocumentRow(
                    permit_id=permit.id,
                    sha256=document.sha256,
                    size=document.size,
                    filename=document.filename,
                    content=content,
                    uploaded_at=document.uploaded_at,
                )
            )
            session.flush()
            append_events(session, [event])
            _bump_revision(session)

    def document(self, permit_id: str) -> tuple[PermitDocument, bytes] | None:
        with self._reading() as session:
            row = session.scalars(
                select(PermitDocumentRow)
                .where(PermitDocumentRow.permit_id == permit_id)
                .order_by(PermitDocumentRow.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            return _document(row), bytes(row.content)


def _latest_documents(session: Session, ids: list[str]) -> dict[str, PermitDocument]:
    if not ids:
        return {}
    newest = (
        select(func.max(PermitDocumentRow.id))
        .where(PermitDocumentRow.permit_id.in_(ids))
        .group_by(PermitDocumentRow.permit_id)
    )
    # the metadata only: the content is read when the document is asked for
    rows = session.execute(
        select(
            PermitDocumentRow.permit_id,
            PermitDocumentRow.sha256,
            PermitDocumentRow.size,
            PermitDocumentRow.filename,
            PermitDocumentRow.uploaded_at,
        ).where(PermitDocumentRow.id.in_(newest))
    ).all()
    return {r[0]: PermitDocument(r[1], r[2], r[3], r[4]) for r in rows}


def _document(row: PermitDocumentRow) -> PermitDocument:
    return PermitDocument(row.sha256, row.size, row.filename, row.uploaded_at)


def _row(permit: Permit) -> PermitRow:
    row = PermitRow(id=permit.id, uscc=permit.uscc, created_at=permit.created_at)
    _fill(row, permit)
    return row


def _fill(row: PermitRow, permit: Permit) -> None:
    row.kind = permit.kind.value
    row.name = permit.name
    row.number = permit.number
    row.issuing_authority = permit.issuing_authority
    row.scope = permit.scope
    row.valid_from = permit.valid_from
    row.valid_to = permit.valid_to
    row.status = permit.status.value
    row.status_reason = permit.status_reason
    row.updated_at = permit.updated_at


def _to_permit(row: PermitRow, document: PermitDocument | None) -> Permit:
    return Permit(
        id=row.id,
        uscc=row.uscc,
        kind=PermitKind(row.kind),
        name=row.name,
        number=row.number,
        issuing_authority=row.issuing_authority,
        scope=row.scope,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        status=PermitStatus(row.status),
        status_reason=row.status_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        document=document,
    )
