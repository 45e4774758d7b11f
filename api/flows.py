"""The sealing request from upload to answer: checks, signing, archive, audit, idempotency.

A sealed document is returned only after it is archived and its audit entries are committed;
if either fails, the request fails and no half-done state stays behind.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from keystore.errors import ErrorKind, EsealError
from seals.audit import AuditEvent
from seals.kinds import parse_kind
from signer.levels import PadesLevel
from signer.placement import AtKeyword, AtPoint, CrossPage, Placement
from signer.service import DocumentType, SealingOptions, SealingService, SealOrder, default_kind
from storage.access_tables import IdempotencyRow
from storage.archive import Archive, SealUse
from storage.audit import append_events
from storage.db import WRITE, translate_errors

from .auth import Principal
from .models import SealSpec, SignOptions

__all__ = ["IdempotencyConflict", "SealedDocument", "SignFlow", "to_sealing_options"]


class IdempotencyConflict(EsealError):
    code = "idempotency_conflict"
    kind = ErrorKind.CONFLICT
    title = "Idempotency key reused with a different request"


@dataclass(frozen=True)
class SealedDocument:
    pdf: bytes
    sha256: str
    archive_id: str | None
    replayed: bool = False
    #: seal kinds applied, in order (empty for a replay)
    kinds: tuple[str, ...] = ()


def _placement(spec: SealSpec) -> Placement | None:
    if spec.keyword is not None:
        return AtKeyword(spec.keyword, occurrence=spec.occurrence, page=spec.page)
    if spec.x is not None and spec.y is not None:
        return AtPoint(page=spec.page if spec.page is not None else -1, x=spec.x, y=spec.y)
    if spec.page is not None:
        from signer.errors import InvalidPlacement

        raise InvalidPlacement("a page needs x and y (or a keyword)")
    return None


def to_sealing_options(options: SignOptions) -> SealingOptions:
    doc_type = DocumentType(options.document_type)
    orders = [SealOrder(parse_kind(s.kind), _placement(s)) for s in options.seals]
    if options.cross_page:
        first = orders[0].kind if orders else default_kind(doc_type)
        orders.append(SealOrder(first, CrossPage()))
    return SealingOptions(
        seals=orders,
        document_type=doc_type,
        level=PadesLevel(options.level),
        reason=options.reason,
        location=options.location,
        certify=options.certify,
        allow_invoice_seal_on_contract=options.allow_invoice_seal_on_contract,
        reference=options.reference,
    )


def _timestamp_time(pdf: bytes) -> datetime | None:
    """genTime of the last signature's timestamp token, for the archive record."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        sigs = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_regular_signatures
        attrs = sigs[-1].signer_info["unsigned_attrs"]
        for attr in attrs:
            if attr["type"].native == "signature_time_stamp_token":
                tst = attr["values"][0]["content"]["encap_content_info"]["content"].parsed
                value: datetime = tst["gen_time"].native
                return value
    except Exception:
        return None
    return None


class SignFlow:
    def __init__(self, engine: Engine, sealing: SealingService, archive: Archive) -> None:
        self._sealing = sealing
        self._archive = archive
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    def _replay(self, key: str, principal: Principal, request_sha: str) -> SealedDocument | None:
        with translate_errors(), self._read.begin() as session:
            row = session.scalar(select(IdempotencyRow).where(
                IdempotencyRow.key == key, IdempotencyRow.principal == principal.key_id))
            if row is None:
                return None
            if row.request_sha256 != request_sha:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used for a different request")
            archive_id = row.archive_id
        assert archive_id is not None
        body = self._archive.read(archive_id)  # SHA-256 checked as it is read
        return SealedDocument(body, hashlib.sha256(body).hexdigest(), archive_id, True)

    def sign(self, principal: Principal, pdf: bytes, options: SignOptions,
             idempotency_key: str | None) -> SealedDocument:
        """Blocking: call it off the event loop."""
        assert principal.uscc is not None
        request_sha = hashlib.sha256(
            pdf + b"\0" + options.model_dump_json().encode()).hexdigest()
        if idempotency_key:
            replay = self._replay(idempotency_key, principal, request_sha)
            if replay is not None:
                return replay
        sealing_options = to_sealing_options(options)
        signed, used = asyncio.run(self._sealing.seal(principal.uscc, pdf, sealing_options))
        sha = hashlib.sha256(signed).hexdigest()
        events = [
            AuditEvent("seal.use", principal.key_id, uscc=seal.uscc, seal_kind=seal.kind.value,
                       serial=format(seal.serial, "x"), document_sha256=sha,
                       detail={"level": options.level, "document_type": options.document_type,
                               "reference": options.reference,
                               "input_sha256": hashlib.sha256(pdf).hexdigest()})
            for seal in used
        ]
        now = datetime.now(UTC)

        def in_row_transaction(session: Session, archive_id: str) -> None:
            """Audit entries (and the idempotency record) commit with the archive row."""
            append_events(session, [replace(e, archive_id=archive_id) for e in events], now)
            if idempotency_key:
                session.add(IdempotencyRow(
                    key=idempotency_key, principal=principal.key_id,
                    request_sha256=request_sha, archive_id=archive_id,
                    response_headers={"sha256": sha}, body=None, note=None, created_at=now))

        try:
            record = self._archive.put(
                signed, uscc=principal.uscc, seals=SealUse.of_all(used), level=options.level,
                document_type=options.document_type, reference=options.reference,
                timestamp_time=_timestamp_time(signed), also=in_row_transaction,
            )
        except IntegrityError:
            # the same key finished concurrently: answer as it did
            replay = self._replay(idempotency_key or "", principal, request_sha)
            if replay is None:
                raise
            return replay
        return SealedDocument(signed, sha, record.id, kinds=tuple(s.kind.value for s in used))


def options_json(raw: str | None) -> dict[str, Any]:
    import json

    from .errors import InvalidRequest

    if raw is None or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"options is not valid JSON: {exc.msg}",
                             code="invalid_options") from None
    if not isinstance(data, dict):
        raise InvalidRequest("options must be a JSON object", code="invalid_options")
    return data
