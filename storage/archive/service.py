"""The archive: sealed documents in an object store, indexed by metadata rows.

Order of a write (:meth:`Archive.put`): check the enterprise exists (so that an unknown USCC
or a database outage uploads nothing), store the object and confirm it, then commit the row.
If the row fails, the object is removed (or, where retention forbids removal, tagged as an
orphan); if it cannot be told whether the row committed, the object stays and
``archive check`` settles it later.  So there is never a row without its object, and an
object without a row is found by ``check``.

Every method blocks (database and object store I/O): from async code, run them in a worker
thread (``await anyio.to_thread.run_sync(archive.put, ...)``), and give ``StreamingResponse``
the sync iterators of :meth:`Archive.open` and :meth:`Archive.export`, which Starlette
iterates in its thread pool.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from ulid import ULID

from seals.uscc import validate_uscc
from seals.vocab import DocumentFormat

from .check import CheckReport, run_check
from .errors import ArchiveCorrupt, ArchiveExists, ArchiveNotFound, ArchiveNotRenewable
from .export import ExportSummary, ReportFor, ReportHtml, export_to_file, export_zip
from .index import ArchiveIndex
from .model import (
    DOCUMENT_TYPES,
    LEVELS,
    ArchivePage,
    ArchiveQuery,
    ArchiveRecord,
    ArchiveStatus,
    Party,
    PartyRole,
    SealUse,
    clean_original_name,
    levels_of,
    object_key,
)
from .store import CHUNK_SIZE, ObjectStore, VerifiedReader
from .versions import ArchiveVersion, first_version, version_key

__all__ = ["Archive"]

log = logging.getLogger("eseal.archive")

#: objects without a row younger than this are writes in flight, not orphans
DEFAULT_GRACE = timedelta(minutes=15)
#: :meth:`Archive.spool` keeps documents up to this size in memory, larger ones on disk
SPOOL_BYTES = 8 * 1024 * 1024


class Archive:
    """Sealed documents, their metadata rows, and the checks that keep the two in step."""

    def __init__(
        self,
        engine: Engine,
        store: ObjectStore,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.index = ArchiveIndex(engine)
        self.store = store
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- writing ---------------------------------------------------------------------------

    def put(
        self,
        data: bytes | BinaryIO,
        *,
        uscc: str,
        seals: Sequence[SealUse],
        level: str,
        document_type: str,
        reference: str | None = None,
        timestamp_time: datetime | None = None,
        also: Callable[[Session, str], None] | None = None,
        parties: Sequence[str] = (),
        original_name: str | None = None,
        format: DocumentFormat = DocumentFormat.PDF,
    ) -> ArchiveRecord:
        """Archive one sealed document; returns its record once object and row are stored.

        ``also`` writes more in the transaction of the row (the audit entries of the seal use),
        so the row and what records it commit together or not at all.

        ``data`` is the file's bytes or a seekable binary file (read twice: once for its
        SHA-256, once to upload).  Raises ``archive_unavailable`` / ``database_unavailable``
        (503) when a store is down, with nothing left behind that ``check`` would not find.

        ``parties``: USCCs of the enterprises whose valid seals the document carries from
        before; those registered here become its parties (role ``party``), the others and
        ``uscc`` itself (the ``sealer``) are left out.  ``original_name``: the uploaded
        file's name, kept cleaned (:func:`~storage.archive.model.clean_original_name`).

        ``format``: what ``data`` is, a sealed PDF (the default), a sealed OFD or one GB/T
        38540 ``SES_Signature``; the object key and the file's names take its extension.  The
        archive does not parse the file: the caller made it and says what it is.  An OFD or
        SES record's ``level`` is ``B-B``, or ``B-T`` when its signature carries an SM2
        timestamp (:data:`~storage.archive.model.NATIONAL_LEVELS`).
        """
        validate_uscc(uscc)
        if not isinstance(format, DocumentFormat):
            raise TypeError("format must be a seals.vocab.DocumentFormat")
        if not seals:
            raise ValueError("an archived document carries at least one seal")
        allowed = levels_of(format)
        if level not in allowed:
            raise ValueError(
                f"level must be one of {', '.join(allowed)} for a {format.value} document"
            )
        if document_type not in DOCUMENT_TYPES:
            raise ValueError(f"document type must be one of {', '.join(DOCUMENT_TYPES)}")
        if reference is not None and len(reference) > 200:
            raise ValueError("the reference may have at most 200 characters")
        if timestamp_time is not None and timestamp_time.utcoffset() is None:
            raise ValueError("timestamp_time must carry a time zone")
        stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
        sha256, md5, size = _digest(stream)

        others = sorted({p for p in parties if p != uscc})
        registered = self.index.require_enterprise(uscc, others)
        ulid = ULID.from_datetime(self._clock())
        archive_id = str(ulid)
        created_at = ulid.datetime
        key = object_key(uscc, archive_id, created_at, format)
        info = self.store.put(
            key, stream, size, sha256=sha256, md5=md5, archive_id=archive_id, uscc=uscc
        )
        record = ArchiveRecord(
            id=archive_id,
            uscc=uscc,
            seals=tuple(seals),
            level=level,
            timestamp_time=timestamp_time.astimezone(UTC) if timestamp_time else None,
            document_type=document_type,
            reference=reference,
            sha256=sha256,
            size=size,
            created_at=created_at,
            object_key=key,
            version_id=info.version_id,
            original_name=clean_original_name(original_name),
            parties=(
                Party(uscc, PartyRole.SEALER),
                *(Party(p, PartyRole.PARTY) for p in others if p in registered),
            ),
            format=format,
        )
        try:
            self.index.insert(record, also)
        except Exception:
            if self._row_committed(record):
                return record
            raise
        return record

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def add_version(
        self,
        record: ArchiveRecord,
        data: bytes | BinaryIO,
        *,
        action: str,
        level: str,
        renew_by: datetime | None = None,
        also: Callable[[Session, str], None] | None = None,
    ) -> ArchiveRecord:
        """Store ``data`` as the next version of ``record`` (its latest version, as read).

        The object goes beside the original (``{id}.v{N}.pdf``); the row and what ``also``
        writes (the audit entry) commit together.  The original and earlier versions are not
        touched.  If the row fails the object is removed, as in :meth:`put`.  Returns the
        record as it now reads (version N).  Only a PDF has later versions
        (``archive_not_renewable`` for an OFD or SES record).
        """
        if record.format is not DocumentFormat.PDF:
            raise ArchiveNotRenewable(
                f"archived document {record.id} is not a PDF ({record.format.value}); only PDF "
                "documents (PAdES) are renewed or extended"
            )
        if action not in ("renew", "extend"):
            raise ValueError("a later version comes from 'renew' or 'extend'")
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
        sha256, md5, size = _digest(stream)
        number = record.version + 1
        original = self.index.get_version(record.id, 1)
        if original is None:
            raise ArchiveNotFound(f"no archived document {record.id}")
        key = version_key(original.object_key, number)
        info = self.store.put(
            key, stream, size, sha256=sha256, md5=md5, archive_id=record.id, uscc=record.uscc
        )
        version = ArchiveVersion(
            record.id,
            number,
            action,
            level,
            sha256,
            size,
            self._clock().astimezone(UTC),
            key,
            info.version_id,
            ArchiveStatus.OK,
            renew_by.astimezone(UTC) if renew_by else None,
        )
        try:
            self.index.insert_version(version, also)
        except Exception:
            try:
                committed = any(
                    v.version == number and v.sha256 == sha256
                    for v in self.index.versions(record.id)
                )
            except Exception:
                log.warning(
                    "archive version %s of %s may or may not have committed; "
                    "object %s kept for 'archive check'",
                    number,
                    record.id,
                    key,
                )
                raise
            if committed:
                return version.applied_to(record)
            try:
                self.store.discard(key, info.version_id)
            except Exception:
                log.exception(
                    "archive version row failed and object %s could not be removed; "
                    "'archive check --repair' will",
                    key,
                )
            raise
        return version.applied_to(record)

    def versions(self, archive_id: str) -> list[ArchiveVersion]:
        """Every version of a document, 1 (as sealed) first; ``archive_not_found``."""
        original = self.index.get_version(archive_id, 1)
        if original is None:
            raise ArchiveNotFound(f"no archived document {archive_id}")
        return [first_version(original), *self.index.versions(archive_id)]

    def record_version(self, archive_id: str, version: int | None = None) -> ArchiveRecord:
        """The record with the file fields of ``version`` (default: the latest);
        ``archive_not_found`` if the document or that version does not exist."""
        if version is None:
            return self.record(archive_id)
        found = self.index.get_version(archive_id, version) if version >= 1 else None
        if found is None:
            if self.index.get(archive_id) is None:
                raise ArchiveNotFound(f"no archived document {archive_id}")
            raise ArchiveNotFound(
                f"archived document {archive_id} has no version {version}",
                code="archive_version_not_found",
            )
        return found

    def _row_committed(self, record: ArchiveRecord) -> bool:
        """After a failed insert: True if the row is there after all; else drop the object."""
        try:
            committed = self.index.exists(record.id)
        except Exception:
            log.warning(
                "archive row %s may or may not have committed; object %s kept for 'archive check'",
                record.id,
                record.object_key,
            )
            return False
        if committed:
            log.warning("archive row %s committed although the insert failed", record.id)
            return True
        try:
            action = self.store.discard(record.object_key, record.version_id)
            log.warning("archive row %s failed; its object was %s", record.id, action)
        except Exception:
            log.exception(
                "archive row %s failed and its object %s could not be removed; "
                "'archive check --repair' will",
                record.id,
                record.object_key,
            )
        return False

    # -- reading ---------------------------------------------------------------------------

    def record(self, archive_id: str) -> ArchiveRecord:
        """The metadata of one document; ``archive_not_found``."""
        record = self.index.get(archive_id)
        if record is None:
            raise ArchiveNotFound(f"no archived document {archive_id}")
        return record

    def records(self, archive_ids: Sequence[str]) -> dict[str, ArchiveRecord]:
        """The metadata of many documents by id, read in one go (at most 1000 ids); ids
        with no document are left out."""
        return self.index.get_many(archive_ids)

    def exists(self, archive_id: str) -> bool:
        return self.index.get(archive_id) is not None

    def open(self, archive_id: str | ArchiveRecord) -> VerifiedReader:
        """A reader of the document that verifies SHA-256 and size as it streams.

        Use it as a context manager, iterate it (``for chunk in reader``) or ``read()`` it.
        A mismatch raises ``archive_corrupt`` before the last bytes are handed out.
        """
        record = archive_id if isinstance(archive_id, ArchiveRecord) else self.record(archive_id)
        if record.status is not ArchiveStatus.OK:
            raise ArchiveCorrupt(
                f"archived document {record.id} is marked {record.status.value} by the archive "
                "check; it cannot be served"
            )
        try:
            raw, info = self.store.open(record.object_key, record.version_id)
        except ArchiveNotFound:
            raise ArchiveCorrupt(
                f"the stored file of archived document {record.id} is missing"
            ) from None
        if (info.sha256 is not None and info.sha256 != record.sha256) or (
            info.size >= 0 and info.size != record.size
        ):
            raw.close()
            raise ArchiveCorrupt(
                f"the stored file of archived document {record.id} is not the one archived"
            )
        return VerifiedReader(raw, sha256=record.sha256, size=record.size, archive_id=record.id)

    def read(self, archive_id: str | ArchiveRecord) -> bytes:
        """The whole document, verified (for callers that need it in memory anyway)."""
        with self.open(archive_id) as reader:
            return reader.read()

    def spool(self, archive_id: str | ArchiveRecord) -> BinaryIO:
        """The whole document, verified, in a rewound temporary file the caller closes.

        Small documents stay in memory, large ones go to disk; either way nothing of a
        document that fails its SHA-256 check is returned (``archive_corrupt``).
        """
        out = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))  # noqa: SIM115 - returned open
        try:
            with self.open(archive_id) as reader:
                for chunk in reader.chunks():
                    out.write(chunk)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    def list(
        self,
        query: ArchiveQuery | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> ArchivePage:
        """One page of records, newest first; ``next_cursor`` fetches the next page."""
        records = self.index.page(
            query or ArchiveQuery(), limit=limit, after=cursor, newest_first=newest_first
        )
        next_cursor = records[-1].id if len(records) == limit else None
        return ArchivePage(records, next_cursor)

    def iter_records(
        self, query: ArchiveQuery | None = None, *, newest_first: bool = False
    ) -> Iterator[ArchiveRecord]:
        return self.index.iter_records(query or ArchiveQuery(), newest_first=newest_first)

    def presigned_url(
        self, archive_id: str | ArchiveRecord, expires: timedelta = timedelta(minutes=15)
    ) -> str:
        """A time-limited direct download URL of the recorded version (S3, when enabled).

        The store serves those bytes itself, so they are not verified on the way out; the
        URL names the exact version, which object lock keeps unchanged.
        """
        record = archive_id if isinstance(archive_id, ArchiveRecord) else self.record(archive_id)
        if not timedelta(seconds=1) <= expires <= timedelta(days=7):
            raise ValueError("a presigned URL lives between 1 second and 7 days")
        return self.store.presigned_url(
            record.object_key, record.version_id, expires, record.filename
        )

    # -- orphans, check, export ------------------------------------------------------------

    def delete(self, key: str, version_id: str | None = None) -> str:
        """Remove an orphaned object (one no row refers to): ``removed`` or ``quarantined``.

        The only deletion there is; it refuses objects that a row refers to.
        """
        if self.index.key_referenced(key):
            raise ArchiveExists(f"archive object {key} belongs to a record; it is not an orphan")
        return self.store.discard(key, version_id)

    def check(
        self,
        *,
        repair: bool = False,
        sample: int | None = None,
        grace: timedelta = DEFAULT_GRACE,
    ) -> CheckReport:
        """Compare rows and objects, verify SHA-256 of all (or ``sample``) documents.

        See :func:`storage.archive.check.run_check`.  The grace period is measured on the
        wall clock, as the store's modification times are.
        """
        return run_check(self, repair=repair, sample=sample, grace=grace, now=datetime.now(UTC))

    def export(
        self,
        query: ArchiveQuery | None = None,
        *,
        report_for: ReportFor | None = None,
        report_html: ReportHtml | None = None,
    ) -> Iterator[bytes]:
        """A ZIP of the matching documents as a stream of byte chunks, in constant memory."""
        return export_zip(
            self,
            query or ArchiveQuery(),
            report_for=report_for,
            now=self._clock(),
            report_html=report_html,
        )

    def export_to(
        self,
        path: Path,
        query: ArchiveQuery | None = None,
        *,
        report_for: ReportFor | None = None,
        report_html: ReportHtml | None = None,
    ) -> ExportSummary:
        """Write the export ZIP to ``path`` (atomically: ``path`` appears only when complete)."""
        return export_to_file(
            self,
            path,
            query or ArchiveQuery(),
            report_for=report_for,
            now=self._clock(),
            report_html=report_html,
        )

    def ping(self) -> None:
        """Readiness: ``archive_unavailable`` unless the object store answers."""
        self.store.ping()

    def describe(self) -> dict[str, Any]:
        return self.store.describe()


def _digest(stream: BinaryIO) -> tuple[str, str, int]:
    """SHA-256, MD5 and length of a seekable stream, which is left at its start."""
    try:
        start = stream.tell()
    except (AttributeError, OSError) as err:
        raise TypeError("the document to archive must be bytes or a seekable binary file") from err
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        sha.update(chunk)
        md5.update(chunk)
        size += len(chunk)
    stream.seek(start)
    return sha.hexdigest(), md5.hexdigest(), size
