"""The sealing request from upload to answer: checks, signing, archive, audit, idempotency.

A sealed document is returned only after it is archived and its audit entries are committed;
if either fails, the request fails and no half-done state stays behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, BinaryIO

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keystore.base import KeyAlgorithm
from seals.audit import AuditEvent
from seals.kinds import parse_kind
from seals.model import Seal
from seals.vocab import DocumentFormat
from signer import ofd
from signer.core import SignedFile
from signer.errors import AlgorithmNotAvailable, InvalidOfd
from signer.levels import PadesLevel
from signer.national_sealing import NationalSealer
from signer.parties import chain_certificates, earlier_sealers
from signer.placement import AtKeyword, AtPoint, CrossPage, Placement
from signer.service import (
    DocumentType,
    ReserveOrder,
    Sealed,
    SealingOptions,
    SealingService,
    SealOrder,
    default_kind,
)
from storage.archive import Archive, SealUse
from storage.archive.model import EXTENSIONS, MEDIA_TYPES
from storage.audit import append_events
from storage.idempotency import IdempotencyConflict, IdempotencyStore
from storage.outbox import emit

from .auth import Principal
from .deadline import Deadline
from .models import CrossPageSpec, ReserveSpec, SealSpec, SignOptions

__all__ = [
    "Archived",
    "IdempotencyConflict",
    "SealedDocument",
    "SignFlow",
    "WithRow",
    "to_sealing_options",
]


@dataclass(frozen=True)
class Archived:
    """A sealed document as its archive row records it (what :data:`WithRow` is told)."""

    archive_id: str
    sha256: str
    size: int
    format: DocumentFormat
    #: the placements' notices, as :attr:`SealedDocument.notices`
    notices: tuple[tuple[str, str], ...] = ()


#: ``with_row(session, archived)``: more writes of the caller in the transaction of the new
#: archive row, so that they commit with it or not at all (a batch file's result); not
#: called when the answer is a replay, which made no new row
WithRow = Callable[[Session, Archived], None]


@dataclass(frozen=True)
class SealedDocument:
    """A sealed (or replayed) document in a rewound temporary file; close it when sent."""

    file: BinaryIO
    size: int
    sha256: str
    archive_id: str | None
    replayed: bool = False
    #: seal kinds applied, in order (empty for a replay)
    kinds: tuple[str, ...] = ()
    #: what the caller should know about the placements: (code, message), e.g.
    #: ``("overlaps_seal", ...)``, ``("cross_page_skipped", ...)`` (empty for a replay)
    notices: tuple[tuple[str, str], ...] = ()
    #: what the file is: a sealed PDF, a sealed OFD, or an SES_Signature
    format: DocumentFormat = DocumentFormat.PDF

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def filename(self) -> str:
        stem = "signature" if self.format is DocumentFormat.SES else "sealed"
        return f"{stem}.{EXTENSIONS[self.format]}"

    @property
    def notice_codes(self) -> tuple[str, ...]:
        """The notices' codes, each once, in order (the ``X-Eseal-Notice`` header)."""
        return tuple(dict.fromkeys(code for code, _ in self.notices))

    @property
    def pdf(self) -> bytes:
        """The whole document in memory (for small documents and tests)."""
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(0)
        return data

    def chunks(self, size: int = 256 * 1024) -> Iterator[bytes]:
        """The document in pieces, then the file is closed."""
        try:
            self.file.seek(0)
            while piece := self.file.read(size):
                yield piece
        finally:
            self.file.close()

    def close(self) -> None:
        self.file.close()


def _digest(stream: BinaryIO) -> tuple[str, int]:
    """SHA-256 (hex) and size of a seekable file's content; rewinds."""
    digest, size = _hash(stream)
    return digest.hexdigest(), size


def _hash(stream: BinaryIO) -> tuple[Any, int]:
    digest = hashlib.sha256()
    size = 0
    stream.seek(0)
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest, size


def _placement(spec: SealSpec | ReserveSpec) -> Placement | None:
    if spec.keyword is not None:
        return AtKeyword(
            spec.keyword,
            occurrence=spec.occurrence,
            page=spec.page,
            align=spec.align or "center",
            offset=spec.offset or (0.0, 0.0),
        )
    if spec.x is not None and spec.y is not None:
        return AtPoint(page=spec.page if spec.page is not None else -1, x=spec.x, y=spec.y)
    if spec.page is not None:
        from signer.errors import InvalidPlacement

        raise InvalidPlacement("a page needs x and y (or a keyword)")
    return None


def _cross_page(spec: bool | str | CrossPageSpec) -> CrossPage:
    if isinstance(spec, CrossPageSpec):
        return CrossPage(y=spec.y, position=spec.position, auto=spec.mode == "auto")
    return CrossPage(auto=spec == "auto")


def to_sealing_options(options: SignOptions) -> SealingOptions:
    doc_type = DocumentType(options.document_type)
    orders = [SealOrder(parse_kind(s.kind), _placement(s), field=s.field) for s in options.seals]
    reserve = []
    for r in options.reserve:
        placement = _placement(r)
        assert placement is not None  # the model asks for a keyword or a point
        reserve.append(ReserveOrder(parse_kind(r.kind), placement, label=r.label))
    if options.cross_page is not False:
        first = orders[0].kind if orders else default_kind(doc_type)
        orders.append(SealOrder(first, _cross_page(options.cross_page)))
    return SealingOptions(
        seals=orders,
        document_type=doc_type,
        level=PadesLevel(options.level),
        algorithm=KeyAlgorithm(options.algorithm) if options.algorithm else None,
        reason=options.reason,
        location=options.location,
        certify=options.certify,
        allow_invoice_seal_on_contract=options.allow_invoice_seal_on_contract,
        reference=options.reference,
        reserve=reserve,
    )


class SignFlow:
    def __init__(
        self,
        engine: Engine,
        sealing: SealingService,
        archive: Archive,
        deadline: Deadline,
        national: NationalSealer | None = None,
    ) -> None:
        self._sealing = sealing
        self._national = national
        self._deadline = deadline
        self._archive = archive
        self._idempotency = IdempotencyStore(engine)

    def _replay(self, key: str, principal: Principal, request_sha: str) -> SealedDocument | None:
        """The archived answer to the same request under ``key``, if there is one."""
        archive_id = self._idempotency.answered(key, principal.key_id, request_sha)
        if archive_id is None:
            return None
        body = self._archive.spool(archive_id)  # SHA-256 checked before it is returned
        sha, size = _digest(body)
        fmt = self._archive.record(archive_id).format
        return SealedDocument(body, size, sha, archive_id, True, format=fmt)

    def sign(
        self,
        principal: Principal,
        pdf: bytes | BinaryIO,
        options: SignOptions,
        idempotency_key: str | None,
        filename: str | None = None,
        with_row: WithRow | None = None,
        *,
        content_digest: Any | None = None,
    ) -> SealedDocument:
        """Blocking: call it off the event loop.

        ``pdf`` is the upload's bytes or a seekable binary file; the result's file is the
        caller's to close.  ``filename``: the upload's name, kept (cleaned) in the archive.
        ``with_row``: the caller's own writes in the archive row's transaction.
        ``content_digest``: the upload's SHA-256 (a ``hashlib`` object, not finished), when
        it was computed as the upload was read (a raw body, api/raw_body.py); else the file
        is read once more for it.
        """
        assert principal.uscc is not None
        src: BinaryIO = io.BytesIO(pdf) if isinstance(pdf, bytes | bytearray) else pdf
        content = content_digest.copy() if content_digest is not None else _hash(src)[0]
        input_sha = content.hexdigest()
        request = content.copy()  # the request: the file and the options
        request.update(b"\0" + options.model_dump_json().encode())
        request_sha = request.hexdigest()
        if idempotency_key:
            replay = self._replay(idempotency_key, principal, request_sha)
            if replay is not None:
                return replay
        sealing_options = to_sealing_options(options)
        uscc = principal.uscc
        data = _ofd_bytes(src)
        if data is not None:
            return self._sign_ofd(
                principal,
                data,
                options,
                sealing_options,
                idempotency_key,
                request_sha,
                filename,
                with_row,
            )

        async def document_work() -> tuple[Sealed, list[str]]:
            done = await self._sealing.sealed(uscc, src, sealing_options)
            # enterprises whose valid seals the upload carried: the archive's parties
            used = done.seals
            own = len(used) + (options.level == "B-LTA")  # the seals and the document timestamp
            try:
                parties = (
                    await earlier_sealers(
                        done.signed.file,
                        chain_certificates(used[0].chain_pem),
                        # the certificates that signed (the SM2 ones when SM2 signed)
                        skip_serials=list(done.serials),
                        own_signatures=own,
                    )
                    if used
                    else []
                )
            except BaseException:  # cut while finding the parties: nothing is kept
                done.signed.file.close()
                raise
            return done, parties

        # the document work alone (sealing, then finding the parties) is cut off at the
        # limits, in one run with one budget; archive and audit never are
        done, parties = self._deadline.run(lambda: asyncio.run(document_work()))
        signed, used = done.signed, done.seals
        notices = tuple((n.code, n.message) for n in done.notices)
        try:
            sealed = self._archive_sealed(
                principal,
                options,
                idempotency_key,
                request_sha,
                input_sha,
                signed,
                used,
                parties,
                filename,
                notices=notices,
                with_row=with_row,
            )
        except BaseException:
            signed.file.close()
            raise
        if sealed.replayed:  # the same key finished concurrently: answered as it did
            return sealed
        return replace(sealed, notices=notices)

    def _national_sealer(self) -> NationalSealer:
        if self._national is None:
            raise AlgorithmNotAvailable(
                "this server is not set up to sign with SM2 keys (OFD and SES signatures)"
            )
        return self._national

    def _sign_ofd(
        self,
        principal: Principal,
        data: bytes,
        options: SignOptions,
        sealing_options: SealingOptions,
        idempotency_key: str | None,
        request_sha: str,
        filename: str | None,
        with_row: WithRow | None = None,
    ) -> SealedDocument:
        """An OFD upload: sealed per GB/T 33190 with the seals' SM2 keys, then archived."""
        assert principal.uscc is not None
        uscc = principal.uscc
        national = self._national_sealer()
        done = self._deadline.run(lambda: national.seal_ofd(uscc, data, sealing_options))
        signed = SignedFile(io.BytesIO(done.data), None)
        notices = tuple((n.code, n.message) for n in done.notices)
        try:
            sealed = self._archive_sealed(
                principal,
                options,
                idempotency_key,
                request_sha,
                hashlib.sha256(data).hexdigest(),
                signed,
                done.seals,
                [],
                filename,
                document_format=DocumentFormat.OFD,
                notices=notices,
                with_row=with_row,
            )
        except BaseException:
            signed.file.close()
            raise
        if sealed.replayed:
            return sealed
        return replace(sealed, notices=notices)

    def sign_ses(
        self,
        principal: Principal,
        *,
        kind: str,
        data_hash: bytes,
        property_info: str,
        options: SignOptions,
        idempotency_key: str | None,
        input_sha: str | None = None,
        filename: str | None = None,
    ) -> SealedDocument:
        """A GB/T 38540 SES_Signature of the seal ``kind`` over ``data_hash`` (SM3), archived
        and audited as a sealed document is.  Blocking: call it off the event loop."""
        assert principal.uscc is not None
        uscc = principal.uscc
        request = hashlib.sha256(b"ses\0" + data_hash + b"\0" + property_info.encode())
        request.update(b"\0" + kind.encode() + b"\0" + options.model_dump_json().encode())
        request_sha = request.hexdigest()
        if idempotency_key:
            replay = self._replay(idempotency_key, principal, request_sha)
            if replay is not None:
                return replay
        national = self._national_sealer()
        seal_kind = parse_kind(kind)
        made = self._deadline.run(
            lambda: national.sign_ses(
                uscc,
                seal_kind,
                data_hash=data_hash,
                property_info=property_info,
                level=PadesLevel(options.level),
            )
        )
        signed = SignedFile(io.BytesIO(made.der), made.timestamp_time)
        try:
            return self._archive_sealed(
                principal,
                options,
                idempotency_key,
                request_sha,
                input_sha,
                signed,
                [made.seal],
                [],
                filename,
                document_format=DocumentFormat.SES,
            )
        except BaseException:
            signed.file.close()
            raise

    def _archive_sealed(
        self,
        principal: Principal,
        options: SignOptions,
        idempotency_key: str | None,
        request_sha: str,
        input_sha: str | None,
        sealed: SignedFile,
        used: list[Seal],
        parties: list[str],
        filename: str | None = None,
        *,
        document_format: DocumentFormat = DocumentFormat.PDF,
        notices: tuple[tuple[str, str], ...] = (),
        with_row: WithRow | None = None,
    ) -> SealedDocument:
        assert principal.uscc is not None
        signed = sealed.file
        sha, size = _digest(signed)
        national = document_format is not DocumentFormat.PDF
        events = [
            AuditEvent(
                "seal.use",
                principal.key_id,
                uscc=seal.uscc,
                seal_kind=seal.kind.value,
                # OFD and SES signatures are made with the seal's SM2 key
                serial=format(
                    seal.sm2_serial if national and seal.sm2_serial else seal.serial, "x"
                ),
                document_sha256=sha,
                detail={
                    "level": options.level,
                    "document_type": options.document_type,
                    "reference": options.reference,
                    "input_sha256": input_sha,
                    "format": document_format.value,
                },
            )
            for seal in used
        ]
        now = datetime.now(UTC)
        webhook_options = options.model_dump(include={"level", "document_type", "reference"})

        def in_row_transaction(session: Session, archive_id: str) -> None:
            """Audit entries (and the idempotency record) commit with the archive row."""
            append_events(session, [replace(e, archive_id=archive_id) for e in events], now)
            done: dict[str, Any] = {"archive_id": archive_id, "uscc": principal.uscc}
            done |= {"sha256": sha, "size": size, "format": document_format.value}
            done |= {
                **webhook_options,
                "seals": [{"kind": e.seal_kind, "serial": e.serial} for e in events],
            }
            emit(session, "document.sealed", principal.uscc, done, at=now)  # webhooks' outbox
            if idempotency_key:
                self._idempotency.add(
                    session,
                    key=idempotency_key,
                    principal=principal.key_id,
                    request_sha256=request_sha,
                    archive_id=archive_id,
                    sha256=sha,
                    at=now,
                )
            if with_row is not None:
                with_row(session, Archived(archive_id, sha, size, document_format, notices))

        try:
            record = self._archive.put(
                signed,
                uscc=principal.uscc,
                seals=SealUse.of_all(used),
                level=options.level,
                document_type=options.document_type,
                reference=options.reference,
                timestamp_time=sealed.timestamp_time,
                also=in_row_transaction,
                parties=parties,
                original_name=filename,
                format=document_format,
            )
        except IntegrityError:
            # the same key finished concurrently: answer as it did
            replay = self._replay(idempotency_key or "", principal, request_sha)
            if replay is None:
                raise
            signed.close()
            return replay
        signed.seek(0)
        return SealedDocument(
            signed,
            size,
            sha,
            record.id,
            kinds=tuple(s.kind.value for s in used),
            format=document_format,
        )


def _ofd_bytes(src: BinaryIO) -> bytes | None:
    """The upload's bytes if it is a ZIP (an OFD package, by content: ``invalid_ofd`` for a
    ZIP that is not one); None for anything else (a PDF, or not a PDF either)."""
    head = src.read(4)
    src.seek(0)
    if head != b"PK\x03\x04":
        return None
    data = src.read()
    src.seek(0)
    if not ofd.is_ofd(data):
        ofd.read_package(data)  # says what is wrong with it (invalid_ofd)
        raise InvalidOfd("the upload is a ZIP file but not an OFD document (no OFD.xml)")
    return data


def options_json(raw: str | None) -> dict[str, Any]:
    import json

    from .errors import InvalidRequest

    if raw is None or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"options is not valid JSON: {exc.msg}", code="invalid_options"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest("options must be a JSON object", code="invalid_options")
    return data
