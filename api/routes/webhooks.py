"""Signed webhooks: /v1/webhooks (subscriptions, secrets, the delivery log, redelivery).

An enterprise key subscribes to its own enterprise's events; an admin to one enterprise's
(``uscc``) or to every enterprise's (no ``uscc``).  Each may read, rotate and delete only the
subscriptions it could have made.  The events themselves are in the OpenAPI document's
``webhooks`` section (:func:`document_events`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seals.uscc import validate_uscc
from storage.webhooks import Subscription

from ..answers import (
    WebhookAnswer,
    WebhookDeliveryDetail,
    WebhookDeliveryPage,
    WebhookEvent,
    WebhookSecretAnswer,
)
from ..auth import Action, Principal, Role, allowed, authorize
from ..deps import ContainerDep
from ..errors import Forbidden
from ..problems import PROBLEM_RESPONSES
from ..webhooks import Webhooks

__all__ = ["document_events", "router"]

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Manager = Annotated[Principal, allowed(Action.MANAGE_WEBHOOKS)]


def _webhooks(request: Request) -> Webhooks:
    found: Webhooks = request.app.state.webhooks
    return found


WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]


class WebhookRequest(BaseModel):
    """A subscription: where to POST, which events."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://contracts.example.com/hooks/eseal",
                    "events": ["document.sealed", "seal.*"],
                    "description": "合同系统",
                }
            ]
        },
    )

    url: str = Field(max_length=2000, description="https:// only; a public address")
    events: list[str] = Field(
        min_length=1,
        max_length=50,
        description="event types (document.sealed ...), a group (seal.*), or * for all",
    )
    description: str | None = Field(None, max_length=200)
    uscc: str | None = Field(
        None,
        min_length=18,
        max_length=18,
        description="the enterprise whose events it receives: an enterprise key's own "
        "(the default); an admin may name any, or none for every enterprise's events",
    )


class RotateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_hours": 24}]}
    )

    overlap_hours: float | None = Field(
        None,
        ge=0,
        le=24 * 30,
        description="how long the old secret still signs beside the new one (a second v1); "
        "default ESEAL_WEBHOOK_SECRET_OVERLAP_HOURS (24); 0 ends it at once",
    )


def _check_access(who: Principal, sub: Subscription) -> None:
    """Admin-wide subscriptions are the admins'; an enterprise's are its own and the admins'."""
    if sub.uscc is None and who.role is not Role.ADMIN:
        raise Forbidden("this key may not act for that subscription")
    authorize(who, sub.uscc, Action.MANAGE_WEBHOOKS)


async def _subscription(hooks: Webhooks, who: Principal, webhook_id: str) -> Subscription:
    sub = await run_in_threadpool(hooks.store.get, webhook_id)
    _check_access(who, sub)
    return sub


@router.post(
    "",
    status_code=201,
    summary="Subscribe to events (the signing secret is shown once)",
    response_model=WebhookSecretAnswer,
    responses=PROBLEM_RESPONSES,
)
async def create_webhook(
    body: WebhookRequest, c: ContainerDep, hooks: WebhooksDep, who: Manager
) -> dict[str, Any]:
    uscc = body.uscc
    if who.role is Role.ENTERPRISE:
        uscc = uscc or who.uscc
    if uscc is not None:
        validate_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_WEBHOOKS)
    if uscc is not None:
        await run_in_threadpool(c.seals.enterprise, uscc)  # must be registered
    sub, secret = await hooks.create(
        uscc=uscc,
        url=body.url,
        events=body.events,
        description=body.description,
        actor=who.key_id,
    )
    return {**sub.to_json(), "secret": secret}


@router.get(
    "",
    summary="The subscriptions (an enterprise sees its own)",
    response_model=list[WebhookAnswer],
    responses=PROBLEM_RESPONSES,
)
async def list_webhooks(
    hooks: WebhooksDep,
    who: Manager,
    uscc: Annotated[str | None, Query(min_length=18, max_length=18)] = None,
) -> list[dict[str, Any]]:
    if uscc is not None:
        validate_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_WEBHOOKS)
    if who.role is Role.ENTERPRISE:
        uscc = who.uscc
    found = await run_in_threadpool(hooks.store.subscriptions, uscc)
    return [s.to_json() for s in found]


@router.get(
    "/{webhook_id}",
    summary="One subscription",
    response_model=WebhookAnswer,
    responses=PROBLEM_RESPONSES,
)
async def get_webhook(webhook_id: str, hooks: WebhooksDep, who: Manager) -> dict[str, Any]:
    return (await _subscription(hooks, who, webhook_id)).to_json()


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Unsubscribe (its deliveries and their log go with it)",
    responses=PROBLEM_RESPONSES,
)
async def delete_webhook(webhook_id: str, hooks: WebhooksDep, who: Manager) -> None:
    await _subscription(hooks, who, webhook_id)
    await run_in_threadpool(lambda: hooks.store.delete(webhook_id, actor=who.key_id))


@router.post(
    "/{webhook_id}/rotate-secret",
    summary="A new signing secret (shown once); the old one signs beside it for the overlap",
    response_model=WebhookSecretAnswer,
    responses=PROBLEM_RESPONSES,
)
async def rotate_secret(
    webhook_id: str, hooks: WebhooksDep, who: Manager, body: RotateRequest | None = None
) -> dict[str, Any]:
    await _subscription(hooks, who, webhook_id)
    hours = body.overlap_hours if body is not None else None
    sub, secret = await hooks.rotate(
        webhook_id,
        overlap=timedelta(hours=hours) if hours is not None else None,
        actor=who.key_id,
    )
    return {**sub.to_json(), "secret": secret}


@router.get(
    "/{webhook_id}/deliveries",
    summary="The delivery log, newest first",
    response_model=WebhookDeliveryPage,
    responses=PROBLEM_RESPONSES,
)
async def deliveries(
    webhook_id: str,
    hooks: WebhooksDep,
    who: Manager,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
    before: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    await _subscription(hooks, who, webhook_id)
    items = await run_in_threadpool(
        lambda: hooks.store.deliveries(webhook_id, status=status, before=before, limit=limit)
    )
    return {
        "items": [d.to_json() for d in items],
        "next_before": items[-1].id if len(items) == limit else None,
    }


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    summary="One delivery with every attempt",
    response_model=WebhookDeliveryDetail,
    responses=PROBLEM_RESPONSES,
)
async def delivery(
    webhook_id: str, delivery_id: int, hooks: WebhooksDep, who: Manager
) -> dict[str, Any]:
    await _subscription(hooks, who, webhook_id)
    found = await run_in_threadpool(hooks.store.delivery, webhook_id, delivery_id)
    return found.to_json(with_log=True)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Send the delivery's event again, at the end of the queue (the same event id)",
    response_model=WebhookDeliveryDetail,
    responses=PROBLEM_RESPONSES,
)
async def redeliver(
    webhook_id: str, delivery_id: int, hooks: WebhooksDep, who: Manager
) -> dict[str, Any]:
    await _subscription(hooks, who, webhook_id)
    again = await run_in_threadpool(
        lambda: hooks.store.redeliver(webhook_id, delivery_id, actor=who.key_id)
    )
    return again.to_json(with_log=True)


# -- the events, in the OpenAPI document's ``webhooks`` --------------------------------------

_USCC = "91110108551385082Q"
_SEAL = {
    "uscc": _USCC,
    "kind": "contract",
    "version": 1,
    "serial": "5f3a9c0d1e",
    "status": "revoked",
    "reason_code": "key_compromise",
    "compromised_at": "2025-01-02T03:00:00+00:00",
}
#: an example ``data`` of each event eseal emits today
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "document.sealed": (
        "A document was sealed and archived (sent after the archive row commits)",
        {
            "archive_id": "01JB2Z3K4M5N6P7Q8R9S0T1V2W",
            "uscc": _USCC,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "size": 48213,
            "format": "pdf",
            "level": "B-T",
            "document_type": "contract",
            "reference": "HT-2025-001",
            "seals": [{"kind": "contract", "serial": "5f3a9c0d1e"}],
        },
    ),
    "document.extended": (
        "An archived document got a new version: extended to B-LTA, or a new document "
        "timestamp (renewed)",
        {
            "archive_id": "01JB2Z3K4M5N6P7Q8R9S0T1V2W",
            "uscc": _USCC,
            "action": "extend",
            "version": 2,
            "level": "B-LTA",
            "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "size": 61544,
            "renew_by": "2035-01-01T00:00:00+00:00",
        },
    ),
    "license.status_changed": (
        "The business license's status changed (cancelling or revoking it also revokes its "
        "seals: a seal.revoked follows for each)",
        {"uscc": _USCC, "from": "active", "to": "suspended"},
    ),
    "seal.suspended": (
        "A seal was suspended (certificate_hold)",
        {**_SEAL, "status": "suspended", "reason_code": "certificate_hold", "compromised_at": None},
    ),
    "seal.resumed": (
        "A suspended seal is active again",
        {**_SEAL, "status": "active", "reason_code": None, "compromised_at": None},
    ),
    "seal.revoked": ("A seal was revoked", _SEAL),
    "seal.reissued": (
        "A seal was re-issued: a new key, certificate and version; ``previous`` is the "
        "version it replaced, now revoked",
        {
            **_SEAL,
            "version": 2,
            "serial": "6a0b1c2d3e",
            "status": "active",
            "reason_code": None,
            "compromised_at": None,
            "previous": {**_SEAL, "reason_code": "superseded", "compromised_at": None},
        },
    ),
}


_EVENT_SCHEMA = WebhookEvent.model_json_schema()


def document_events(app: FastAPI) -> None:
    """Describe each event in the OpenAPI document (``webhooks``), with an example body."""
    for event_type, (summary, data) in EXAMPLES.items():
        example = {
            "id": "01JB2Z3K4M5N6P7Q8R9S0T1V2W",
            "type": event_type,
            "created_at": "2025-01-02T03:04:05.678901+00:00",
            "uscc": _USCC,
            "data": data,
        }

        # the body is described here rather than taken as a parameter: the receiver is not
        # eseal, so it declares no validation errors of eseal's
        async def receiver() -> None:
            """Signed with ``Eseal-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
            "<t>.<body>")>``; ``Eseal-Event-Id`` is the event's id.  Answer 2xx to
            acknowledge; anything else is retried."""

        app.webhooks.post(
            event_type,
            summary=summary,
            responses={200: {"description": "acknowledged (any 2xx)"}},
            openapi_extra={
                "requestBody": {
                    "content": {"application/json": {"schema": _EVENT_SCHEMA, "example": example}},
                    "required": True,
                }
            },
        )(receiver)
