"""The bodies of ``eseal archive check`` and ``eseal archive export``, for ``api/cli/``.

Each prints JSON to ``out`` and returns the exit code, so the CLI only parses arguments.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TextIO

from seals.kinds import parse_kind
from seals.vocab import DocumentFormat

from .export import ReportFor, ReportHtml
from .model import ArchiveQuery, day_range
from .service import Archive

__all__ = ["check_command", "export_command"]


def check_command(
    archive: Archive, out: TextIO, *, repair: bool = False, sample: int | None = None
) -> int:
    """Exit 0 if nothing is left wrong (clean, or every finding repaired), 1 otherwise."""
    report = archive.check(repair=repair, sample=sample)
    json.dump(report.to_json(), out, ensure_ascii=False, indent=2)
    out.write("\n")
    return 0 if report.unresolved == 0 else 1


def export_command(
    archive: Archive,
    out: TextIO,
    output: Path,
    *,
    uscc: str | None,
    first: date | None = None,
    last: date | None = None,
    kind: str | None = None,
    document_type: str | None = None,
    reference: str | None = None,
    document_format: DocumentFormat | None = None,
    report_for: ReportFor | None = None,
    report_html: ReportHtml | None = None,
) -> int:
    """Write the ZIP to ``output`` (whole days ``first``..``last``, China Standard Time):
    the documents the enterprise ``uscc`` belongs to, as sealer or as party."""
    created_from, created_to = day_range(first, last)
    query = ArchiveQuery(
        party=uscc,
        kind=parse_kind(kind) if kind else None,
        document_type=document_type,
        reference=reference,
        created_from=created_from,
        created_to=created_to,
        format=document_format,
    )
    summary = archive.export_to(output, query, report_for=report_for, report_html=report_html)
    json.dump({"output": str(output), **summary.to_json()}, out, ensure_ascii=False, indent=2)
    out.write("\n")
    return 0
