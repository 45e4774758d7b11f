"""Records of the domain: a registered enterprise and its seals."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .kinds import SealKind
from .license import License, LicenseStatus, StatusChange

__all__ = ["Enterprise", "ImageSource", "RevocationReason", "Seal", "SealStatus"]


class SealStatus(enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class RevocationReason(enum.Enum):
    """Why a seal certificate is revoked or on hold: RFC 5280 CRLReason, as CRL and OCSP say it.

    Free text about a revocation goes to the audit log; only the code is published.
    """

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"


class ImageSource(enum.Enum):
    RENDERED = "rendered"  #: drawn by eseal from the license face
    SCAN = "scan"  #: a cleaned scan of the enterprise's physical seal


@dataclass(frozen=True)
class Seal:
    """One version of one seal of one enterprise. Re-issue makes a new version."""

    uscc: str
    kind: SealKind
    version: int
    status: SealStatus
    key_ref: str
    key_algorithm: str
    serial: int
    certificate_pem: str
    #: issuing CA then root, PEM
    chain_pem: str
    not_before: datetime
    not_after: datetime
    image_png: bytes = field(repr=False)
    image_sha256: str
    image_source: ImageSource
    created_at: datetime
    status_changed_at: datetime | None = None
    #: free text of the last status change (admin and the enterprise see it; never published)
    status_reason: str | None = None
    #: the published reason of a revocation or suspension (None while active)
    reason_code: RevocationReason | None = None
    #: for ``key_compromise``: from when the key is known to be compromised
    compromised_at: datetime | None = None
    #: the SM2 key and certificate issued beside the one above (DESIGN.md 6: one image, kind,
    #: version and status for both); None for seals issued without SM2
    sm2_key_ref: str | None = None
    sm2_serial: int | None = None
    sm2_certificate_pem: str | None = None
    #: the seal's GB/T 38540 seal data (``SESeal``, the ``.esl`` file, DER) for the SM2
    #: certificate above, signed by the platform's seal maker (seals/esl_maker.py); None for
    #: seals without SM2 and for seal versions issued before eseal made them
    esl: bytes | None = field(default=None, repr=False)
    #: its ``esID``, and its ``SESeal`` version (4, or 5 with a timestamp)
    esl_id: str | None = None
    esl_version: int | None = None

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def revoked_since(self) -> datetime | None:
        """The revocation time CRL, OCSP and the verifier use; None while active.

        A key compromise counts from the compromise time, which may precede the revocation.
        """
        if self.status is SealStatus.ACTIVE:
            return None
        return self.compromised_at or self.status_changed_at or self.created_at

    @property
    def published_reason(self) -> RevocationReason | None:
        """The CRLReason of a revoked or suspended seal; None while active."""
        if self.status is SealStatus.ACTIVE:
            return None
        if self.status is SealStatus.SUSPENDED:
            return RevocationReason.CERTIFICATE_HOLD
        return self.reason_code or RevocationReason.UNSPECIFIED

    def with_status(
        self,
        status: SealStatus,
        at: datetime,
        reason: str | None,
        *,
        code: RevocationReason | None = None,
        compromised_at: datetime | None = None,
    ) -> Seal:
        return replace(
            self,
            status=status,
            status_changed_at=at,
            status_reason=reason,
            reason_code=code,
            compromised_at=compromised_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "uscc": self.uscc,
            "kind": self.kind.value,
            "label": self.label,
            "status": self.status.value,
            "version": self.version,
            "serial": format(self.serial, "x"),
            "key_algorithm": self.key_algorithm,
            "certificate": self.certificate_pem,
            "chain": self.chain_pem,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "image_sha256": self.image_sha256,
            "image_source": self.image_source.value,
            "created_at": self.created_at.isoformat(),
            "status_changed_at": (
                self.status_changed_at.isoformat() if self.status_changed_at else None
            ),
            "status_reason": self.status_reason,
            "reason_code": self.reason_code.value if self.reason_code else None,
            "compromised_at": self.compromised_at.isoformat() if self.compromised_at else None,
            "sm2": self.sm2_json(),
            "esl": self.esl_json(),
        }

    def sm2_json(self) -> dict[str, Any] | None:
        """The SM2 certificate of this seal version (its chain: ``/v1/pki/ca?algorithm=sm2``)."""
        if self.sm2_serial is None or self.sm2_certificate_pem is None:
            return None
        return {
            "key_algorithm": "sm2",
            "serial": format(self.sm2_serial, "x"),
            "certificate": self.sm2_certificate_pem,
        }

    def esl_json(self) -> dict[str, Any] | None:
        """What the seal data is (the file: ``GET .../seals/{kind}/esl``); None without one."""
        if self.esl is None:
            return None
        return {
            "es_id": self.esl_id,
            "version": self.esl_version,
            "sha256": hashlib.sha256(self.esl).hexdigest(),
        }


@dataclass(frozen=True)
class Enterprise:
    """A registered license with its current status and the full history of status changes."""

    license: License
    status: LicenseStatus
    history: tuple[StatusChange, ...]
    registered_at: datetime

    @property
    def uscc(self) -> str:
        return self.license.uscc

    def to_json(self) -> dict[str, Any]:
        return {
            **self.license.model_dump(),
            "status": self.status.value,
            "status_history": [c.to_json() for c in self.history],
            "registered_at": self.registered_at.isoformat(),
        }
