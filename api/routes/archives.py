"""The archive of sealed documents: /v1/archives."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from seals.kinds import parse_kind
from seals.vocab import DocumentFormat, DocumentType
from storage.archive import MEDIA_TYPES, ArchiveQuery, ArchiveRecord, day_range
from storage.archive.model import PartyRole

from ..answers import ArchiveItem, ArchivePageAnswer, ArchiveVersionsAnswer, RenewalAnswer
from ..auth import Action, Principal, allowed, authorize, scope
from ..deps import ContainerDep
from ..errors import InvalidRequest
from ..flows import SealedDocument
from ..responses import PROBLEM_RESPONSES, file_answer, pdf_response

router = APIRouter(prefix="/v1/archives", tags=["archives"])

Reader = Annotated[Principal, allowed(Action.READ_ARCHIVE)]
Renewer = Annotated[Principal, allowed(Action.RENEW_ARCHIVE)]
Exporter = Annotated[Principal, allowed(Action.EXPORT_ARCHIVE)]


class ArchiveFilter(BaseModel):
    """Which archived documents; for an enterprise key ``uscc`` is always its own.

    ``uscc`` selects the documents that enterprise belongs to: those it sealed
    (``role=sealer``) and those that carry its valid seal from before (``role=party``).
    """

    model_config = ConfigDict(extra="forbid")

    uscc: str | None = Field(None, min_length=18, max_length=18)
    role: PartyRole | None = None
    kind: str | None = None
    type: DocumentType | None = None
    reference: str | None = Field(None, max_length=200)
    #: first day (China Standard Time), inclusive
    from_: date | None = Field(None, alias="from")
    #: last day (China Standard Time), inclusive
    to: date | None = None
    #: only files of this format: pdf, ofd, ses
    format: DocumentFormat | None = None
    #: add each file's verification report to the export
    reports: bool = True


def _query(who: Principal, f: ArchiveFilter, action: Action) -> ArchiveQuery:
    authorize(who, f.uscc, action)
    uscc = scope(who, f.uscc)
    if f.role is not None and uscc is None:
        raise InvalidRequest(
            "a role filter needs the enterprise (uscc) it is of", code="invalid_query"
        )
    start, end = day_range(f.from_, f.to)
    return ArchiveQuery(
        party=uscc,
        role=f.role,
        kind=parse_kind(f.kind) if f.kind else None,
        document_type=f.type.value if f.type else None,
        reference=f.reference,
        created_from=start,
        created_to=end,
        format=f.format,
    )


async def _owned(c: Any, who: Principal, archive_id: str) -> ArchiveRecord:
    """The record, if ``who`` may read it: an admin, or an enterprise it belongs to."""
    record: ArchiveRecord = await run_in_threadpool(c.archive.record, archive_id)
    authorize(who, _members(record), Action.READ_ARCHIVE)
    return record


def _members(record: ArchiveRecord) -> set[str]:
    """The enterprises a document belongs to: its sealer and its parties."""
    return {record.uscc, *(p.uscc for p in record.parties)}


def _item(record: ArchiveRecord, uscc: str | None) -> dict[str, Any]:
    """A record as the API shows it: ``role`` is that of the enterprise asking (or filtered
    on), None for an admin's listing of everything."""
    role = record.role_of(uscc)
    return {**record.to_json(), "role": role.value if role else None}


@router.get(
    "",
    summary="List archived documents (cursor paging, newest first)",
    response_model=ArchivePageAnswer,
    responses=PROBLEM_RESPONSES,
)
async def list_archives(
    c: ContainerDep,
    who: Reader,
    uscc: str | None = None,
    kind: str | None = None,
    type: DocumentType | None = None,
    reference: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    role: PartyRole | None = None,
    format: DocumentFormat | None = None,
) -> dict[str, Any]:
    f = ArchiveFilter.model_validate(
        {
            "uscc": uscc,
            "kind": kind,
            "type": type,
            "reference": reference,
            "from": from_,
            "to": to,
            "role": role,
            "format": format,
        }
    )
    query = _query(who, f, Action.READ_ARCHIVE)
    page = await run_in_threadpool(lambda: c.archive.list(query, limit=limit, cursor=cursor))
    return {"items": [_item(r, query.party) for r in page.records], "next_cursor": page.next_cursor}


@router.get(
    "/{archive_id}",
    summary="Metadata of one archived document",
    response_model=ArchiveItem,
    responses=PROBLEM_RESPONSES,
)
async def show(archive_id: str, c: ContainerDep, who: Reader) -> dict[str, Any]:
    return _item(await _owned(c, who, archive_id), who.uscc)


@router.get(
    "/{archive_id}/file",
    response_class=Response,
    responses=file_answer(
        MEDIA_TYPES[DocumentFormat.PDF],
        "the archived file (the latest version, or ?version=N): a sealed PDF, a sealed OFD "
        "(application/ofd), or a GB/T 38540 SES_Signature (DER, .ses, application/octet-stream)",
        also=tuple(MEDIA_TYPES[f] for f in DocumentFormat if f is not DocumentFormat.PDF),
        headers={
            "X-Eseal-Sha256": "SHA-256 of the file, checked before it was sent",
            "X-Eseal-Archive-Id": "the archive id",
        },
    ),
    summary="The archived file; its SHA-256 is checked before it is sent",
)
async def file(
    archive_id: str,
    c: ContainerDep,
    who: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    record = await _owned(c, who, archive_id)
    if version is not None and version != record.version:  # default: the latest version
        record = await run_in_threadpool(c.archive.record_version, archive_id, version)
    # the whole file is verified (archive_corrupt on a mismatch) before a byte is sent
    spooled = await run_in_threadpool(c.archive.spool, record)
    done = SealedDocument(spooled, record.size, record.sha256, record.id)
    return pdf_response(
        done,
        {
            # the record's format decides; a Content-Type given here is kept as it is
            "Content-Type": record.media_type,
            "X-Eseal-Sha256": record.sha256,
            "X-Eseal-Archive-Id": record.id,
            "Content-Disposition": f'attachment; filename="{record.filename}"; '
            f"filename*=UTF-8''{quote(record.export_name)}",
        },
    )


@router.get(
    "/{archive_id}/versions",
    summary="Every version of an archived document",
    response_model=ArchiveVersionsAnswer,
    responses=PROBLEM_RESPONSES,
)
async def versions(archive_id: str, c: ContainerDep, who: Reader) -> dict[str, Any]:
    record = await _owned(c, who, archive_id)
    found = await run_in_threadpool(c.archive.versions, record.id)
    return {"id": record.id, "latest": record.version, "versions": [v.to_json() for v in found]}


@router.post(
    "/{archive_id}/renew",
    status_code=201,
    summary="Renew a document: a new version with a new document timestamp "
    "(B-LTA), or extended to B-LTA",
    response_model=RenewalAnswer,
    responses=PROBLEM_RESPONSES,
)
async def renew(archive_id: str, c: ContainerDep, who: Renewer) -> dict[str, Any]:
    from ..renewal import renew_document

    record = await _owned(c, who, archive_id)
    authorize(who, record.uscc, Action.RENEW_ARCHIVE)  # the sealer renews, not every party
    done: dict[str, Any] = await run_in_threadpool(renew_document, c, record, who.key_id)
    return done


@router.post(
    "/export",
    response_class=StreamingResponse,
    responses=file_answer(
        "application/zip",
        "the documents, a verification report (JSON and HTML) per document, manifest.json",
    ),
    summary="A streamed ZIP: the files, manifest.json and a report per file",
)
async def export(c: ContainerDep, who: Exporter, f: ArchiveFilter | None = None) -> Response:
    f = f or ArchiveFilter()
    query = _query(who, f, Action.EXPORT_ARCHIVE)
    # checked and audited before the answer starts; the ZIP is made as it is sent
    chunks = await run_in_threadpool(
        lambda: c.exports.stream(query, actor=who.key_id, reports=f.reports)
    )
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="archive.zip"'},
    )
