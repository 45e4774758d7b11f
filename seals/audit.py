"""What the seal-use log records: one event per registration, status change, seal use, ..."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Seal

__all__ = ["AuditEvent", "seal_event"]


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the hash-chained audit log; stored in the transaction of its change."""

    #: what happened: ``enterprise.register``, ``license.status``, ``seal.use``, ...
    action: str
    #: who did it: an API key id, or ``cli``
    actor: str
    uscc: str | None = None
    seal_kind: str | None = None
    #: certificate serial of the seal used or changed (hex)
    serial: str | None = None
    document_sha256: str | None = None
    archive_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def seal_event(action: str, actor: str, seal: Seal) -> AuditEvent:
    """The event of a seal's issue or change: its version, status, reason and image."""
    return AuditEvent(
        action,
        actor,
        uscc=seal.uscc,
        seal_kind=seal.kind.value,
        serial=format(seal.serial, "x"),
        detail={
            "version": seal.version,
            "status": seal.status.value,
            "reason": seal.status_reason,
            "reason_code": (seal.reason_code.value if seal.reason_code else None),
            "compromised_at": (seal.compromised_at.isoformat() if seal.compromised_at else None),
            "image_sha256": seal.image_sha256,
            **({"sm2_serial": format(seal.sm2_serial, "x")} if seal.sm2_serial is not None else {}),
        },
    )
