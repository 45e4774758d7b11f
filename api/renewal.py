"""Renewal of archived documents: a new version with a new document timestamp.

``renew_document`` renews one archived document (``POST /v1/archives/{id}/renew``): a B-LTA
file gets a new document timestamp over it (after the validation data of its last timestamp's
chain), whatever its seals' status now; a B-T or B-LT file is extended to B-LTA (its seals
validated at their signature timestamps, the revocation data as it is now embedded).  A B-B
file whose seal is revoked cannot be: 409 ``extend_refused``, nothing written.  Only PDFs
are renewed: an archived OFD or ``SES_Signature`` has no PAdES to extend (409
``archive_not_renewable``, nothing read or written).

``renew_due`` renews every archived B-LTA document whose last timestamp's certificate expires
before a date (``eseal archive renew --before DATE``); it looks at PDF records only.  Each
renewal is a new version of the same archive record (:mod:`storage.archive.versions`) and an
``archive.renew`` audit entry in the same transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from keystore.errors import EsealError
from seals.audit import AuditEvent
from seals.vocab import DocumentFormat
from signer.extension import last_timestamp
from signer.levels import PadesLevel
from storage.archive import ArchiveNotRenewable, ArchiveQuery, ArchiveRecord
from storage.audit import append_events
from storage.outbox import emit

__all__ = ["renew_document", "renew_due"]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def renew_document(c: Any, record: ArchiveRecord, actor: str) -> dict[str, Any]:
    """Write the renewed (or extended) file as the next version of ``record`` (read as its
    latest version) and audit it; returns what was done.  Blocking."""
    if record.format is not DocumentFormat.PDF:
        raise ArchiveNotRenewable(
            f"archived document {record.id} is not a PDF ({record.format.value}); only PDF "
            "documents (PAdES) are renewed or extended"
        )
    pdf = c.archive.read(record)
    extender = c.sealing.document_signer.extender
    if record.level == "B-LTA":
        action = "renew"
        out = c.deadline.run(lambda: asyncio.run(extender.renew(pdf)))
        revoked: list[Any] = []
    else:
        action = "extend"
        out, revoked = c.deadline.run(
            lambda: asyncio.run(extender.extend_reporting(pdf, PadesLevel.B_LTA))
        )
    last = last_timestamp(out)
    renew_by = last.expires if last is not None else None
    event = AuditEvent(
        "archive.renew",
        actor,
        uscc=record.uscc,
        detail={
            "action": action,
            "from_version": record.version,
            "version": record.version + 1,
            "previous_sha256": record.sha256,
            "renew_by": _iso(renew_by),
            "revoked_seals": [
                {
                    "serial": format(r.serial, "x"),
                    "reason": r.reason,
                    "revoked_at": _iso(r.revoked_at),
                }
                for r in revoked
            ],
        },
    )
    sha = hashlib.sha256(out).hexdigest()

    def audit(session: Session, archive_id: str) -> None:
        at = c.archive.clock()
        append_events(session, [replace(event, archive_id=archive_id, document_sha256=sha)], at)
        emit(  # the webhooks' outbox, in the version's transaction
            session,
            "document.extended",
            record.uscc,
            {
                "archive_id": archive_id,
                "uscc": record.uscc,
                "action": action,
                "version": record.version + 1,
                "level": "B-LTA",
                "sha256": sha,
                "size": len(out),
                "renew_by": _iso(renew_by),
            },
            at=at,
        )

    renewed = c.archive.add_version(
        record, out, action=action, level="B-LTA", renew_by=renew_by, also=audit
    )
    return {
        "id": renewed.id,
        "action": action,
        "version": renewed.version,
        "sha256": renewed.sha256,
        "size": renewed.size,
        "renew_by": _iso(renew_by),
        "last_timestamp": _iso(last.time) if last else None,
        "tsa": last.tsa if last else None,
        "revoked_seals": event.detail["revoked_seals"],
    }


def _expires(c: Any, record: ArchiveRecord) -> datetime | None:
    """When the latest version's last timestamp certificate expires (recorded, else read)."""
    if record.version > 1:
        for version in c.archive.index.versions(record.id):
            if version.version == record.version and version.renew_by is not None:
                found: datetime = version.renew_by
                return found
    last = last_timestamp(c.archive.read(record))
    return last.expires if last is not None else None


def renew_due(
    c: Any, before: datetime, actor: str, *, uscc: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Renew every archived B-LTA document whose last timestamp's certificate expires before
    ``before``; documents fail one by one (reported), never the whole run.  OFD and SES
    records are not looked at: their signatures are not PAdES, there is nothing to renew."""
    renewed: list[dict[str, Any]] = []
    due: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    checked = 0
    for record in c.archive.iter_records(ArchiveQuery(uscc=uscc, format=DocumentFormat.PDF)):
        if record.level != "B-LTA":
            continue
        checked += 1
        try:
            expires = _expires(c, record)
            if expires is None or expires >= before:
                continue
            if dry_run:
                due.append({"id": record.id, "version": record.version, "renew_by": _iso(expires)})
                continue
            renewed.append(renew_document(c, record, actor))
        except EsealError as exc:
            failed.append(
                {"id": record.id, "version": record.version, "code": exc.code, "detail": exc.detail}
            )
    return {
        "before": _iso(before),
        "checked": checked,
        "renewed": renewed,
        "due": due,
        "failed": failed,
    }


def cmd_archive_renew(args: Any, settings: Any) -> int:
    """``eseal archive renew --before DATE``: prints the JSON report; exit 1 if any failed."""
    import json
    import sys
    from datetime import date

    from seals.uscc import validate_uscc
    from storage.archive import CHINA_TIME

    from .container import build
    from .errors import InvalidRequest

    try:
        day = date.fromisoformat(args.before)
    except ValueError:
        raise InvalidRequest("--before is a date, YYYY-MM-DD", code="invalid_date") from None
    if args.uscc:
        validate_uscc(args.uscc)
    before = datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME)
    c = build(settings)
    try:
        report = renew_due(c, before, "cli", uscc=args.uscc, dry_run=args.dry_run)
    finally:
        c.close()
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 1 if report["failed"] else 0
