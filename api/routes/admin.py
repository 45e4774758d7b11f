"""API keys and the audit log: /v1/api-keys, /v1/audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from seals.uscc import validate_uscc

from ..answers import ApiKeyAnswer, AuditPage, ChainCheck
from ..auth import Action, Principal, allowed, scope
from ..deps import ContainerDep
from ..errors import NotFound
from ..models import ApiKeyRequest
from ..problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1", tags=["admin"])

KeyManager = Annotated[Principal, allowed(Action.MANAGE_API_KEYS)]
AuditReader = Annotated[Principal, allowed(Action.READ_AUDIT)]
ChainChecker = Annotated[Principal, allowed(Action.VERIFY_AUDIT)]


@router.post(
    "/api-keys",
    status_code=201,
    summary="Create an API key (the token is shown once)",
    response_model=ApiKeyAnswer,
    responses=PROBLEM_RESPONSES,
)
async def create_key(body: ApiKeyRequest, c: ContainerDep, who: KeyManager) -> dict[str, Any]:
    if body.uscc:
        validate_uscc(body.uscc)
        await run_in_threadpool(c.seals.enterprise, body.uscc)  # must be registered
    form = (
        body.access_form.model_dump(mode="json", exclude_defaults=True)
        if body.access_form
        else None
    )
    key, token = await run_in_threadpool(
        lambda: c.api_keys.create(
            role=body.role, uscc=body.uscc, name=body.name, actor=who.key_id, access_form=form
        )
    )
    return {**key.to_json(), "token": token}


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    summary="Revoke an API key",
    responses=PROBLEM_RESPONSES,
)
async def delete_key(key_id: str, c: ContainerDep, who: KeyManager) -> None:
    if not await run_in_threadpool(lambda: c.api_keys.revoke(key_id, actor=who.key_id)):
        raise NotFound(f"no active API key {key_id!r}", code="api_key_not_found")


@router.get(
    "/audit",
    summary="The seal-use log (an enterprise sees its own entries)",
    response_model=AuditPage,
    responses=PROBLEM_RESPONSES,
)
async def audit(
    c: ContainerDep, who: AuditReader, after: int = 0, limit: int = 100
) -> dict[str, Any]:
    limit = max(1, min(limit, 1000))
    uscc = scope(who)  # an enterprise reads its own entries, an admin all
    entries = await run_in_threadpool(
        lambda: c.audit.entries(uscc=uscc, after=max(after, 0), limit=limit)
    )
    return {"entries": entries, "next_after": entries[-1]["seq"] if len(entries) == limit else None}


@router.get(
    "/audit/verify",
    summary="Recompute the hash chain",
    response_model=ChainCheck,
    responses=PROBLEM_RESPONSES,
)
async def audit_verify(c: ContainerDep, who: ChainChecker) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(c.audit.verify)
    return result
