"""What a verdict says about a license and a seal beyond "valid": its problem and notice items,
the report's ``revoked`` and ``enterprise`` parts, and the expected enterprise a relying party
names.  Which of them a signature gets is decided in :mod:`seals.policy`.

A notice (DESIGN.md section 3) is a fact a relying party must see that does not change
``valid``: the signature was made while the license and the seal were active (a timestamp
proves it), and something changed since.  The codes and their texts are
:class:`seals.codes.NoticeCode`:

``license_suspended_now``
    the license was active at signing and is suspended (停业) now; ``since`` is when the
    suspension began.
``license_cancelled_since_signing`` · ``license_revoked_since_signing``
    the license was active at signing and has been cancelled (注销) · revoked (吊销) since.
``seal_revoked_since_signing``
    the seal was revoked or suspended after it signed; ``reason`` is the RFC 5280 reason code
    (:class:`seals.vocab.CrlReason`; eseal sets ``key_compromise``, ``superseded``,
    ``affiliation_changed``, ``cessation_of_operation``, ``certificate_hold``, ``unspecified``).
``seal_superseded``
    the seal in the document has been re-issued: ``current_version`` is newer than the version
    that signed; ``since`` is when the current version was issued.

Notices are made only for a signature whose license was active at its signing time: when it
was not, the signature is not valid and a problem says why.

The items are pydantic models, part of the report's schema.  Times are written as Python's
``isoformat()`` (``+00:00``, not pydantic's ``Z``), as the report always wrote them.  The
optional keys of a notice (``seal``, ``reason``, ``current_version``) are set only where they
apply, so ``model_dump(exclude_unset=True)`` leaves them out as the report always did.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from .codes import NoticeCode, ProblemCode
from .license import LicenseStatus
from .model import Enterprise, Seal
from .uscc import validate_uscc
from .vocab import CrlReason, SealKind, UsccSource, values

__all__ = [
    "LICENSE_NOTICES",
    "NOTICE_CODES",
    "REASON_CODES",
    "EnterpriseInfo",
    "IsoTime",
    "NoticeItem",
    "NoticeSeal",
    "PermitItem",
    "ProblemItem",
    "RevocationInfo",
    "expected_uscc",
    "license_notice",
    "merge_notices",
    "seal_notices",
]

#: the notice for each status a license can have left "active" for
LICENSE_NOTICES: dict[LicenseStatus, NoticeCode] = {
    LicenseStatus.SUSPENDED: NoticeCode.LICENSE_SUSPENDED_NOW,
    LicenseStatus.CANCELLED: NoticeCode.LICENSE_CANCELLED_SINCE_SIGNING,
    LicenseStatus.REVOKED: NoticeCode.LICENSE_REVOKED_SINCE_SIGNING,
}
#: every notice code, as the report spells it
NOTICE_CODES: tuple[str, ...] = values(NoticeCode)
#: RFC 5280 CRLReason names as the report spells them (asn1crypto's native names)
REASON_CODES: tuple[str, ...] = values(CrlReason)

#: a time of the report: ``isoformat()`` in JSON, a date-time in the schema
IsoTime = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

_WHITESPACE = re.compile(r"\s+")


def expected_uscc(value: object) -> str | None:
    """The ``expect_uscc`` of a verification, normalised: None when absent or blank, else
    the code without any whitespace, in capitals.  Raises :class:`seals.errors.InvalidUSCC`
    (code ``invalid_uscc``) if that is not a valid USCC."""
    if value is None:
        return None
    if not isinstance(value, str):
        return validate_uscc(value)  # raises: not a string
    text = _WHITESPACE.sub("", value).upper()
    if not text:
        return None
    return validate_uscc(text)


class ProblemItem(BaseModel):
    """Why a signature (or the document) is not valid: a registry code and the details."""

    code: ProblemCode
    message: str = Field(description="what exactly is wrong, in English")


class NoticeSeal(BaseModel):
    """The seal version a notice concerns."""

    kind: SealKind
    label: str
    version: int
    serial: str = Field(description="certificate serial number, hexadecimal")


class NoticeItem(BaseModel):
    """One notice of a report; ``fields`` names the signatures it concerns."""

    code: NoticeCode
    message: str
    since: IsoTime | None
    uscc: str
    enterprise: str
    fields: list[str]
    seal: NoticeSeal | None = None
    reason: CrlReason | None = None
    current_version: int | None = None

    def key(self) -> tuple[Any, ...]:
        """The fact a notice states: one per report, whichever signatures it concerns."""
        seal = self.seal
        return (
            self.code,
            self.uscc,
            seal.kind if seal else None,
            seal.version if seal else None,
            self.since,
        )


class RevocationInfo(BaseModel):
    """The report's ``revoked`` of a seal: whether and when its certificate was revoked or
    suspended, and whether that was at or before the time it signed."""

    revoked: bool
    at: IsoTime | None
    reason: CrlReason | None
    at_signing: bool


class PermitItem(BaseModel):
    """A permit or filing under the license (``seals.permits``), as it stands now: the
    report's ``enterprise.permits_now``."""

    id: str
    type: str = Field(description="permit (许可) or filing (备案)")
    name: str
    number: str
    issuing_authority: str
    valid_from: date
    valid_to: date | None = Field(description="the last day of validity; null: open-ended")
    status: str = Field(description="valid, suspended, revoked or expired, now")
    expiring: bool = Field(description="valid and ending within 30 days (a notice says so)")


class EnterpriseInfo(BaseModel):
    """The report's ``enterprise`` of a seal: who the certificate names and what the license
    registry says of it."""

    uscc: str | None
    uscc_source: UsccSource | None
    name: str | None = Field(description="the registered name, else the certificate's")
    certificate_name: str | None
    license_status_now: LicenseStatus | None
    license_status_at_signing: LicenseStatus | None
    matches_registry: bool
    #: the permits and filings under the license now; set only for a registered enterprise
    #: with at least one (the report leaves the key out otherwise: absent means none)
    permits_now: list[PermitItem] | None = None


#: dates in notices are Beijing dates (UTC+8), as on the HTML report and the license itself
_BEIJING = timezone(timedelta(hours=8), "CST")


def _day(value: datetime | None) -> str:
    if value is None:
        return "an unknown date"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(_BEIJING).date().isoformat()


def license_notice(
    enterprise: Enterprise, at_signing: LicenseStatus | None, field_name: str
) -> NoticeItem | None:
    """The notice for a license that was active at signing and is not now, else None."""
    now = enterprise.status
    code = LICENSE_NOTICES.get(now)
    if code is None or at_signing is not LicenseStatus.ACTIVE:
        return None
    changes = sorted(enterprise.history, key=lambda c: c.at)
    since = next((c.at for c in reversed(changes) if c.status is now), None)
    name, uscc = enterprise.license.name, enterprise.uscc
    verb = {
        LicenseStatus.SUSPENDED: "has been suspended since",
        LicenseStatus.CANCELLED: "was cancelled on",
        LicenseStatus.REVOKED: "was revoked on",
    }[now]
    tail = "" if now is LicenseStatus.SUSPENDED else ", after the seal signed"
    return NoticeItem(
        code=code,
        message=f"the license of {name} ({uscc}) {verb} {_day(since)}{tail}",
        since=since,
        uscc=uscc,
        enterprise=name,
        fields=[field_name],
    )


def _notice_seal(seal: Seal, serial: int | None) -> NoticeSeal:
    return NoticeSeal(
        kind=seal.kind,
        label=seal.label,
        version=seal.version,
        serial=format(seal.serial if serial is None else serial, "x"),
    )


def seal_notices(
    seal: Seal,
    newest: Seal | None,
    *,
    revoked_at: datetime | None,
    reason: CrlReason | None,
    revoked_at_signing: bool,
    enterprise_name: str,
    field_name: str,
    serial: int | None = None,
) -> list[NoticeItem]:
    """Notices about the seal that signed: revoked or suspended after signing
    (``revoked_at`` and ``reason`` as the verdict established them), and re-issued.
    ``serial``: the certificate that signed (the seal's SM2 one, or by default its
    international one), which the notice names."""
    out: list[NoticeItem] = []
    label = f"{seal.label} ({seal.kind.value}, version {seal.version}) of {seal.uscc}"
    if revoked_at is not None and not revoked_at_signing:
        verb = "suspended" if reason is CrlReason.CERTIFICATE_HOLD else "revoked"
        out.append(
            NoticeItem(
                code=NoticeCode.SEAL_REVOKED_SINCE_SIGNING,
                message=f"the {label} was {verb} on {_day(revoked_at)} "
                f"(reason {reason.value if reason else None}), after it signed",
                since=revoked_at,
                uscc=seal.uscc,
                enterprise=enterprise_name,
                fields=[field_name],
                seal=_notice_seal(seal, serial),
                reason=reason or CrlReason.UNSPECIFIED,
            )
        )
    if newest is not None and newest.version > seal.version:
        out.append(
            NoticeItem(
                code=NoticeCode.SEAL_SUPERSEDED,
                message=f"the {label} was re-issued: version {newest.version} is current since "
                f"{_day(newest.created_at)}",
                since=newest.created_at,
                uscc=seal.uscc,
                enterprise=enterprise_name,
                fields=[field_name],
                seal=_notice_seal(seal, serial),
                current_version=newest.version,
            )
        )
    return out


def merge_notices(notices: list[NoticeItem]) -> list[NoticeItem]:
    """One notice per fact (several signatures of one enterprise share its license notice),
    in the order first seen."""
    merged: dict[tuple[Any, ...], NoticeItem] = {}
    for notice in notices:
        found = merged.get(notice.key())
        if found is None:
            merged[notice.key()] = notice
        else:
            found.fields.extend(f for f in notice.fields if f not in found.fields)
    return list(merged.values())
