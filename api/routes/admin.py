"""API keys and the audit log: /v1/api-keys, /v1/audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from seals.uscc import validate_uscc

from ..auth import Principal, Role, require
from ..deps import ContainerDep
from ..errors import NotFound
from ..models import ApiKeyRequest

router = APIRouter(prefix="/v1", tags=["admin"])

Admin = Annotated[Principal, require(Role.ADMIN)]
AdminOrOwner = Annotated[Principal, require(Role.ADMIN, Role.ENTERPRISE)]


@router.post("/api-keys", status_code=201, summary="Create an API key (the token is shown once)")
async def create_key(body: ApiKeyRequest, c: ContainerDep, who: Admin) -> dict[str, Any]:
    if body.uscc:
        validate_uscc(body.uscc)
        await run_in_threadpool(c.seals.enterprise, body.uscc)  # must be registered
    form = body.access_form.model_dump(mode="json") if body.access_form else None
    key, token = await run_in_threadpool(
        lambda: c.api_keys.create(
            role=body.role, uscc=body.uscc, name=body.name, actor=who.key_id, access_form=form
        )
    )
    return {**key.to_json(), "token": token}


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def delete_key(key_id: str, c: ContainerDep, who: Admin) -> None:
    if not await run_in_threadpool(lambda: c.api_keys.revoke(key_id, actor=who.key_id)):
        raise NotFound(f"no active API key {key_id!r}", code="api_key_not_found")


@router.get("/audit", summary="The seal-use log (an enterprise sees its own entries)")
async def audit(
    c: ContainerDep, who: AdminOrOwner, after: int = 0, limit: int = 100
) -> dict[str, Any]:
    limit = max(1, min(limit, 1000))
    uscc = who.uscc if who.role is Role.ENTERPRISE else None
    entries = await run_in_threadpool(
        lambda: c.audit.entries(uscc=uscc, after=max(after, 0), limit=limit)
    )
    return {"entries": entries, "next_after": entries[-1]["seq"] if len(entries) == limit else None}


@router.get("/audit/verify", summary="Recompute the hash chain")
async def audit_verify(c: ContainerDep, who: AdminOrOwner) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(c.audit.verify)
    return result
