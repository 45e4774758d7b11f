"""Seal-use approval (用印审批): the policies, the requests waiting for approval, the decisions.

A policy says, per enterprise and seal kind, whether using the seal needs approval
(``approval: none | required``), how many approvers must agree (``quorum``, M of N), which
approver keys count (``approvers``: their ids; None for every approver key of the enterprise)
and when (a condition: the declared document types only, amounts from ``min_amount`` up).

A request (:class:`Approval`) keeps the uploaded bytes (``approval_documents``) with their
SHA-256 fixed at upload, the sealing options as sent, and the requirements that applied when it
was made: changing a policy later does not move a request already made.  Its life:

``pending`` → ``approved`` (the quorum is met; the caller that met it seals) → ``sealed``;
``pending`` → ``rejected`` (any one eligible approver rejects) or ``expired`` (its time ran
out); ``approved`` → ``failed`` when sealing is refused for good (a seal suspended or revoked
meanwhile: the usual code is kept in ``error``).  An interrupted sealing (an outage, a crash)
leaves it ``approved``; :meth:`ApprovalStore.claim` takes it again once no other attempt holds
it.  The document's bytes are removed when the request ends; its SHA-256 stays, here and in
the audit log.

Every change is one transaction with its audit entry (``seal.policy``, ``approval.request``,
``approval.approve``, ``approval.reject``, ``approval.expire``, ``approval.seal``,
``approval.fail``).  Decisions lock the request's row (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): of two approvals racing to the quorum exactly one
moves the request to ``approved`` and is told to seal.

Every method blocks (database I/O): run it off the event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from ulid import ULID

from seals.audit import AuditEvent
from seals.errors import DomainError, EnterpriseNotFound, ErrorKind, EsealError
from seals.kinds import SealKind
from seals.vocab import ApprovalDecision, ApprovalMode, ApprovalStatus, DocumentType

from .access_tables import ApiKeyRow
from .audit import append_events
from .db import WRITE, translate_errors
from .outbox import emit
from .tables import (
    ApprovalDocumentRow,
    ApprovalRow,
    ApprovalVoteRow,
    EnterpriseRow,
    SealPolicyRow,
)

__all__ = [
    "APPROVER_ROLE",
    "Approval",
    "ApprovalClosed",
    "ApprovalNotFound",
    "ApprovalStore",
    "DecisionRefused",
    "DocumentDiscarded",
    "InvalidPolicy",
    "NewApproval",
    "Requirement",
    "SealPolicy",
    "Vote",
    "format_amount",
    "parse_amount",
]

#: the API key role whose keys decide (``api.auth.Role.APPROVER``; storage does not import api)
APPROVER_ROLE = "approver"
#: the largest amount a request or policy may name: 10^15 yuan, in fen
MAX_AMOUNT_FEN = 10**17
#: a sealing attempt that holds a request longer than this is taken to have died
STALE_SEALING = timedelta(minutes=15)
#: who writes what no caller did (an expiry)
SYSTEM_ACTOR = "system"


# -- errors ------------------------------------------------------------------------------


class ApprovalNotFound(EsealError):
    code = "approval_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Approval request not found"


class ApprovalClosed(EsealError):
    """The request takes no more decisions: it was approved, sealed, rejected, expired or
    failed (``status`` says which)."""

    code = "approval_closed"
    kind = ErrorKind.CONFLICT
    title = "Approval request closed"

    def __init__(self, detail: str, *, status: ApprovalStatus) -> None:
        super().__init__(detail)
        self.status = status

    def to_problem(self) -> dict[str, object]:
        return {**super().to_problem(), "approval_status": self.status.value}


class DecisionRefused(EsealError):
    """This key may not decide on this request (separation of duties), or did already."""

    code = "decision_refused"
    kind = ErrorKind.FORBIDDEN
    title = "Decision refused"


class DocumentDiscarded(EsealError):
    """The request ended: its uploaded document is no longer kept."""

    code = "approval_document_discarded"
    kind = ErrorKind.NOT_FOUND
    title = "Document no longer kept"


class InvalidPolicy(DomainError):
    code = "invalid_seal_policy"
    title = "Invalid seal policy"


# -- amounts -----------------------------------------------------------------------------


def parse_amount(value: str | int | float | Decimal | None) -> int | None:
    """An amount in yuan (``"120000.50"``, at most two decimals, not negative) → fen."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise DomainError("the amount is a number of yuan", code="invalid_amount")
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise DomainError(
            "the amount is a number of yuan with at most two decimals, e.g. 120000.50",
            code="invalid_amount",
        ) from None
    fen = amount * 100
    if not amount.is_finite() or fen != fen.to_integral_value() or amount < 0:
        raise DomainError(
            "the amount is a number of yuan, not negative, with at most two decimals",
            code="invalid_amount",
        )
    if fen > MAX_AMOUNT_FEN:
        raise DomainError("the amount is too large", code="invalid_amount")
    return int(fen)


def format_amount(fen: int | None) -> str | None:
    """fen → yuan with two decimals (``"120000.50"``)."""
    if fen is None:
        return None
    return f"{fen // 100}.{fen % 100:02d}"


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealPolicy:
    """Whether using one seal kind of one enterprise needs approval, by whom, and when."""

    #: the seal kind it governs
    kind: SealKind
    #: ``none``: seal at once; ``required``: only after approval
    approval: ApprovalMode = ApprovalMode.NONE
    #: M: how many approvers must approve
    quorum: int = 1
    #: the approver keys that count (ids); None: every approver key of the enterprise
    approvers: tuple[str, ...] | None = None
    #: condition: approval only for these declared document types (None: every type)
    document_types: tuple[DocumentType, ...] | None = None
    #: condition: approval only from this amount up, in fen (None: whatever the amount; a
    #: request that names no amount needs approval)
    min_amount_fen: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    def applies(self, document_type: DocumentType, amount_fen: int | None) -> bool:
        """Whether a request of this type and amount needs approval under this policy."""
        if self.approval is ApprovalMode.NONE:
            return False
        if self.document_types is not None and document_type not in self.document_types:
            return False
        return not (
            self.min_amount_fen is not None
            and amount_fen is not None
            and amount_fen < self.min_amount_fen
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "approval": self.approval.value,
            "quorum": self.quorum,
            "approvers": list(self.approvers) if self.approvers is not None else None,
            "condition": {
                "document_types": (
                    [t.value for t in self.document_types]
                    if self.document_types is not None
                    else None
                ),
                "min_amount": format_amount(self.min_amount_fen),
            },
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class Requirement:
    """What one seal kind's policy asks of a request: ``quorum`` approvals by ``approvers``
    (None: any approver key of the enterprise)."""

    kind: SealKind
    quorum: int
    approvers: tuple[str, ...] | None = None

    def eligible(self, key_id: str) -> bool:
        return self.approvers is None or key_id in self.approvers

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "quorum": self.quorum,
            "approvers": list(self.approvers) if self.approvers is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Requirement:
        approvers = data.get("approvers")
        return cls(
            SealKind(data["kind"]),
            int(data["quorum"]),
            tuple(approvers) if approvers is not None else None,
        )


@dataclass(frozen=True)
class Vote:
    key_id: str
    key_name: str
    decision: ApprovalDecision
    comment: str | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.key_name,
            "decision": self.decision.value,
            "comment": self.comment,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class NewApproval:
    """What a sealing request that needs approval brings (:meth:`ApprovalStore.create`)."""

    uscc: str
    requested_by: str
    requester_name: str
    data: bytes
    document_format: str
    options: dict[str, Any]
    document_type: str
    reference: str | None
    amount_fen: int | None
    requirements: Sequence[Requirement]
    placements: Sequence[dict[str, Any]]
    request_sha256: str
    idempotency_key: str | None = None
    original_name: str | None = None


@dataclass(frozen=True)
class Approval:
    """A sealing request that needs (or needed) approval, with its decisions."""

    id: str
    uscc: str
    status: ApprovalStatus
    requested_by: str
    requester_name: str
    requested_at: datetime
    expires_at: datetime
    finished_at: datetime | None
    idempotency_key: str | None
    request_sha256: str
    document_sha256: str
    document_size: int
    document_format: str
    original_name: str | None
    options: dict[str, Any]
    document_type: str
    reference: str | None
    amount_fen: int | None
    requirements: tuple[Requirement, ...]
    placements: tuple[dict[str, Any], ...]
    sealing_since: datetime | None
    archive_id: str | None
    result_sha256: str | None
    error: dict[str, Any] | None
    votes: tuple[Vote, ...] = field(default=())

    def approvals_for(self, requirement: Requirement) -> int:
        """How many eligible approvers approved, for ``requirement``."""
        return sum(
            1
            for v in self.votes
            if v.decision is ApprovalDecision.APPROVE and requirement.eligible(v.key_id)
        )

    @property
    def quorum_met(self) -> bool:
        return all(self.approvals_for(r) >= r.quorum for r in self.requirements)

    def may_decide(self, key_id: str) -> bool:
        """Whether ``key_id`` (an approver key of the enterprise) counts for a requirement."""
        return any(r.eligible(key_id) for r in self.requirements)

    @property
    def document_kept(self) -> bool:
        return self.status in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uscc": self.uscc,
            "status": self.status.value,
            "requested_by": {"key_id": self.requested_by, "name": self.requester_name},
            "requested_at": self.requested_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "document": {
                "sha256": self.document_sha256,
                "size": self.document_size,
                "format": self.document_format,
                "name": self.original_name,
                "kept": self.document_kept,
            },
            "document_type": self.document_type,
            "reference": self.reference,
            "amount": format_amount(self.amount_fen),
            "options": self.options,
            "requirements": [
                {**r.to_json(), "approvals": self.approvals_for(r)} for r in self.requirements
            ],
            "decisions": [v.to_json() for v in self.votes],
            "placements": list(self.placements),
            "archive_id": self.archive_id,
            "result_sha256": self.result_sha256,
            "error": self.error,
        }


def _approval(row: ApprovalRow, votes: Iterable[ApprovalVoteRow]) -> Approval:
    return Approval(
        id=row.id,
        uscc=row.uscc,
        status=ApprovalStatus(row.status),
        requested_by=row.requested_by,
        requester_name=row.requester_name,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        finished_at=row.finished_at,
        idempotency_key=row.idempotency_key,
        request_sha256=row.request_sha256,
        document_sha256=row.document_sha256,
        document_size=row.document_size,
        document_format=row.document_format,
        original_name=row.original_name,
        options=dict(row.options),
        document_type=row.document_type,
        reference=row.reference,
        amount_fen=row.amount_fen,
        requirements=tuple(Requirement.from_json(r) for r in row.requirements),
        placements=tuple(row.placements),
        sealing_since=row.sealing_since,
        archive_id=row.archive_id,
        result_sha256=row.result_sha256,
        error=dict(row.error) if row.error is not None else None,
        votes=tuple(
            Vote(v.key_id, v.key_name, ApprovalDecision(v.decision), v.comment, v.at)
            for v in sorted(votes, key=lambda v: (v.at, v.key_id))
        ),
    )


def _policy(row: SealPolicyRow) -> SealPolicy:
    return SealPolicy(
        kind=SealKind(row.kind),
        approval=ApprovalMode(row.approval),
        quorum=row.quorum,
        approvers=tuple(row.approvers) if row.approvers is not None else None,
        document_types=(
            tuple(DocumentType(t) for t in row.document_types)
            if row.document_types is not None
            else None
        ),
        min_amount_fen=row.min_amount_fen,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


# -- the store ---------------------------------------------------------------------------


class ApprovalStore:
    """Policies and approval requests in the metadata database.  Thread-safe: sessions are
    per call; every public method is one transaction (or reads)."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: timedelta = timedelta(hours=72),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)
        self.ttl = ttl
        self.clock = clock or (lambda: datetime.now(UTC))

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # -- policies ------------------------------------------------------------------------

    def policies(self, uscc: str) -> list[SealPolicy]:
        """The policy of each of the five seal kinds (``approval: none`` where none is set)."""
        with translate_errors(), self._read.begin() as session:
            _require_enterprise(session, uscc)
            rows = {
                r.kind: r
                for r in session.scalars(select(SealPolicyRow).where(SealPolicyRow.uscc == uscc))
            }
        return [_policy(rows[k.value]) if k.value in rows else SealPolicy(k) for k in SealKind]

    def set_policies(
        self, uscc: str, policies: Sequence[SealPolicy], *, actor: str
    ) -> list[SealPolicy]:
        """Replace the enterprise's policies (a kind not named: ``approval: none``).

        Named approvers must be active approver keys of the enterprise, and a quorum must be
        reachable: at most the number of approvers that count (``invalid_seal_policy``)."""
        kinds = [p.kind for p in policies]
        if len(set(kinds)) != len(kinds):
            raise InvalidPolicy("each seal kind may have one policy")
        now = self._now()
        with translate_errors(), self._write.begin() as session:
            _require_enterprise(session, uscc)
            approvers = set(_approver_keys(session, uscc))
            for p in policies:
                if p.quorum < 1:
                    raise InvalidPolicy(f"{p.kind.value}: the quorum is at least 1")
                if p.approvers is not None:
                    if len(set(p.approvers)) != len(p.approvers):
                        raise InvalidPolicy(f"{p.kind.value}: an approver is named twice")
                    unknown = sorted(set(p.approvers) - approvers)
                    if unknown:
                        raise InvalidPolicy(
                            f"{p.kind.value}: not an active approver key of {uscc}: "
                            + ", ".join(unknown)
                        )
                if p.approval is ApprovalMode.REQUIRED:
                    n = len(p.approvers) if p.approvers is not None else len(approvers)
                    if p.quorum > n:
                        raise InvalidPolicy(
                            f"{p.kind.value}: a quorum of {p.quorum} needs at least {p.quorum} "
                            f"approvers; {n} can approve (create approver keys first: "
                            "eseal apikey create --role approver --uscc ...)"
                        )
                if p.min_amount_fen is not None and not 0 <= p.min_amount_fen <= MAX_AMOUNT_FEN:
                    raise InvalidPolicy(f"{p.kind.value}: the minimum amount is out of range")
            session.execute(delete(SealPolicyRow).where(SealPolicyRow.uscc == uscc))
            for p in policies:
                session.add(
                    SealPolicyRow(
                        uscc=uscc,
                        kind=p.kind.value,
                        approval=p.approval.value,
                        quorum=p.quorum,
                        approvers=list(p.approvers) if p.approvers is not None else None,
                        document_types=(
                            [t.value for t in p.document_types]
                            if p.document_types is not None
                            else None
                        ),
                        min_amount_fen=p.min_amount_fen,
                        updated_at=now,
                        updated_by=actor,
                    )
                )
            session.flush()
            saved = [replace(p, updated_at=now, updated_by=actor) for p in policies]
            append_events(
                session,
                [
                    AuditEvent(
                        "seal.policy",
                        actor,
                        uscc=uscc,
                        detail={"policies": [_audit_policy(p) for p in saved]},
                    )
                ],
                now,
            )
        named = {p.kind: p for p in saved}
        return [named.get(k, SealPolicy(k)) for k in SealKind]

    def requirements(
        self,
        uscc: str,
        kinds: Iterable[SealKind],
        document_type: DocumentType,
        amount_fen: int | None,
    ) -> list[Requirement]:
        """What a request using seals of ``kinds`` needs: one requirement per kind whose
        policy applies (empty: no approval needed)."""
        wanted = list(dict.fromkeys(kinds))
        with translate_errors(), self._read.begin() as session:
            rows = {
                r.kind: r
                for r in session.scalars(
                    select(SealPolicyRow).where(
                        SealPolicyRow.uscc == uscc,
                        SealPolicyRow.kind.in_([k.value for k in wanted]),
                    )
                )
            }
        out = []
        for kind in wanted:
            row = rows.get(kind.value)
            if row is None:
                continue
            policy = _policy(row)
            if policy.applies(document_type, amount_fen):
                out.append(Requirement(kind, policy.quorum, policy.approvers))
        return out

    # -- requests ------------------------------------------------------------------------

    def find(self, requested_by: str, idempotency_key: str) -> Approval | None:
        """The request ``requested_by`` made under ``idempotency_key``, if any."""
        with translate_errors(), self._read.begin() as session:
            row = session.scalar(
                select(ApprovalRow).where(
                    ApprovalRow.requested_by == requested_by,
                    ApprovalRow.idempotency_key == idempotency_key,
                )
            )
            if row is None:
                return None
            return _approval(row, _votes(session, row.id))

    def create(self, new: NewApproval) -> tuple[Approval, bool]:
        """Keep the request and its document; returns it and whether it is new (False: the
        same ``idempotency_key`` made it first, concurrently)."""
        if not new.requirements:
            raise ValueError("a request without requirements needs no approval")
        now = self._now()
        ulid = ULID.from_datetime(now)
        sha = hashlib.sha256(new.data).hexdigest()
        row = ApprovalRow(
            id=str(ulid),
            uscc=new.uscc,
            status=ApprovalStatus.PENDING.value,
            requested_by=new.requested_by,
            requester_name=new.requester_name,
            requested_at=now,
            expires_at=now + self.ttl,
            finished_at=None,
            idempotency_key=new.idempotency_key,
            request_sha256=new.request_sha256,
            document_sha256=sha,
            document_size=len(new.data),
            document_format=new.document_format,
            original_name=new.original_name,
            options=new.options,
            document_type=new.document_type,
            reference=new.reference,
            amount_fen=new.amount_fen,
            requirements=[r.to_json() for r in new.requirements],
            placements=list(new.placements),
            sealing_since=None,
            archive_id=None,
            result_sha256=None,
            error=None,
        )
        event = AuditEvent(
            "approval.request",
            new.requested_by,
            uscc=new.uscc,
            document_sha256=sha,
            detail={
                "approval_id": row.id,
                "requirements": row.requirements,
                "document_type": new.document_type,
                "reference": new.reference,
                "amount": format_amount(new.amount_fen),
                "format": new.document_format,
                "expires_at": row.expires_at.isoformat(),
            },
        )
        try:
            with translate_errors(), self._write.begin() as session:
                _require_enterprise(session, new.uscc)
                session.add(row)
                session.flush()
                session.add(ApprovalDocumentRow(approval_id=row.id, data=new.data))
                append_events(session, [event], now)
                emit(session, "approval.requested", new.uscc, _event_data(event))
        except IntegrityError:
            if new.idempotency_key is None:
                raise
            found = self.find(new.requested_by, new.idempotency_key)
            if found is None:
                raise
            return found, False
        return _approval(row, ()), True

    def get(self, approval_id: str) -> Approval:
        """The request (expired first, if its time ran out while it waited)."""
        found = self._get(approval_id)
        if found.status is ApprovalStatus.PENDING and self._now() >= found.expires_at:
            self.expire_due(ids=[approval_id])
            found = self._get(approval_id)
        return found

    def _get(self, approval_id: str) -> Approval:
        with translate_errors(), self._read.begin() as session:
            row = session.get(ApprovalRow, approval_id)
            if row is None:
                raise ApprovalNotFound(f"no approval request {approval_id!r}")
            return _approval(row, _votes(session, row.id))

    def requests(
        self,
        *,
        uscc: str | None = None,
        status: ApprovalStatus | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[Approval]:
        """Requests, newest first; ``before``: an id, for the next page."""
        self.expire_due(uscc=uscc)
        stmt = select(ApprovalRow).order_by(ApprovalRow.id.desc()).limit(limit)
        if uscc is not None:
            stmt = stmt.where(ApprovalRow.uscc == uscc)
        if status is not None:
            stmt = stmt.where(ApprovalRow.status == status.value)
        if before is not None:
            stmt = stmt.where(ApprovalRow.id < before)
        with translate_errors(), self._read.begin() as session:
            rows = list(session.scalars(stmt))
            votes: dict[str, list[ApprovalVoteRow]] = {r.id: [] for r in rows}
            if rows:
                for v in session.scalars(
                    select(ApprovalVoteRow).where(ApprovalVoteRow.approval_id.in_(list(votes)))
                ):
                    votes[v.approval_id].append(v)
            return [_approval(r, votes[r.id]) for r in rows]

    def document(self, approval_id: str) -> bytes:
        """The uploaded bytes, checked against the SHA-256 fixed at upload."""
        with translate_errors(), self._read.begin() as session:
            row = session.get(ApprovalRow, approval_id)
            if row is None:
                raise ApprovalNotFound(f"no approval request {approval_id!r}")
            doc = session.get(ApprovalDocumentRow, approval_id)
            if doc is None:
                raise DocumentDiscarded(
                    f"approval request {approval_id} is {row.status}: its uploaded document "
                    "is no longer kept"
                )
            data = bytes(doc.data)
            expected = row.document_sha256
        if hashlib.sha256(data).hexdigest() != expected:
            raise EsealError(
                f"the document of approval request {approval_id} does not match its SHA-256",
                code="approval_document_corrupt",
            )
        return data

    def decide(
        self,
        approval_id: str,
        *,
        key_id: str,
        key_name: str,
        key_uscc: str | None,
        decision: ApprovalDecision,
        comment: str | None = None,
    ) -> tuple[Approval, bool]:
        """Record one approver's decision; returns the request and whether this decision
        met the quorum (the caller then seals: :meth:`sealed` or :meth:`failed` after).

        Refused (``decision_refused``): a key of another enterprise, the requesting key, a
        key the request's policies do not count, a second decision by the same key.
        ``approval_closed``: the request no longer waits for decisions."""
        now = self._now()
        with translate_errors(), self._write.begin() as session:
            row = _locked(session, approval_id)
            if key_uscc != row.uscc:
                raise DecisionRefused("this key may not decide for that enterprise")
            if row.status == ApprovalStatus.PENDING.value and now >= row.expires_at:
                self._expire(session, row, now)  # committed; the refusal follows
                expired: ApprovalClosed = _Closed(row)
            elif row.status != ApprovalStatus.PENDING.value:
                raise _Closed(row)
            else:
                return self._vote(session, row, now, key_id, key_name, decision, comment)
        raise expired

    def _vote(
        self,
        session: Session,
        row: ApprovalRow,
        now: datetime,
        key_id: str,
        key_name: str,
        decision: ApprovalDecision,
        comment: str | None,
    ) -> tuple[Approval, bool]:
        current = _approval(row, _votes(session, row.id))
        if key_id == row.requested_by:
            raise DecisionRefused("the key that asked for a seal cannot approve its own request")
        if any(v.key_id == key_id for v in current.votes):
            raise DecisionRefused("this key has already decided on this request")
        if not current.may_decide(key_id):
            raise DecisionRefused(
                "this approver key is not among the approvers of the seals this request uses"
            )
        session.add(
            ApprovalVoteRow(
                approval_id=row.id,
                key_id=key_id,
                key_name=key_name,
                decision=decision.value,
                comment=comment,
                at=now,
            )
        )
        events = [
            AuditEvent(
                f"approval.{decision.value}",
                key_id,
                uscc=row.uscc,
                document_sha256=row.document_sha256,
                detail={"approval_id": row.id, "comment": comment},
            )
        ]
        met = False
        after = replace(
            current,
            votes=(*current.votes, Vote(key_id, key_name, decision, comment, now)),
        )
        if decision is ApprovalDecision.REJECT:
            row.status = ApprovalStatus.REJECTED.value
            row.finished_at = now
            _discard(session, row.id)
        elif after.quorum_met:
            row.status = ApprovalStatus.APPROVED.value
            row.sealing_since = now
            met = True
        session.flush()
        append_events(session, events, now)
        if decision is ApprovalDecision.REJECT:
            emit(session, "approval.rejected", row.uscc, _event_data(events[0]))
        elif met:
            emit(session, "approval.approved", row.uscc, _event_data(events[0]))
        return _approval(row, _votes(session, row.id)), met

    def claim(self, approval_id: str) -> Approval | None:
        """Take an ``approved`` request for sealing when no other attempt holds it (or the one
        that did is older than :data:`STALE_SEALING`); None if it is not there to take."""
        now = self._now()
        with translate_errors(), self._write.begin() as session:
            row = _locked(session, approval_id)
            if row.status != ApprovalStatus.APPROVED.value:
                return None
            if row.sealing_since is not None and now - row.sealing_since < STALE_SEALING:
                return None
            row.sealing_since = now
            session.flush()
            return _approval(row, _votes(session, row.id))

    def sealed(self, approval_id: str, *, archive_id: str, sha256: str, actor: str) -> Approval:
        """The request was sealed and archived as ``archive_id``: it ends, its bytes go."""
        now = self._now()
        with translate_errors(), self._write.begin() as session:
            row = _locked(session, approval_id)
            if row.status == ApprovalStatus.SEALED.value:
                return _approval(row, _votes(session, row.id))
            row.status = ApprovalStatus.SEALED.value
            row.finished_at = now
            row.sealing_since = None
            row.archive_id = archive_id
            row.result_sha256 = sha256
            row.error = None
            _discard(session, row.id)
            session.flush()
            votes = _votes(session, row.id)
            append_events(
                session,
                [
                    AuditEvent(
                        "approval.seal",
                        actor,
                        uscc=row.uscc,
                        document_sha256=sha256,
                        archive_id=archive_id,
                        detail={
                            "approval_id": row.id,
                            "input_sha256": row.document_sha256,
                            "approved_by": [
                                v.key_id
                                for v in votes
                                if v.decision == ApprovalDecision.APPROVE.value
                            ],
                        },
                    )
                ],
                now,
            )
            return _approval(row, votes)

    def failed(
        self, approval_id: str, problem: dict[str, Any], *, final: bool, actor: str
    ) -> Approval:
        """Sealing was refused: for good (``final``: the request ends ``failed`` with the
        problem) or for now (an outage: it stays ``approved``, free for :meth:`claim`)."""
        now = self._now()
        error: dict[str, Any] = {
            k: problem[k] for k in ("code", "status", "detail") if k in problem
        }
        with translate_errors(), self._write.begin() as session:
            row = _locked(session, approval_id)
            if row.status != ApprovalStatus.APPROVED.value:
                return _approval(row, _votes(session, row.id))
            row.error = error
            row.sealing_since = None
            events = []
            if final:
                row.status = ApprovalStatus.FAILED.value
                row.finished_at = now
                _discard(session, row.id)
                events.append(
                    AuditEvent(
                        "approval.fail",
                        actor,
                        uscc=row.uscc,
                        document_sha256=row.document_sha256,
                        detail={"approval_id": row.id, **error},
                    )
                )
            session.flush()
            append_events(session, events, now)
            return _approval(row, _votes(session, row.id))

    def expire_due(
        self, *, uscc: str | None = None, ids: Sequence[str] | None = None
    ) -> list[Approval]:
        """End every waiting request whose time ran out (``expired``); returns them."""
        now = self._now()
        stmt = select(ApprovalRow.id).where(
            ApprovalRow.status == ApprovalStatus.PENDING.value, ApprovalRow.expires_at <= now
        )
        if uscc is not None:
            stmt = stmt.where(ApprovalRow.uscc == uscc)
        if ids is not None:
            stmt = stmt.where(ApprovalRow.id.in_(list(ids)))
        with translate_errors(), self._read.begin() as session:
            due = list(session.scalars(stmt))
        out = []
        for approval_id in due:
            with translate_errors(), self._write.begin() as session:
                row = _locked(session, approval_id)
                if row.status != ApprovalStatus.PENDING.value or now < row.expires_at:
                    continue  # decided meanwhile
                self._expire(session, row, now)
                out.append(_approval(row, _votes(session, row.id)))
        return out

    @staticmethod
    def _expire(session: Session, row: ApprovalRow, now: datetime) -> None:
        row.status = ApprovalStatus.EXPIRED.value
        row.finished_at = now
        _discard(session, row.id)
        session.flush()
        append_events(
            session,
            [
                AuditEvent(
                    "approval.expire",
                    SYSTEM_ACTOR,
                    uscc=row.uscc,
                    document_sha256=row.document_sha256,
                    detail={"approval_id": row.id, "expires_at": row.expires_at.isoformat()},
                )
            ],
            now,
        )
        emit(
            session,
            "approval.expired",
            row.uscc,
            {"approval_id": row.id, "uscc": row.uscc, "document_sha256": row.document_sha256},
        )

    def approver_keys(self, uscc: str) -> list[str]:
        """Ids of the enterprise's active approver keys."""
        with translate_errors(), self._read.begin() as session:
            return _approver_keys(session, uscc)


class _Closed(ApprovalClosed):
    def __init__(self, row: ApprovalRow) -> None:
        status = ApprovalStatus(row.status)
        super().__init__(
            f"approval request {row.id} is {status.value} and takes no more decisions",
            status=status,
        )


def _require_enterprise(session: Session, uscc: str) -> None:
    if session.get(EnterpriseRow, uscc) is None:
        raise EnterpriseNotFound(f"no enterprise with USCC {uscc}")


def _approver_keys(session: Session, uscc: str) -> list[str]:
    return list(
        session.scalars(
            select(ApiKeyRow.id).where(
                ApiKeyRow.uscc == uscc,
                ApiKeyRow.role == APPROVER_ROLE,
                ApiKeyRow.revoked_at.is_(None),
            )
        )
    )


def _votes(session: Session, approval_id: str) -> list[ApprovalVoteRow]:
    return list(
        session.scalars(select(ApprovalVoteRow).where(ApprovalVoteRow.approval_id == approval_id))
    )


def _locked(session: Session, approval_id: str) -> ApprovalRow:
    """The request's row, locked for this transaction (PostgreSQL: ``FOR UPDATE``; SQLite's
    ``BEGIN IMMEDIATE`` holds the whole database)."""
    row = session.scalar(
        select(ApprovalRow)
        .where(ApprovalRow.id == approval_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise ApprovalNotFound(f"no approval request {approval_id!r}")
    return row


def _discard(session: Session, approval_id: str) -> None:
    session.execute(
        delete(ApprovalDocumentRow).where(ApprovalDocumentRow.approval_id == approval_id)
    )


def _audit_policy(p: SealPolicy) -> dict[str, Any]:
    data = p.to_json()
    data.pop("updated_at")
    data.pop("updated_by")
    return data


def _event_data(entry: AuditEvent) -> dict[str, Any]:
    """What an approval webhook event says: the request, the document's hash and what the
    audit entry records (a decision's comment stays in the audit log)."""
    detail = {k: v for k, v in entry.detail.items() if k != "comment"}
    return {"uscc": entry.uscc, "document_sha256": entry.document_sha256, **detail}
