"""What a verdict says about a license and a seal beyond "valid": the notices, and the
expected enterprise a relying party names.

A notice (DESIGN.md section 3) is a fact a relying party must see that does not change
``valid``: the signature was made while the license and the seal were active (a timestamp
proves it), and something changed since.  Codes (stable; the HTTP API, the CLI and the HTML
report show them):

``license_suspended_now``
    the license was active at signing and is suspended (停业) now; ``since`` is when the
    suspension began.
``license_cancelled_since_signing`` · ``license_revoked_since_signing``
    the license was active at signing and has been cancelled (注销) · revoked (吊销) since.
``seal_revoked_since_signing``
    the seal was revoked or suspended after it signed; ``reason`` is the RFC 5280 reason code
    (``key_compromise``, ``superseded``, ``affiliation_changed``, ``cessation_of_operation``,
    ``certificate_hold``, ``unspecified``).
``seal_superseded``
    the seal in the document has been re-issued: ``current_version`` is newer than the version
    that signed; ``since`` is when the current version was issued.

Notices are made only for a signature whose license was active at its signing time: when it
was not, the signature is not valid and a problem says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .license import LicenseStatus
from .model import Enterprise, Seal
from .uscc import validate_uscc

__all__ = [
    "LICENSE_NOTICES",
    "NOTICE_CODES",
    "REASON_CODES",
    "Notice",
    "expected_uscc",
    "license_notice",
    "merge_notices",
    "seal_notices",
]

#: the notice for each status a license can have left "active" for
LICENSE_NOTICES: dict[LicenseStatus, str] = {
    LicenseStatus.SUSPENDED: "license_suspended_now",
    LicenseStatus.CANCELLED: "license_cancelled_since_signing",
    LicenseStatus.REVOKED: "license_revoked_since_signing",
}
NOTICE_CODES = (*LICENSE_NOTICES.values(), "seal_revoked_since_signing", "seal_superseded")
#: RFC 5280 CRLReason names as the report spells them (asn1crypto's native names)
REASON_CODES = (
    "unspecified",
    "key_compromise",
    "ca_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
    "remove_from_crl",
    "privilege_withdrawn",
    "aa_compromise",
)

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


@dataclass
class Notice:
    """One notice of a report; ``fields`` names the signatures it concerns."""

    code: str
    message: str
    since: datetime | None
    uscc: str
    enterprise: str
    seal: dict[str, Any] | None = None
    reason: str | None = None
    current_version: int | None = None
    fields: list[str] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        seal = self.seal or {}
        return (self.code, self.uscc, seal.get("kind"), seal.get("version"), self.since)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "since": self.since.isoformat() if self.since else None,
            "uscc": self.uscc,
            "enterprise": self.enterprise,
            "fields": list(self.fields),
        }
        if self.seal is not None:
            out["seal"] = self.seal
        if self.reason is not None:
            out["reason"] = self.reason
        if self.current_version is not None:
            out["current_version"] = self.current_version
        return out


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
) -> Notice | None:
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
    return Notice(
        code=code,
        message=f"the license of {name} ({uscc}) {verb} {_day(since)}{tail}",
        since=since,
        uscc=uscc,
        enterprise=name,
        fields=[field_name],
    )


def _seal_json(seal: Seal) -> dict[str, Any]:
    return {
        "kind": seal.kind.value,
        "label": seal.label,
        "version": seal.version,
        "serial": format(seal.serial, "x"),
    }


def seal_notices(
    seal: Seal,
    newest: Seal | None,
    *,
    revoked_at: datetime | None,
    reason: str | None,
    revoked_at_signing: bool,
    enterprise_name: str,
    field_name: str,
) -> list[Notice]:
    """Notices about the seal that signed: revoked or suspended after signing
    (``revoked_at`` and ``reason`` as the verdict established them), and re-issued."""
    out: list[Notice] = []
    label = f"{seal.label} ({seal.kind.value}, version {seal.version}) of {seal.uscc}"
    if revoked_at is not None and not revoked_at_signing:
        verb = "suspended" if reason == "certificate_hold" else "revoked"
        out.append(
            Notice(
                code="seal_revoked_since_signing",
                message=f"the {label} was {verb} on {_day(revoked_at)} (reason {reason}), "
                "after it signed",
                since=revoked_at,
                uscc=seal.uscc,
                enterprise=enterprise_name,
                seal=_seal_json(seal),
                reason=reason or "unspecified",
                fields=[field_name],
            )
        )
    if newest is not None and newest.version > seal.version:
        out.append(
            Notice(
                code="seal_superseded",
                message=f"the {label} was re-issued: version {newest.version} is current since "
                f"{_day(newest.created_at)}",
                since=newest.created_at,
                uscc=seal.uscc,
                enterprise=enterprise_name,
                seal=_seal_json(seal),
                current_version=newest.version,
                fields=[field_name],
            )
        )
    return out


def merge_notices(notices: list[Notice]) -> list[dict[str, Any]]:
    """One notice per fact (several signatures of one enterprise share its license notice),
    in the order first seen, as JSON."""
    merged: dict[tuple[Any, ...], Notice] = {}
    for notice in notices:
        found = merged.get(notice.key())
        if found is None:
            merged[notice.key()] = notice
        else:
            found.fields.extend(f for f in notice.fields if f not in found.fields)
    return [n.to_json() for n in merged.values()]
