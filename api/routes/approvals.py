"""Seal-use approval (用印审批): ``/v1/enterprises/{uscc}/seal-policies`` and ``/v1/approvals``.

Who does what: an admin sets an enterprise's policies (and reads everything, deciding nothing);
the enterprise's keys ask for seals (``POST /v1/sign`` answers 202 with a request here when a
policy needs approval) and read their requests; its approver keys read them, approve or reject
them, and seal nothing themselves.  The flow: :mod:`api.approval_flow`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seals.vocab import ApprovalDecision, ApprovalMode, ApprovalStatus, DocumentType, SealKind
from storage.approvals import Approval, SealPolicy, parse_amount

from ..answers import ApprovalAnswer, ApprovalPageAnswer, SealPoliciesAnswer
from ..approval_flow import ApprovalFlow, FlowDep
from ..auth import Action, Principal, allowed, authorize, scope
from ..deps import checked_uscc
from ..responses import PROBLEM_RESPONSES, file_answer, pdf_response

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["approvals"])

PolicySetter = Annotated[Principal, allowed(Action.CONFIGURE_SEAL_POLICY)]
PolicyReader = Annotated[Principal, allowed(Action.READ_SEAL_POLICY)]
Reader = Annotated[Principal, allowed(Action.READ_APPROVALS)]
Approver = Annotated[Principal, allowed(Action.DECIDE_APPROVALS)]
Resumer = Annotated[Principal, allowed(Action.RESUME_APPROVALS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PolicyCondition(_Strict):
    """When approval applies; both given: both must hold."""

    document_types: list[DocumentType] | None = Field(
        None, description="only for requests declaring one of these document types"
    )
    min_amount: str | float | None = Field(
        None,
        description="only from this amount (yuan, at most two decimals) up; a request states "
        "its amount in the multipart field 'amount' of POST /v1/sign (none stated: approval)",
        examples=["100000.00"],
    )


class SealPolicySpec(_Strict):
    kind: SealKind
    approval: ApprovalMode
    quorum: int = Field(1, ge=1, le=100, description="M: how many approvers must approve")
    approvers: list[str] | None = Field(
        None,
        max_length=100,
        description="ids of the approver keys that count (N); null: every approver key of "
        "the enterprise",
    )
    condition: PolicyCondition | None = None


class SealPoliciesRequest(_Strict):
    """The enterprise's policies; a seal kind not named here needs no approval."""

    policies: list[SealPolicySpec] = Field(max_length=len(SealKind))

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "policies": [
                        {
                            "kind": "contract",
                            "approval": "required",
                            "quorum": 2,
                            "condition": {
                                "document_types": ["contract"],
                                "min_amount": "100000.00",
                            },
                        },
                        {
                            "kind": "finance",
                            "approval": "required",
                            "quorum": 1,
                            "approvers": ["3f2a9c0d1e4b5a6c"],
                        },
                    ]
                }
            ]
        },
    )


class DecisionRequest(_Strict):
    comment: str | None = Field(None, max_length=2000, examples=["条款已审，同意用印"])


class RejectionRequest(_Strict):
    comment: str = Field(
        min_length=1, max_length=2000, description="why", examples=["金额与合同审批单不符"]
    )


def _policy(spec: SealPolicySpec) -> SealPolicy:
    condition = spec.condition or PolicyCondition()
    return SealPolicy(
        kind=spec.kind,
        approval=spec.approval,
        quorum=spec.quorum,
        approvers=tuple(spec.approvers) if spec.approvers is not None else None,
        document_types=(
            tuple(condition.document_types) if condition.document_types is not None else None
        ),
        min_amount_fen=parse_amount(condition.min_amount),
    )


def _policies_answer(flow: ApprovalFlow, uscc: str, policies: list[SealPolicy]) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "approver_keys": flow.store.approver_keys(uscc),
        "policies": [p.to_json() for p in policies],
    }


@router.get(
    "/enterprises/{uscc}/seal-policies",
    summary="The seal-use policies of an enterprise (用印审批), one per seal kind",
    response_model=SealPoliciesAnswer,
    responses=PROBLEM_RESPONSES,
)
async def get_policies(uscc: str, flow: FlowDep, who: PolicyReader) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_SEAL_POLICY)
    policies = await run_in_threadpool(flow.store.policies, uscc)
    return await run_in_threadpool(_policies_answer, flow, uscc, policies)


@router.put(
    "/enterprises/{uscc}/seal-policies",
    summary="Set the seal-use policies of an enterprise (admin); replaces them all",
    response_model=SealPoliciesAnswer,
    responses=PROBLEM_RESPONSES,
)
async def put_policies(
    uscc: str, body: SealPoliciesRequest, flow: FlowDep, who: PolicySetter
) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.CONFIGURE_SEAL_POLICY)
    wanted = [_policy(p) for p in body.policies]
    policies = await run_in_threadpool(
        lambda: flow.store.set_policies(uscc, wanted, actor=who.key_id)
    )
    return await run_in_threadpool(_policies_answer, flow, uscc, policies)


async def _readable(flow: ApprovalFlow, who: Principal, approval_id: str) -> Approval:
    approval = await run_in_threadpool(flow.get, approval_id)
    authorize(who, approval.uscc, Action.READ_APPROVALS)
    return approval


@router.get(
    "/approvals",
    summary="Sealing requests that need approval, newest first (an enterprise's or "
    "approver's key: its own enterprise's)",
    response_model=ApprovalPageAnswer,
    responses=PROBLEM_RESPONSES,
)
async def list_approvals(
    flow: FlowDep,
    who: Reader,
    uscc: Annotated[str | None, Query(min_length=18, max_length=18)] = None,
    status: ApprovalStatus | None = None,
    before: Annotated[str | None, Query(max_length=26)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    if uscc is not None:
        uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_APPROVALS)
    narrowed = scope(who, uscc)
    items = await run_in_threadpool(
        lambda: flow.store.requests(uscc=narrowed, status=status, before=before, limit=limit)
    )
    return {
        "items": [a.to_json() for a in items],
        "next_before": items[-1].id if len(items) == limit else None,
    }


@router.get(
    "/approvals/{approval_id}",
    summary="One sealing request: its document, placements, decisions and outcome",
    response_model=ApprovalAnswer,
    responses=PROBLEM_RESPONSES,
)
async def get_approval(approval_id: str, flow: FlowDep, who: Reader) -> dict[str, Any]:
    return (await _readable(flow, who, approval_id)).to_json()


@router.get(
    "/approvals/{approval_id}/original",
    response_class=Response,
    responses=file_answer(
        "application/pdf",
        "the document as uploaded (PDF, or OFD: application/ofd), checked against its SHA-256; "
        "only while the request is pending or approved",
        also=("application/ofd",),
        headers={"X-Eseal-Sha256": "SHA-256 of the upload"},
    ),
    summary="The uploaded document, as it will be sealed",
)
async def original(approval_id: str, flow: FlowDep, who: Reader) -> Response:
    approval = await _readable(flow, who, approval_id)
    data = await run_in_threadpool(flow.original, approval)
    ext = "ofd" if approval.document_format == "ofd" else "pdf"
    return Response(
        data,
        media_type="application/ofd" if ext == "ofd" else "application/pdf",
        headers={
            "X-Eseal-Sha256": approval.document_sha256,
            "Content-Disposition": f'attachment; filename="original.{ext}"',
        },
    )


@router.get(
    "/approvals/{approval_id}/preview",
    response_class=Response,
    responses=file_answer(
        "image/png",
        "the page with a numbered red box where each seal will go (PDF pages rendered by "
        "poppler; OFD pages as a blank sheet of the page's size)",
    ),
    summary="A picture of where the seals will go",
)
async def preview(
    approval_id: str,
    flow: FlowDep,
    who: Reader,
    page: Annotated[
        int | None, Query(ge=1, le=100_000, description="default: the first page with a seal")
    ] = None,
) -> Response:
    approval = await _readable(flow, who, approval_id)
    png = await run_in_threadpool(flow.preview, approval, page)
    return Response(png, media_type="image/png")


@router.post(
    "/approvals/{approval_id}/approve",
    summary="Approve a sealing request (approver keys); the approval that meets the quorum "
    "seals it",
    response_model=ApprovalAnswer,
    responses=PROBLEM_RESPONSES,
)
async def approve(
    approval_id: str, flow: FlowDep, who: Approver, body: DecisionRequest | None = None
) -> dict[str, Any]:
    comment = body.comment if body else None
    approval = await run_in_threadpool(
        flow.decide, who, approval_id, ApprovalDecision.APPROVE, comment
    )
    return approval.to_json()


@router.post(
    "/approvals/{approval_id}/reject",
    summary="Reject a sealing request (approver keys), saying why; it ends there",
    response_model=ApprovalAnswer,
    responses=PROBLEM_RESPONSES,
)
async def reject(
    approval_id: str, body: RejectionRequest, flow: FlowDep, who: Approver
) -> dict[str, Any]:
    approval = await run_in_threadpool(
        flow.decide, who, approval_id, ApprovalDecision.REJECT, body.comment
    )
    return approval.to_json()


@router.post(
    "/approvals/{approval_id}/seal",
    summary="Seal an approved request whose sealing was cut short by an outage",
    response_model=ApprovalAnswer,
    responses=PROBLEM_RESPONSES,
)
async def resume(approval_id: str, flow: FlowDep, who: Resumer) -> dict[str, Any]:
    approval = await run_in_threadpool(flow.get, approval_id)
    authorize(who, approval.uscc, Action.RESUME_APPROVALS)
    return (await run_in_threadpool(flow.resume, who, approval_id)).to_json()


@router.get(
    "/approvals/{approval_id}/document",
    response_class=Response,
    responses=file_answer(
        "application/pdf",
        "the sealed document (or OFD: application/ofd), from the archive, its SHA-256 checked",
        also=("application/ofd",),
        headers={
            "X-Eseal-Sha256": "SHA-256 of the sealed document",
            "X-Eseal-Archive-Id": "its archive id",
        },
    ),
    summary="The sealed document of a sealed request (409 approval_not_sealed before)",
)
async def document(approval_id: str, flow: FlowDep, who: Reader) -> Response:
    approval = await _readable(flow, who, approval_id)
    done = await run_in_threadpool(flow.sealed_document, approval)
    assert done.archive_id is not None
    return pdf_response(
        done,
        {
            "X-Eseal-Sha256": done.sha256,
            "X-Eseal-Archive-Id": done.archive_id,
            "Content-Disposition": f'attachment; filename="{done.filename}"',
        },
    )
