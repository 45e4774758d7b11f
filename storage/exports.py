"""The archive export with its audit entry: the one flow of ``POST /v1/archives/export`` and
``eseal archive export``.

An export hands out sealed documents, so it is audited (``archive.export``, with the filter)
before the first byte leaves: an export that fails half-way is still on record as asked for.
An export names an enterprise, a reference or a first day (422 ``export_too_broad``): the
whole archive of every enterprise in one ZIP is not a request anyone should send by mistake.

The verification reports that go beside each document are made by the verifier, which is not
storage's to know: the caller (``api/container.py``) gives them as :class:`ExportReports`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from seals.audit import AuditEvent
from seals.kinds import parse_kind
from seals.vocab import DocumentFormat

from .archive import Archive, ArchiveQuery, ExportSummary, ReportFor, day_range
from .archive.errors import InvalidArchiveQuery
from .archive.export import ReportHtml
from .audit import AuditLog

__all__ = ["ArchiveExports", "ExportReports", "ExportTooBroad", "export_query"]


class ExportTooBroad(InvalidArchiveQuery):
    code = "export_too_broad"
    title = "Invalid request"


@dataclass(frozen=True)
class ExportReports:
    """How each exported document gets its verification report, and the report's page.

    ``report_for`` is given the record, so it can choose the verifier by ``record.format``
    (a sealed PDF, a sealed OFD, or one ``SES_Signature``)."""

    report_for: ReportFor
    report_html: ReportHtml | None = None


def export_query(
    *,
    uscc: str | None,
    first: date | None = None,
    last: date | None = None,
    kind: str | None = None,
    document_type: str | None = None,
    reference: str | None = None,
    document_format: DocumentFormat | None = None,
) -> ArchiveQuery:
    """The query of ``eseal archive export``'s flags: the documents the enterprise ``uscc``
    belongs to (as sealer or party), archived on the whole days ``first`` to ``last``
    (China Standard Time)."""
    created_from, created_to = day_range(first, last)
    return ArchiveQuery(
        party=uscc,
        kind=parse_kind(kind) if kind else None,
        document_type=document_type,
        reference=reference,
        created_from=created_from,
        created_to=created_to,
        format=document_format,
    )


class ArchiveExports:
    """Audited exports of the archive.  Blocking: call it off the event loop."""

    def __init__(
        self, archive: Archive, audit: AuditLog, reports: ExportReports | None = None
    ) -> None:
        self._archive = archive
        self._audit = audit
        self._reports = reports

    def stream(self, query: ArchiveQuery, *, actor: str, reports: bool = True) -> Iterator[bytes]:
        """Check and audit the export now, then give the ZIP as byte chunks (lazily: iterate
        them in a worker thread).  ``reports``: add each document's verification report."""
        self._begin(query, actor)
        with_reports = self._reports if reports else None
        return self._archive.export(
            query,
            report_for=with_reports.report_for if with_reports else None,
            report_html=with_reports.report_html if with_reports else None,
        )

    def to_file(
        self, path: Path, query: ArchiveQuery, *, actor: str, reports: bool = True
    ) -> ExportSummary:
        """Check and audit the export, then write the ZIP to ``path`` (atomically)."""
        self._begin(query, actor)
        with_reports = self._reports if reports else None
        return self._archive.export_to(
            path,
            query,
            report_for=with_reports.report_for if with_reports else None,
            report_html=with_reports.report_html if with_reports else None,
        )

    def _begin(self, query: ArchiveQuery, actor: str) -> None:
        if not (query.party or query.uscc or query.reference or query.created_from):
            raise ExportTooBroad("an export names an enterprise, a reference or a date range")
        self._audit.append(
            [
                AuditEvent(
                    "archive.export",
                    actor,
                    uscc=query.party or query.uscc,
                    detail={"filter": query.to_json()},
                )
            ]
        )
