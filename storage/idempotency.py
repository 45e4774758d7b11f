"""Idempotency records: a finished sealing request, found again by its ``Idempotency-Key``.

A record is keyed by (key, API key id): two callers never see each other's keys.  It holds
the SHA-256 of the request (the file and the options) and the archive id of the answer, and
is written in the transaction that writes the archive row (:meth:`IdempotencyStore.add`
takes the caller's session), so a key never points at a document that was not archived.  A
retry with the same key and the same request is answered with the archived document; the
same key with another request is 409 ``idempotency_conflict``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from seals.errors import ErrorKind, EsealError

from .access_tables import IdempotencyRow
from .db import translate_errors

__all__ = ["IdempotencyConflict", "IdempotencyStore"]


class IdempotencyConflict(EsealError):
    code = "idempotency_conflict"
    kind = ErrorKind.CONFLICT
    title = "Idempotency key reused with a different request"


class IdempotencyStore:
    """The ``idempotency`` table.  Thread-safe: sessions are per call."""

    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)

    def answered(self, key: str, principal: str, request_sha256: str) -> str | None:
        """The archive id that answered this request under ``key``; None if the key is new.

        Raises :class:`IdempotencyConflict` if the key answered a different request.
        """
        with translate_errors(), self._read.begin() as session:
            row = session.scalar(
                select(IdempotencyRow).where(
                    IdempotencyRow.key == key, IdempotencyRow.principal == principal
                )
            )
            if row is None:
                return None
            if row.request_sha256 != request_sha256:
                raise IdempotencyConflict("this Idempotency-Key was used for a different request")
            archive_id = row.archive_id
        assert archive_id is not None  # sealing records are written with their archive row
        return archive_id

    @staticmethod
    def add(
        session: Session,
        *,
        key: str,
        principal: str,
        request_sha256: str,
        archive_id: str,
        sha256: str,
        at: datetime,
    ) -> None:
        """Record the answer in the caller's transaction (the archive row's).  A concurrent
        request with the same key that commits first makes that transaction fail with an
        ``IntegrityError``; the caller then answers as the winner did (:meth:`answered`)."""
        session.add(
            IdempotencyRow(
                key=key,
                principal=principal,
                request_sha256=request_sha256,
                archive_id=archive_id,
                response_headers={"sha256": sha256},
                body=None,
                note=None,
                created_at=at,
            )
        )
