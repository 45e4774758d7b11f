"""Versions of an archived document: the file as sealed (version 1) and its renewals.

A B-LTA document is renewed (a new document timestamp) before the certificate of its last
timestamp expires; an archived B-T/B-LT document can be extended to B-LTA.  Either way the new
file is a new object beside the original, ``{id}.v{N}.pdf``, with its own row in
``archive_versions`` (SHA-256, size, where it is, ``renew_by``); the original object and row
stay as they were.  A record read from the index describes its latest version (``version``,
``sha256``, ``size``, ``object_key`` ... of that version); :func:`versions_of` lists them all.

Only PDFs have later versions: an archived OFD or ``SES_Signature`` (migration 0010) has no
DSS or document timestamp to add, so :meth:`storage.archive.Archive.add_version` refuses it
(``archive_not_renewable``) and its one version is its ``archives`` row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..tables import ArchiveVersionRow
from .model import ArchiveRecord, ArchiveStatus

__all__ = ["ACTIONS", "ArchiveVersion", "latest_versions", "version_key", "versions_of"]

#: how a version came about: ``seal`` (version 1), ``renew``, ``extend``
ACTIONS = ("seal", "renew", "extend")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class ArchiveVersion:
    """One version's file and how it came about."""

    archive_id: str
    version: int
    action: str
    level: str
    sha256: str
    size: int
    created_at: datetime
    object_key: str
    version_id: str | None
    status: ArchiveStatus
    #: notAfter of the certificate of the version's last timestamp (None: not recorded)
    renew_by: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "action": self.action,
            "level": self.level,
            "sha256": self.sha256,
            "size": self.size,
            "created_at": _iso(self.created_at),
            "object_key": self.object_key,
            "version_id": self.version_id,
            "status": self.status.value,
            "renew_by": _iso(self.renew_by),
        }

    def applied_to(self, record: ArchiveRecord) -> ArchiveRecord:
        """``record`` with this version's file fields."""
        return dataclasses.replace(
            record,
            version=self.version,
            level=self.level,
            sha256=self.sha256,
            size=self.size,
            object_key=self.object_key,
            version_id=self.version_id,
            status=self.status,
        )


def first_version(record: ArchiveRecord) -> ArchiveVersion:
    """Version 1, from the ``archives`` row (a record read with ``version == 1``)."""
    return ArchiveVersion(
        record.id,
        1,
        "seal",
        record.level,
        record.sha256,
        record.size,
        record.created_at,
        record.object_key,
        record.version_id,
        record.status,
    )


def version_key(original_key: str, version: int) -> str:
    """``{uscc}/{yyyy}/{mm}/{id}.v{N}.pdf`` beside the original ``{id}.pdf``."""
    if not original_key.endswith(".pdf") or version < 2:
        raise ValueError("a later version's key is made from the original key, version >= 2")
    return f"{original_key[:-4]}.v{version}.pdf"


def _version(row: ArchiveVersionRow) -> ArchiveVersion:
    return ArchiveVersion(
        row.archive_id,
        row.version,
        row.action,
        row.level,
        row.sha256,
        row.size,
        row.created_at,
        row.object_key,
        row.version_id,
        ArchiveStatus(row.status),
        row.renew_by,
    )


def versions_of(session: Session, archive_id: str) -> list[ArchiveVersion]:
    """The later versions (2, 3, ...) of one document, in order."""
    stmt = (
        select(ArchiveVersionRow)
        .where(ArchiveVersionRow.archive_id == archive_id)
        .order_by(ArchiveVersionRow.version)
    )
    return [_version(row) for row in session.scalars(stmt)]


def latest_versions(session: Session, ids: Sequence[str]) -> dict[str, ArchiveVersion]:
    """The latest later version of each of ``ids`` that has one (one query)."""
    if not ids:
        return {}
    stmt = (
        select(ArchiveVersionRow)
        .where(ArchiveVersionRow.archive_id.in_(list(ids)))
        .order_by(ArchiveVersionRow.archive_id, ArchiveVersionRow.version)
    )
    out: dict[str, ArchiveVersion] = {}
    for row in session.scalars(stmt):
        out[row.archive_id] = _version(row)  # ascending: the last one wins
    return out


def applied(row: ArchiveVersionRow, record: ArchiveRecord) -> ArchiveRecord:
    return _version(row).applied_to(record)


def row_of(version: ArchiveVersion) -> ArchiveVersionRow:
    return ArchiveVersionRow(
        archive_id=version.archive_id,
        version=version.version,
        action=version.action,
        level=version.level,
        sha256=version.sha256,
        size=version.size,
        created_at=version.created_at,
        object_key=version.object_key,
        version_id=version.version_id,
        status=version.status.value,
        renew_by=version.renew_by,
    )
