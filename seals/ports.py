"""What the domain needs from the outside world; ``storage`` implements these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .audit import AuditEvent
from .kinds import SealKind
from .license import LicenseStatus, StatusChange
from .model import Enterprise, Seal

__all__ = ["EnterpriseRepository", "StatusChanged", "StatusListener"]


class EnterpriseRepository(Protocol):
    """Persistence of enterprises and seals. Each method is one transaction, and the
    ``audit`` events given to a writing method are appended to the audit log in it."""

    def register(
        self, enterprise: Enterprise, seals: list[Seal], audit: Sequence[AuditEvent] = ()
    ) -> None:
        """Store a new enterprise and its seals atomically.

        Raises :class:`seals.errors.EnterpriseExists` if the USCC is already registered;
        on any failure nothing is stored.
        """

    def get_enterprise(self, uscc: str) -> Enterprise | None: ...

    def license_status(self, uscc: str) -> LicenseStatus | None:
        """The current status of the license alone (no history): None if not registered."""

    def change_status(
        self, uscc: str, change: StatusChange, seals: list[Seal], audit: Sequence[AuditEvent] = ()
    ) -> Enterprise:
        """Append ``change`` to the history, set it as current, and save the given seal
        versions (e.g. revoked ones) in the same transaction. Raises EnterpriseNotFound."""

    def current_seals(self, uscc: str) -> list[Seal]:
        """The newest version of each seal kind of the enterprise."""

    def seal(self, uscc: str, kind: SealKind) -> Seal | None:
        """The newest version of one seal."""

    def seal_by_serial(self, serial: int) -> Seal | None:
        """Any version of any seal, by certificate serial number."""

    def seal_by_sm2_serial(self, serial: int) -> Seal | None:
        """Any version of any seal, by the serial number of its SM2 certificate."""

    def save_seals(self, seals: list[Seal], audit: Sequence[AuditEvent] = ()) -> None:
        """Insert new seal versions or update existing ones (matched on uscc, kind, version),
        all in one transaction."""

    def revoked_seals(self) -> list[Seal]:
        """Every seal version that is revoked or suspended (on hold): what the CRL lists."""

    def revision(self) -> int:
        """A number that every writing method above raises in its own transaction, whichever
        process calls it: a cache of what the registry says (a server's OCSP responses)
        compares it with the one it saw to learn that another process (the CLI) changed a
        status.  One cheap read."""


@dataclass(frozen=True)
class StatusChanged:
    """What :class:`seals.service.SealService` tells its listeners after a status change is
    committed: the license's new status (a license status change) and the seal certificates
    whose status changed (revoked, suspended, resumed, superseded by a re-issue)."""

    uscc: str
    #: serials of the seal certificates (ECDSA or RSA) whose status changed
    serials: tuple[int, ...] = ()
    #: serials of their SM2 certificates, which share their status
    sm2_serials: tuple[int, ...] = ()
    #: the license's new status, when the change was one of the license
    license_status: LicenseStatus | None = None
    #: the registry's revision after the change (:meth:`EnterpriseRepository.revision`)
    revision: int = 0


class StatusListener(Protocol):
    """Called in the process that made the change, after it is committed; other processes
    learn of it through :meth:`EnterpriseRepository.revision`.  A listener's exception is
    logged and does not undo or fail the change."""

    def __call__(self, change: StatusChanged, /) -> None: ...
