"""Seal-use approval (用印审批) from request to sealed document.

A sealing request (``POST /v1/sign``) whose seals' policies need approval is not sealed: it is
checked as sealing would check it (the seals usable, the license active, the placements found
on the document), kept with its document (:class:`storage.approvals.ApprovalStore`) and
answered 202.  Approver keys of the enterprise read it (the document, a preview of where each
seal goes) and approve or reject it with a comment.  The decision that meets the quorum seals
the kept bytes with the kept options through :class:`api.flows.SignFlow` — archived, audited,
idempotent, exactly as the request would have been sealed at once — under the requesting key,
and under an idempotency key of the request's own: if two attempts ever seal (a crash, then a
retry), the second is answered with the first one's archived document; nothing is sealed
twice.  A seal suspended or revoked meanwhile fails the sealing with the usual code, and the
request ends ``failed`` with it.

Webhook events happen where the store's transactions commit (``storage.approvals``):
``approval.requested`` in :meth:`ApprovalFlow.submit` (a new request), ``approval.approved``
and ``approval.rejected`` in :meth:`ApprovalFlow.decide` (the decision that met the quorum /
rejected), ``approval.expired`` in :meth:`ApprovalFlow.expire_due` (and wherever the store
expires a request it reads); ``document.sealed`` comes from the sealing itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, BinaryIO

from fastapi import Depends, Request

from keystore.errors import ErrorKind, EsealError
from seals.kinds import SealKind
from seals.vocab import ApprovalDecision, ApprovalStatus, DocumentFormat, DocumentType
from signer import ofd
from signer.errors import InvalidOfd
from signer.service import default_kind
from storage.approvals import Approval, ApprovalStore, NewApproval, Requirement
from storage.idempotency import IdempotencyConflict

from . import approval_preview
from .auth import Principal, Role
from .errors import Forbidden
from .flows import SealedDocument, to_sealing_options
from .models import SignOptions
from .problems import problem

if TYPE_CHECKING:
    from .container import Container

__all__ = ["ApprovalFlow", "FlowDep", "NotSealed", "approval_store", "current_flow"]

#: failures that leave an approved request to be sealed again (an outage, a bug), rather
#: than ending it
_TRANSIENT = (ErrorKind.UNAVAILABLE, ErrorKind.INTERNAL)


class NotSealed(EsealError):
    """The request has no sealed document (yet, or ever: ``approval_status`` says)."""

    code = "approval_not_sealed"
    kind = ErrorKind.CONFLICT
    title = "Not sealed"

    def __init__(self, approval: Approval) -> None:
        super().__init__(f"approval request {approval.id} is {approval.status.value}, not sealed")
        self.status = approval.status

    def to_problem(self) -> dict[str, object]:
        return {**super().to_problem(), "approval_status": self.status.value}


def approval_store(container: Container) -> ApprovalStore:
    return ApprovalStore(
        container.engine, ttl=timedelta(hours=container.settings.approval_ttl_hours)
    )


def _seal_key(approval_id: str) -> str:
    """The idempotency key the request is sealed under.  Its line break cannot occur in an
    HTTP header, so no caller's ``Idempotency-Key`` can ever be this one."""
    return f"approval\n{approval_id}"


def _request_sha(data: bytes, options: SignOptions, amount_fen: int | None) -> str:
    digest = hashlib.sha256(data)
    digest.update(b"\0" + options.model_dump_json().encode())
    digest.update(b"\0" + str(amount_fen).encode())
    return digest.hexdigest()


def _format(data: bytes) -> DocumentFormat:
    """PDF or OFD, by content (as :class:`SignFlow` decides)."""
    if data[:4] != b"PK\x03\x04":
        return DocumentFormat.PDF
    if not ofd.is_ofd(data):
        ofd.read_package(data)  # says what is wrong with it (invalid_ofd)
        raise InvalidOfd("the upload is a ZIP file but not an OFD document (no OFD.xml)")
    return DocumentFormat.OFD


@dataclass
class ApprovalFlow:
    """The approval steps, wired to the container's services.  Every method blocks: call it
    off the event loop."""

    container: Container
    store: ApprovalStore

    @classmethod
    def of(cls, container: Container) -> ApprovalFlow:
        return cls(container, approval_store(container))

    # -- asking --------------------------------------------------------------------------

    def requirements(
        self, uscc: str, options: SignOptions, amount_fen: int | None
    ) -> list[Requirement]:
        """What sealing with ``options`` needs (empty: seal at once)."""
        sealing = to_sealing_options(options)
        doc_type = DocumentType(options.document_type)
        kinds: list[SealKind] = [o.kind for o in sealing.seals] or [default_kind(doc_type)]
        return self.store.requirements(uscc, kinds, doc_type, amount_fen)

    def submit(
        self,
        principal: Principal,
        upload: bytes | BinaryIO,
        options: SignOptions,
        amount_fen: int | None,
        idempotency_key: str | None,
        filename: str | None = None,
    ) -> tuple[Approval, bool] | None:
        """A sealing request: None if it needs no approval (seal it at once); else the
        request waiting for approval and whether it is new (False: a retry of the same
        ``Idempotency-Key``; 409 ``idempotency_conflict`` for the same key with another
        request).

        The request is checked as sealing will check it before it is kept: seals usable,
        license active, placements on the document (the usual codes)."""
        assert principal.uscc is not None
        uscc = principal.uscc
        earlier = self.store.find(principal.key_id, idempotency_key) if idempotency_key else None
        # the policy is read first: a request that needs no approval is not read here
        needs = self.requirements(uscc, options, amount_fen) if earlier is None else []
        if earlier is None and not needs:
            return None
        if isinstance(upload, bytes | bytearray):
            data = bytes(upload)
        else:
            upload.seek(0)
            data = upload.read()
            upload.seek(0)
        request_sha = _request_sha(data, options, amount_fen)
        if earlier is not None:
            if earlier.request_sha256 != request_sha:
                raise IdempotencyConflict("this Idempotency-Key was used for a different request")
            return earlier, False
        c = self.container
        sealing = to_sealing_options(options)
        fmt = _format(data)
        if fmt is DocumentFormat.PDF:
            c.sealing.plan(uscc, sealing)  # seals usable, license active, kinds allowed
        else:
            for requirement in needs:
                c.seals.signer_for(uscc, requirement.kind)
        where = c.deadline.run(lambda: approval_preview.placements(data, fmt, sealing))
        return self.store.create(
            NewApproval(
                uscc=uscc,
                requested_by=principal.key_id,
                requester_name=principal.name,
                data=data,
                document_format=fmt.value,
                options=options.model_dump(mode="json"),
                document_type=options.document_type,
                reference=options.reference,
                amount_fen=amount_fen,
                requirements=needs,
                placements=where,
                request_sha256=request_sha,
                idempotency_key=idempotency_key,
                original_name=filename,
            )
        )

    # -- deciding ------------------------------------------------------------------------

    def decide(
        self,
        principal: Principal,
        approval_id: str,
        decision: ApprovalDecision,
        comment: str | None,
    ) -> Approval:
        """An approver's decision; the one that meets the quorum seals the request.

        Sealing refused (a seal suspended or revoked meanwhile ...) raises the usual error
        after the request is marked ``failed`` with it."""
        if principal.role is not Role.APPROVER:
            # the routes and the CLI admit approvers only; this is the last line
            raise Forbidden("only approver keys decide on sealing requests")
        approval, met = self.store.decide(
            approval_id,
            key_id=principal.key_id,
            key_name=principal.name,
            key_uscc=principal.uscc,
            decision=decision,
            comment=comment,
        )
        if not met:
            return approval
        return self._seal(approval, actor=principal.key_id)

    def resume(self, principal: Principal, approval_id: str) -> Approval:
        """Seal an ``approved`` request whose sealing was interrupted (an outage); the
        request as it is when there is nothing to do."""
        claimed = self.store.claim(approval_id)
        if claimed is None:
            return self.store.get(approval_id)
        return self._seal(claimed, actor=principal.key_id)

    def _seal(self, approval: Approval, *, actor: str) -> Approval:
        """Seal the kept document with the kept options, as the requesting key."""
        requester = Principal(
            approval.requested_by, Role.ENTERPRISE, approval.uscc, approval.requester_name
        )
        try:
            data = self.store.document(approval.id)
            options = SignOptions.model_validate(approval.options)
            done = self.container.sign_flow.sign(
                requester, data, options, _seal_key(approval.id), approval.original_name
            )
        except EsealError as exc:
            final = exc.kind not in _TRANSIENT
            self.store.failed(approval.id, problem(exc), final=final, actor=actor)
            raise
        except BaseException:
            self.store.failed(
                approval.id,
                {"code": "internal_error", "status": 500, "detail": "sealing was interrupted"},
                final=False,
                actor=actor,
            )
            raise
        try:
            assert done.archive_id is not None
            for kind in done.kinds:
                self.container.metrics.seals.labels(kind).inc()
            return self.store.sealed(
                approval.id, archive_id=done.archive_id, sha256=done.sha256, actor=actor
            )
        finally:
            done.close()

    # -- reading -------------------------------------------------------------------------

    def get(self, approval_id: str) -> Approval:
        return self.store.get(approval_id)

    def original(self, approval: Approval) -> bytes:
        """The uploaded document, checked against its SHA-256 (while the request lasts)."""
        return self.store.document(approval.id)

    def preview(self, approval: Approval, page: int | None) -> bytes:
        """A PNG of ``page`` (default: the first page a seal goes on) with the seals' boxes."""
        data = self.store.document(approval.id)
        fmt = DocumentFormat(approval.document_format)
        if page is None:
            pages = [p["page"] for p in approval.placements if p.get("page")]
            page = min(pages) if pages else 1
        chosen = page
        timeout = min(60.0, self.container.settings.document_wall_seconds)
        return self.container.deadline.run(
            lambda: approval_preview.render(
                data, fmt, list(approval.placements), chosen, timeout=timeout
            )
        )

    def sealed_document(self, approval: Approval) -> SealedDocument:
        """The sealed document of a ``sealed`` request (from the archive, SHA-256 checked)."""
        if approval.status is not ApprovalStatus.SEALED or approval.archive_id is None:
            raise NotSealed(approval)
        archive = self.container.archive
        record = archive.record(approval.archive_id)
        body = archive.spool(record)  # verified against the archived SHA-256 as it is read
        body.seek(0, 2)
        size = body.tell()
        body.seek(0)
        return SealedDocument(body, size, record.sha256, record.id, format=record.format)

    def expire_due(self, uscc: str | None = None) -> list[Approval]:
        """End the waiting requests whose time ran out."""
        return self.store.expire_due(uscc=uscc)


def current_flow(request: Request) -> ApprovalFlow:
    """The app's approval flow, made on first use from its container (a test may put its
    own, with a clock of its choosing, in ``app.state.approvals``)."""
    flow: ApprovalFlow | None = getattr(request.app.state, "approvals", None)
    if flow is None:
        flow = ApprovalFlow.of(request.app.state.container)
        request.app.state.approvals = flow
    return flow


FlowDep = Annotated[ApprovalFlow, Depends(current_flow)]
