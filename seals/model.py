"""Records of the domain: a registered enterprise and its seals."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .kinds import SealKind
from .license import License, LicenseStatus, StatusChange

__all__ = ["Enterprise", "ImageSource", "Seal", "SealStatus"]


class SealStatus(enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


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
    status_reason: str | None = None

    @property
    def label(self) -> str:
        return self.kind.label

    def with_status(self, status: SealStatus, at: datetime, reason: str | None) -> Seal:
        return replace(self, status=status, status_changed_at=at, status_reason=reason)

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
