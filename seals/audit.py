"""What the seal-use log records: one event per registration, status change, seal use, ..."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AuditEvent"]


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
