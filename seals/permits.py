"""Permits and filings under a license (许可 / 备案, 一网展示).

An enterprise's administrative permits (e.g. 食品经营许可证) and filings (e.g. ICP 备案) are
kept beside its license: who issued them, their number and scope, the period they are valid
for, and a status.  The status a reader sees is the status *now*: a permit recorded ``valid``
whose last day has passed shows ``expired`` without anyone changing it, and one that ends
within :data:`EXPIRY_NOTICE_DAYS` days carries a notice.  Days are Beijing days (UTC+8), as on
the permits themselves; ``valid_to`` is the last day of validity, none for an open-ended one
(长期).

A revoked permit (撤销) stays revoked.  A scanned copy of the permit (a PDF) may be attached;
every upload is kept with its SHA-256, the latest is the permit's document.

Every change goes through :class:`PermitService`, with its audit entry, in one transaction
that also raises the registry's revision (a cache of what the registry says, such as the
verifier's, sees the change at its next look-up).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .audit import AuditEvent
from .codes import NoticeCode
from .errors import DomainError, EnterpriseNotFound, ErrorKind, LicenseNotActive
from .license import LicenseStatus
from .model import Enterprise
from .verdict import NoticeItem, PermitItem

__all__ = [
    "EXPIRY_NOTICE_DAYS",
    "MAX_DOCUMENT_BYTES",
    "Permit",
    "PermitChange",
    "PermitDocument",
    "PermitExists",
    "PermitInput",
    "PermitKind",
    "PermitNotFound",
    "PermitRepository",
    "PermitService",
    "PermitStatus",
    "beijing_day",
    "check_document",
    "permit_notices",
]

#: a permit that ends within this many days carries a notice (``permit_expiring``)
EXPIRY_NOTICE_DAYS = 30
#: how many enterprises' permits the verifier's look-ups keep (per registry revision)
_CACHED_ENTERPRISES = 1024
#: the largest attached document
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024

_BEIJING = timezone(timedelta(hours=8), "CST")


def beijing_day(at: datetime) -> date:
    """The Beijing calendar day of ``at`` (the day a permit's dates are written in)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(_BEIJING).date()


class PermitKind(enum.Enum):
    """What the record is: an administrative permit or a filing."""

    PERMIT = "permit"  #: 许可
    FILING = "filing"  #: 备案

    @property
    def label(self) -> str:
        return {"permit": "许可", "filing": "备案"}[self.value]


class PermitStatus(enum.Enum):
    VALID = "valid"  #: 有效
    SUSPENDED = "suspended"  #: 暂停
    REVOKED = "revoked"  #: 撤销
    EXPIRED = "expired"  #: 过期

    @property
    def label(self) -> str:
        return {"valid": "有效", "suspended": "暂停", "revoked": "撤销", "expired": "过期"}[
            self.value
        ]


class PermitNotFound(DomainError):
    code = "permit_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Permit not found"


class PermitExists(DomainError):
    code = "permit_exists"
    kind = ErrorKind.CONFLICT
    title = "Permit exists"


class PermitRefused(DomainError):
    """A change the permit's state forbids (a revoked permit stays revoked)."""

    code = "permit_revoked"
    kind = ErrorKind.CONFLICT
    title = "Permit change refused"


class InvalidPermit(DomainError):
    code = "invalid_permit"
    title = "Invalid permit"


@dataclass(frozen=True)
class PermitDocument:
    """An attached copy of the permit (PDF), as stored: its digest is checked on read."""

    sha256: str
    size: int
    filename: str | None
    uploaded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "filename": self.filename,
            "uploaded_at": self.uploaded_at.isoformat(),
        }


@dataclass(frozen=True)
class Permit:
    """One permit or filing of an enterprise, as recorded."""

    id: str
    uscc: str
    kind: PermitKind
    name: str
    number: str
    issuing_authority: str
    scope: str | None
    valid_from: date
    #: the last day of validity; None: open-ended (长期)
    valid_to: date | None
    #: the status as recorded; :meth:`status_on` is what a reader sees
    status: PermitStatus
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
    document: PermitDocument | None = None

    def status_on(self, day: date) -> PermitStatus:
        """The status on ``day``: recorded ``valid`` but past its last day is ``expired``."""
        if self.status is PermitStatus.VALID and self.valid_to is not None and day > self.valid_to:
            return PermitStatus.EXPIRED
        return self.status

    def days_left(self, day: date) -> int | None:
        """Days from ``day`` to the last day of validity (0: it ends today); None if open."""
        return None if self.valid_to is None else (self.valid_to - day).days

    def expiring(self, day: date) -> bool:
        """Valid on ``day`` and ending within :data:`EXPIRY_NOTICE_DAYS` days."""
        left = self.days_left(day)
        return (
            self.status_on(day) is PermitStatus.VALID
            and left is not None
            and 0 <= left <= EXPIRY_NOTICE_DAYS
        )

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The API's and the CLI's shape: the record, and its status on Beijing's today."""
        day = beijing_day(now)
        return {
            "id": self.id,
            "uscc": self.uscc,
            "type": self.kind.value,
            "type_label": self.kind.label,
            "name": self.name,
            "number": self.number,
            "issuing_authority": self.issuing_authority,
            "scope": self.scope,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "status": self.status_on(day).value,
            "status_label": self.status_on(day).label,
            "recorded_status": self.status.value,
            "status_reason": self.status_reason,
            "days_left": self.days_left(day),
            "expiring": self.expiring(day),
            "document": self.document.to_json() if self.document else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    def item(self, now: datetime) -> PermitItem:
        """The verification report's entry of ``permits_now``."""
        day = beijing_day(now)
        return PermitItem(
            id=self.id,
            type=self.kind.value,
            name=self.name,
            number=self.number,
            issuing_authority=self.issuing_authority,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            status=self.status_on(day).value,
            expiring=self.expiring(day),
        )


def permit_notices(
    enterprise: Enterprise, items: Sequence[PermitItem], field_name: str, today: date
) -> list[NoticeItem]:
    """A ``permit_expiring`` notice for each permit of ``items`` that ends soon."""
    out = []
    for item in items:
        if not item.expiring or item.valid_to is None:
            continue
        left = (item.valid_to - today).days
        out.append(
            NoticeItem(
                code=NoticeCode.PERMIT_EXPIRING,
                message=f"the {item.type} {item.name} ({item.number}) of "
                f"{enterprise.license.name} ends on {item.valid_to.isoformat()}, "
                f"in {left} days",
                # the end of its last day: the report shows that day
                since=datetime.combine(item.valid_to, time(23, 59, 59), _BEIJING),
                uscc=enterprise.uscc,
                enterprise=enterprise.license.name,
                fields=[field_name],
            )
        )
    return out


# -- input --------------------------------------------------------------------------------


def check_document(content: bytes) -> None:
    """Refuse what cannot be a permit's document: larger than :data:`MAX_DOCUMENT_BYTES`
    (``file_too_large``), or not a PDF (``invalid_pdf``).  :meth:`PermitService.attach` asks
    this; so does the CLI, before it records a permit with its document."""
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidPermit(
            f"the document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB",
            code="file_too_large",
        )
    if not content.startswith(b"%PDF-") or b"%%EOF" not in content[-2048:]:
        raise InvalidPermit("the document must be a PDF", code="invalid_pdf")


def _kind(value: object) -> object:
    """``许可`` and ``备案`` are accepted for ``permit`` and ``filing``."""
    return (
        {"许可": "permit", "备案": "filing"}.get(value, value) if isinstance(value, str) else value
    )


def _status(value: object) -> object:
    labels = {s.label: s.value for s in PermitStatus}
    return labels.get(value, value) if isinstance(value, str) else value


class PermitInput(BaseModel):
    """A new permit or filing (``POST .../permits``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: PermitKind = Field(description="permit (许可) or filing (备案); the Chinese words too")
    name: str = Field(min_length=1, max_length=100, description="e.g. 食品经营许可证")
    number: str = Field(min_length=1, max_length=100, description="the permit's number")
    issuing_authority: str = Field(min_length=1, max_length=100, description="发证机关")
    scope: str | None = Field(None, max_length=4000, description="what it permits (许可范围)")
    valid_from: date = Field(description="first day of validity, YYYY-MM-DD")
    valid_to: date | None = Field(None, description="last day of validity; none: 长期")
    status: PermitStatus = Field(PermitStatus.VALID, description="as recorded; default valid")
    reason: str | None = Field(None, max_length=500, description="why the status is what it is")

    _type = field_validator("type", mode="before")(lambda v: _kind(v))
    _st = field_validator("status", mode="before")(lambda v: _status(v))

    @model_validator(mode="after")
    def _period(self) -> PermitInput:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class PermitChange(BaseModel):
    """A change to a permit (``PATCH .../permits/{id}``): only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=100)
    number: str | None = Field(None, min_length=1, max_length=100)
    issuing_authority: str | None = Field(None, min_length=1, max_length=100)
    scope: str | None = Field(None, max_length=4000)
    valid_from: date | None = None
    valid_to: date | None = None
    status: PermitStatus | None = None
    reason: str | None = Field(None, max_length=500)

    _st = field_validator("status", mode="before")(lambda v: _status(v))


# -- storage port and service --------------------------------------------------------------


class PermitRepository(Protocol):
    """Where permits are kept (``storage.permits.SqlPermitRepository``); each write is one
    transaction with its audit entry and raises the registry's revision."""

    def add_permit(self, permit: Permit, event: AuditEvent) -> None: ...

    def save_permit(self, permit: Permit, event: AuditEvent) -> None: ...

    def permits(self, uscc: str) -> list[Permit]: ...

    def permit(self, uscc: str, permit_id: str) -> Permit | None: ...

    def add_document(
        self, permit: Permit, document: PermitDocument, content: bytes, event: AuditEvent
    ) -> None: ...

    def document(self, permit_id: str) -> tuple[PermitDocument, bytes] | None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PermitService:
    """The rules of permits; storage and the license registry injected."""

    def __init__(
        self,
        repository: PermitRepository,
        enterprise: Callable[[str], Enterprise | None],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """``enterprise``: the registry's record of a USCC (None if not registered)."""
        self._repo = repository
        self._enterprise = enterprise
        self._clock = clock
        self._lock = threading.Lock()
        #: (registry revision, USCC) → permits, most recently used last (:meth:`for_report`)
        self._cache: OrderedDict[tuple[int, str], list[Permit]] = OrderedDict()

    def now(self) -> datetime:
        return self._clock()

    def _registered(self, uscc: str) -> Enterprise:
        found = self._enterprise(uscc)
        if found is None:
            raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
        return found

    def add(self, uscc: str, data: PermitInput, *, actor: str = "cli") -> Permit:
        """Record a permit of an enterprise whose license is active (409 otherwise); 409
        ``permit_exists`` for a second permit of the same type and number."""
        enterprise = self._registered(uscc)
        if enterprise.status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive(
                f"the license of {uscc} is {enterprise.status.value}; permits are recorded "
                "under active licenses only"
            )
        if any(p.kind is data.type and p.number == data.number for p in self._repo.permits(uscc)):
            raise PermitExists(f"{uscc} has a {data.type.value} numbered {data.number} already")
        now = self._clock()
        permit = Permit(
            id="pmt_" + secrets.token_hex(8),
            uscc=uscc,
            kind=data.type,
            name=data.name,
            number=data.number,
            issuing_authority=data.issuing_authority,
            scope=data.scope,
            valid_from=data.valid_from,
            valid_to=data.valid_to,
            status=data.status,
            status_reason=data.reason,
            created_at=now,
            updated_at=now,
        )
        self._repo.add_permit(permit, _event("permit.add", actor, permit))
        return permit

    def permits(self, uscc: str) -> list[Permit]:
        """The enterprise's permits, oldest first."""
        self._registered(uscc)
        return self._repo.permits(uscc)

    def permit(self, uscc: str, permit_id: str) -> Permit:
        found = self._repo.permit(uscc, permit_id)
        if found is None:
            self._registered(uscc)
            raise PermitNotFound(f"{uscc} has no permit {permit_id[:40]!r}")
        return found

    def change(
        self, uscc: str, permit_id: str, data: PermitChange, *, actor: str = "cli"
    ) -> Permit:
        """Change the fields given.  A revoked permit takes no change (409
        ``permit_revoked``); the period must stay in order (422 ``invalid_permit``)."""
        permit = self.permit(uscc, permit_id)
        if permit.status is PermitStatus.REVOKED:
            raise PermitRefused(f"the permit {permit.number} is revoked; it cannot be changed")
        given = data.model_dump(exclude_unset=True)
        if not given:
            raise InvalidPermit("the change names no field")
        changes: dict[str, Any] = {
            k: v for k, v in given.items() if k in {f for f in Permit.__dataclass_fields__}
        }
        if "reason" in given or "status" in given:
            changes["status_reason"] = given.get("reason")
        for required in ("name", "number", "issuing_authority", "valid_from", "status"):
            if required in changes and changes[required] is None:
                raise InvalidPermit(f"{required} cannot be removed")
        updated = replace(permit, **changes, updated_at=self._clock())
        if updated.valid_to is not None and updated.valid_to < updated.valid_from:
            raise InvalidPermit("valid_to is before valid_from")
        self._repo.save_permit(updated, _event("permit.change", actor, updated, given))
        return updated

    def attach(
        self,
        uscc: str,
        permit_id: str,
        content: bytes,
        filename: str | None = None,
        *,
        actor: str = "cli",
    ) -> Permit:
        """Keep ``content`` (a PDF) as the permit's document; earlier uploads stay stored."""
        permit = self.permit(uscc, permit_id)
        check_document(content)
        name = None
        if filename:
            name = "".join(c for c in filename.rsplit("/", 1)[-1] if c.isprintable())[:200]
        document = PermitDocument(
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            filename=name or None,
            uploaded_at=self._clock(),
        )
        updated = replace(permit, document=document)
        event = _event("permit.document", actor, updated, {"sha256": document.sha256})
        self._repo.add_document(updated, document, content, event)
        return updated

    def document(self, uscc: str, permit_id: str) -> tuple[PermitDocument, bytes]:
        """The permit's latest document; 404 ``permit_document_not_found`` if it has none,
        500 ``permit_document_corrupt`` if the stored bytes no longer match their digest."""
        permit = self.permit(uscc, permit_id)
        found = self._repo.document(permit.id)
        if found is None:
            raise PermitNotFound(
                f"the permit {permit.number} has no document", code="permit_document_not_found"
            )
        document, content = found
        if hashlib.sha256(content).hexdigest() != document.sha256:
            raise DomainError(
                "the stored document does not match its SHA-256", code="permit_document_corrupt"
            )
        return document, content

    def for_report(
        self, enterprise: Enterprise, field_name: str, *, revision: int | None = None
    ) -> tuple[list[PermitItem], list[NoticeItem]]:
        """What the verification report shows of the enterprise's permits now (its
        ``permits_now``) and their ``permit_expiring`` notices for the signature
        ``field_name``.

        ``revision``: the registry's revision the verification reads at
        (``signer.verify_cache.RegistryView.revision``): the permits are read once per
        revision and enterprise, since every permit write raises it.  Their status is still
        computed for the day of the call."""
        now = self._clock()
        permits = self._permits_at(enterprise.uscc, revision)
        items = [p.item(now) for p in permits]
        return items, permit_notices(enterprise, items, field_name, beijing_day(now))

    def _permits_at(self, uscc: str, revision: int | None) -> list[Permit]:
        if revision is None:
            return self._repo.permits(uscc)
        key = (revision, uscc)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        permits = self._repo.permits(uscc)
        with self._lock:
            self._cache[key] = permits
            while len(self._cache) > _CACHED_ENTERPRISES:
                self._cache.popitem(last=False)
        return permits


def _event(
    action: str, actor: str, permit: Permit, detail: dict[str, Any] | None = None
) -> AuditEvent:
    return AuditEvent(
        action,
        actor,
        uscc=permit.uscc,
        detail={
            "permit": permit.id,
            "type": permit.kind.value,
            "number": permit.number,
            "status": permit.status.value,
            **({"changed": _jsonable(detail)} if detail else {}),
        },
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, enum.Enum):
            value = value.value
        out[key] = value
    return out
