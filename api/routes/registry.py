"""The centre's side of the front systems (issue 19): the signed registry feed, the feed's
certificate, and the filing (备案) of the access forms departments registered at a front."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..answers import AccessFilingAnswer, FeedBatchAnswer
from ..auth import Action, Principal, Role, allowed
from ..container import Container
from ..deps import ContainerDep
from ..errors import Forbidden, NotFound
from ..feed import SIGNATURE_HEADER, FeedPublisher
from ..models import AccessFiling
from ..problems import PROBLEM_RESPONSES
from ..responses import file_answer

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["front systems"])

FeedReader = Annotated[Principal, allowed(Action.READ_REGISTRY_FEED)]
FormFiler = Annotated[Principal, allowed(Action.FILE_ACCESS_FORMS)]


def _publisher(c: Container) -> FeedPublisher:
    if c.feed is None:
        raise NotFound("this server publishes no registry feed", code="not_found")
    return c.feed


async def _front_only(c: Container, who: Principal) -> None:
    """A verifier key may use these routes only if it was registered as a front system's."""
    if who.role is Role.ADMIN:
        return
    key = await run_in_threadpool(c.api_keys.get, who.key_id)
    form = key.access_form if key is not None else None
    if not form or form.get("front_system") is not True:
        raise Forbidden("only a front system's key (access form front_system) may use this route")


@router.get(
    "/registry/feed",
    summary="The registry's signed change feed, one batch after a cursor (front systems)",
    responses={
        **PROBLEM_RESPONSES,
        200: {
            "model": FeedBatchAnswer,
            "description": "the batch's canonical JSON; its signature is in the "
            f"{SIGNATURE_HEADER} header",
        },
    },
)
async def feed(
    c: ContainerDep,
    who: FeedReader,
    after: Annotated[int, Query(ge=0, description="the cursor: the last batch's next")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="records at most")] = 100,
    nonce: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="echoed, signed"),
    ] = None,
) -> Response:
    publisher = _publisher(c)
    await _front_only(c, who)
    batch = await run_in_threadpool(publisher.batch, after, limit, nonce)
    return Response(
        batch.body,
        media_type="application/json",
        headers={SIGNATURE_HEADER: batch.signature, "Cache-Control": "no-store"},
    )


@router.get(
    "/registry/feed/certificate",
    summary="The certificate of the centre's feed key (PEM), to pin at a front",
    response_class=Response,
    responses=file_answer("application/x-pem-file", "the feed certificate (PEM)", text=True),
)
async def feed_certificate(c: ContainerDep) -> Response:
    return Response(_publisher(c).certificate_pem, media_type="application/x-pem-file")


@router.post(
    "/access-forms",
    status_code=201,
    summary="File (备案) an access form a department registered at a front system",
    response_model=AccessFilingAnswer,
    responses=PROBLEM_RESPONSES,
)
async def file_access_form(body: AccessFiling, c: ContainerDep, who: FormFiler) -> dict[str, Any]:
    await _front_only(c, who)
    form = {
        **body.access_form.model_dump(mode="json", exclude_defaults=True),
        "filed_via": {"front_key": who.key_id, "front_name": who.name, "key_id": body.front_key_id},
    }

    def file() -> dict[str, Any]:
        for key in c.api_keys.list():  # a retry of a filing the centre accepted already
            via = (key.access_form or {}).get("filed_via") or {}
            if via.get("front_key") == who.key_id and via.get("key_id") == body.front_key_id:
                return key.to_json()
        # a record of the relying party; its token is thrown away: it connects to its front
        key, _token = c.api_keys.create(
            role=Role.VERIFIER.value, uscc=None, name=body.name, actor=who.key_id, access_form=form
        )
        return key.to_json()

    return await run_in_threadpool(file)
