"""Export of archived documents as one ZIP, streamed in constant memory.

Python's :mod:`zipfile` writes to a sink that cannot seek (it then puts a data descriptor after
each entry instead of going back to patch the header), and the sink hands its bytes to a
generator as they come.  Each document is read from the store through the SHA-256-verifying
reader in 64 KiB pieces; a document that fails verification stops the export with
``archive_corrupt`` before its entry is complete, so a ZIP that ends cleanly holds only
verified files.  Documents that ``archive check --repair`` marked missing or corrupt are
left out and listed as such in the manifest.

Layout::

    <reference or original name>-<id>.pdf           the sealed documents (.ofd for a sealed
                                                    OFD, .ses for an SES_Signature)
    <reference or original name>-<id>.report.json   their verification reports, when asked for
    <reference or original name>-<id>.report.html   the same, as the page a person reads
    manifest.json                                   metadata, SHA-256 and verdict of every
                                                    file, written last

Names are cleaned of path separators, control characters and characters some file systems
refuse (:func:`~storage.archive.model.export_stem`); the archive id makes each one unique.
Each manifest entry carries the record (with its ``format``: pdf, ofd, ses), ``path`` (the
document in the ZIP), ``report`` and
``report_html`` (None without reports), and ``verdict``: ``{valid, seals: [{uscc, kind,
label, field, valid, signing_time, timestamp_time}], notices}`` taken from the report.

The manifest's entries are spooled to a temporary file (about 1 KiB per document) rather
than held in memory; nothing else touches the disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from seals.errors import EsealError

from .model import CHINA_TIME, ArchiveQuery, ArchiveRecord, ArchiveStatus
from .store import CHUNK_SIZE, VerifiedReader

if TYPE_CHECKING:
    from .service import Archive

__all__ = [
    "FLUSH_AT",
    "MANIFEST_FORMAT",
    "ExportSummary",
    "ReportFor",
    "ReportHtml",
    "ZipSink",
    "export_to_file",
    "export_zip",
    "verdict_of",
    "zip_entry",
]

#: ``format`` of manifest.json (2: files named by reference or original name, verdicts)
MANIFEST_FORMAT = "eseal-archive-export/2"
#: hand bytes on once this many are buffered
FLUSH_AT = 256 * 1024

#: ``report_for(record, stream) -> report``: e.g. the verification report of the document;
#: ``stream`` is a verified reader of the document (``stream.read()`` gives all its bytes)
ReportFor = Callable[[ArchiveRecord, VerifiedReader], dict[str, Any]]
#: ``report_html(report) -> page``: the report as the HTML page a person reads
ReportHtml = Callable[[dict[str, Any]], str]


@dataclass
class ExportSummary:
    """Counts of one export, filled in as it streams."""

    #: documents written into the ZIP
    files: int = 0
    #: documents left out because they are marked missing or corrupt
    skipped: int = 0
    #: bytes of the documents (uncompressed)
    document_bytes: int = 0
    #: bytes of the ZIP
    zip_bytes: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "files": self.files,
            "skipped": self.skipped,
            "document_bytes": self.document_bytes,
            "zip_bytes": self.zip_bytes,
        }


class ZipSink:
    """A write-only file for :class:`zipfile.ZipFile` whose bytes a generator takes away:
    a ZIP streamed in constant memory (``yield from sink.take(FLUSH_AT)`` after each write,
    ``yield from sink.take()`` once the ZIP is closed).  The archive export and a batch's
    result ZIP write through it; ``summary.zip_bytes`` counts what was taken."""

    def __init__(self, summary: ExportSummary | None = None) -> None:
        self._parts: list[bytes] = []
        self._buffered = 0
        self.summary = summary if summary is not None else ExportSummary()

    def write(self, data: bytes, /) -> int:
        block = bytes(data)
        self._parts.append(block)
        self._buffered += len(block)
        return len(block)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self, at_least: int = 0) -> Iterator[bytes]:
        if self._buffered and self._buffered >= at_least:
            out = b"".join(self._parts)
            self._parts.clear()
            self._buffered = 0
            self.summary.zip_bytes += len(out)
            yield out


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    local = moment.astimezone(CHINA_TIME)
    year = min(max(local.year, 1980), 2107)
    return (year, local.month, local.day, local.hour, local.minute, local.second)


def zip_entry(name: str, moment: datetime, size: int, level: int) -> zipfile.ZipInfo:
    """A read-only member ``name`` dated ``moment`` (China time, as the archive's files are),
    deflated at ``level`` (0: stored as it is); ``size``, its uncompressed size, lets zipfile
    choose ZIP64 up front for a large member it streams."""
    info = zipfile.ZipInfo(name, date_time=_zip_time(moment))
    if level:
        info.compress_type = zipfile.ZIP_DEFLATED
        info._compresslevel = level  # type: ignore[attr-defined]  # no setter before 3.13
    else:
        info.compress_type = zipfile.ZIP_STORED
    info.file_size = size  # lets zipfile choose ZIP64 for a large entry up front
    info.external_attr = 0o100444 << 16  # a read-only regular file
    return info


def export_zip(
    archive: Archive,
    query: ArchiveQuery,
    *,
    report_for: ReportFor | None = None,
    now: datetime | None = None,
    summary: ExportSummary | None = None,
    report_html: ReportHtml | None = None,
) -> Iterator[bytes]:
    """The ZIP of every document matching ``query``, oldest first, as byte chunks.

    Blocking I/O: iterate it in a worker thread (Starlette does, for a sync iterator given
    to ``StreamingResponse``).  Stopping the iteration early (a client went away) is safe.
    """
    stats = summary if summary is not None else ExportSummary()
    started = (now or datetime.now(UTC)).astimezone(UTC)
    sink = ZipSink(stats)
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:
            first = True
            for record in archive.iter_records(query, newest_first=False):
                entry = record.to_json()
                if record.status is not ArchiveStatus.OK:
                    entry.update(
                        path=None, included=False, report=None, report_html=None, verdict=None
                    )
                    stats.skipped += 1
                else:
                    yield from _write_document(zf, sink, archive, record)
                    stats.files += 1
                    stats.document_bytes += record.size
                    entry.update(
                        path=record.export_name,
                        included=True,
                        report=None,
                        report_html=None,
                        verdict=None,
                    )
                    if report_for is not None:
                        entry.update(_write_report(zf, archive, record, report_for, report_html))
                    yield from sink.take(FLUSH_AT)
                spool.write(b"" if first else b",\n")
                spool.write(json.dumps(entry, ensure_ascii=False).encode())
                first = False
            yield from _write_manifest(zf, sink, spool, query, started, stats)
        yield from sink.take()


def _write_document(
    zf: zipfile.ZipFile, sink: ZipSink, archive: Archive, record: ArchiveRecord
) -> Iterator[bytes]:
    info = zip_entry(record.export_name, record.created_at, record.size, 1)
    with archive.open(record) as reader, zf.open(info, "w") as out:
        for chunk in reader.chunks(CHUNK_SIZE):
            out.write(chunk)
            yield from sink.take(FLUSH_AT)


def _write_report(
    zf: zipfile.ZipFile,
    archive: Archive,
    record: ArchiveRecord,
    report_for: ReportFor,
    report_html: ReportHtml | None,
) -> dict[str, Any]:
    """Write the report (and its page); the manifest fields that point to them."""
    stem = record.export_name.removesuffix("." + record.extension)
    name = stem + ".report.json"
    try:
        with archive.open(record) as reader:
            report = report_for(record, reader)
    except EsealError as exc:  # e.g. the verifier cannot read it: say so, keep exporting
        report = {"error": exc.to_problem()}
    data = json.dumps(report, ensure_ascii=False, indent=2, default=str).encode()
    zf.writestr(zip_entry(name, record.created_at, len(data), 6), data)
    fields: dict[str, Any] = {"report": name, "verdict": verdict_of(report)}
    if report_html is not None and "error" not in report:
        page = report_html(report).encode()
        fields["report_html"] = stem + ".report.html"
        zf.writestr(zip_entry(fields["report_html"], record.created_at, len(page), 6), page)
    return fields


def verdict_of(report: dict[str, Any]) -> dict[str, Any]:
    """The verdict of a verification report, for the manifest: valid, each seal, notices."""
    if "error" in report:
        error = report["error"]
        return {
            "valid": None,
            "seals": [],
            "notices": [],
            "error": error.get("code") if isinstance(error, dict) else str(error),
        }
    seals = []
    for sig in report.get("signatures") or []:
        if not isinstance(sig, dict) or sig.get("type", "signature") != "signature":
            continue
        seal = sig.get("seal") or {}
        stamp = sig.get("timestamp") or {}
        seals.append(
            {
                "uscc": (sig.get("enterprise") or {}).get("uscc"),
                "kind": seal.get("kind"),
                "label": seal.get("label"),
                "field": sig.get("field"),
                "valid": sig.get("valid"),
                "signing_time": sig.get("signing_time"),
                "timestamp_time": stamp.get("time"),
            }
        )
    return {
        "valid": report.get("valid"),
        "seals": seals,
        "notices": list(report.get("notices") or []),
    }


def _write_manifest(
    zf: zipfile.ZipFile,
    sink: ZipSink,
    spool: Any,
    query: ArchiveQuery,
    started: datetime,
    stats: ExportSummary,
) -> Iterator[bytes]:
    head = {
        "format": MANIFEST_FORMAT,
        "created_at": started.isoformat().replace("+00:00", "Z"),
        "query": query.to_json(),
        "count": stats.files + stats.skipped,
        "included": stats.files,
        "skipped": stats.skipped,
        "document_bytes": stats.document_bytes,
    }
    opening = json.dumps(head, ensure_ascii=False, indent=2)[:-2].encode() + b',\n  "files": [\n'
    closing = b"\n  ]\n}\n"
    size = len(opening) + spool.tell() + len(closing)
    spool.seek(0)
    with zf.open(zip_entry("manifest.json", started, size, 6), "w") as out:
        out.write(opening)
        while block := spool.read(CHUNK_SIZE):
            out.write(block)
            yield from sink.take(FLUSH_AT)
        out.write(closing)


def export_to_file(
    archive: Archive,
    path: Path,
    query: ArchiveQuery,
    *,
    report_for: ReportFor | None = None,
    now: datetime | None = None,
    report_html: ReportHtml | None = None,
) -> ExportSummary:
    """Write the export to ``path``; a failed export leaves no file behind."""
    path = Path(path)
    summary = ExportSummary()
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as out:
            _copy(
                export_zip(
                    archive,
                    query,
                    report_for=report_for,
                    now=now,
                    summary=summary,
                    report_html=report_html,
                ),
                out,
            )
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return summary


def _copy(chunks: Iterator[bytes], out: BinaryIO) -> None:
    for chunk in chunks:
        out.write(chunk)
