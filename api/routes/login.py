"""Logging in with the business license (认证登录): /v1/auth.

The flow and its rules are :class:`api.login.LoginFlow`'s; the routes read requests and send
its answers.  README, "Logging in with the license", draws the sequence.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seals.assertions import AssertionAlgorithm
from seals.certificates import armor

from ..answers import AssertionCheck, ChallengeAnswer, NewChallengeAnswer
from ..auth import Action, Principal, allowed
from ..login import LoginFlow, data_uri, qr_png
from ..problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/auth", tags=["login"])

ChallengeMaker = Annotated[Principal, allowed(Action.CREATE_LOGIN_CHALLENGE)]
ChallengeReader = Annotated[Principal, allowed(Action.READ_LOGIN_CHALLENGE)]
Confirmer = Annotated[Principal, allowed(Action.CONFIRM_LOGIN)]
AssertionVerifier = Annotated[Principal, allowed(Action.VERIFY_LOGIN_ASSERTION)]


class ChallengeRequest(BaseModel):
    """Body of ``POST /v1/auth/challenges``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    nonce: str = Field(
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9._~-]+$",
        description="the relying party's random value for this login (at least 16 characters "
        "of base64url or hex; 128 bits of randomness or more), never used before",
        examples=["q3XoM2p9b8rT1LwZ0aHk5A"],
    )
    purpose: str = Field(
        min_length=1, max_length=200, description="what the login is for, shown to the enterprise"
    )
    algorithm: AssertionAlgorithm | None = Field(
        None,
        description="the assertion's JWS alg: ES256 (or RS256) with the official seal's "
        "international key, SM2SM3 with its SM2 key; default: the international key",
    )
    expect_uscc: str | None = Field(
        None, min_length=18, max_length=18, description="only this enterprise may confirm"
    )
    expires_in: int | None = Field(
        None,
        ge=30,
        le=3600,
        description="seconds the challenge waits to be confirmed (ESEAL_LOGIN_CHALLENGE_SECONDS)",
    )


class AssertionRequest(BaseModel):
    """Body of ``POST /v1/auth/assertions/verify``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    assertion: str = Field(min_length=1, max_length=32 * 1024, description="the compact JWS")
    nonce: str | None = Field(
        None, max_length=128, description="the nonce the relying party expects (checked if given)"
    )


def _flow(request: Request) -> LoginFlow:
    """The app's login flow, made on first use (a test may set its own, with a clock)."""
    flow: LoginFlow | None = getattr(request.app.state, "login", None)
    if flow is None:
        flow = LoginFlow(request.app.state.container)
        request.app.state.login = flow
    return flow


@router.post(
    "/challenges",
    status_code=201,
    summary="A relying party asks an enterprise to log in: a challenge with its URL and QR code",
    response_model=NewChallengeAnswer,
    responses=PROBLEM_RESPONSES,
)
async def create_challenge(
    body: ChallengeRequest, request: Request, who: ChallengeMaker
) -> dict[str, Any]:
    flow = _flow(request)
    challenge = await run_in_threadpool(
        lambda: flow.create(
            who,
            nonce=body.nonce,
            purpose=body.purpose,
            algorithm=body.algorithm,
            expect_uscc=body.expect_uscc,
            expires_in=body.expires_in,
        )
    )
    answer = await run_in_threadpool(flow.view, who, challenge)
    return {**answer, "qr_png": data_uri(qr_png(answer["url"]))}


@router.get(
    "/challenges/{challenge_id}",
    summary="A login challenge: who asks and for what (the enterprise), its state and "
    "assertion (the relying party)",
    response_model=ChallengeAnswer,
    responses=PROBLEM_RESPONSES,
)
async def read_challenge(
    challenge_id: str, request: Request, who: ChallengeReader
) -> dict[str, Any]:
    flow = _flow(request)
    challenge = await run_in_threadpool(flow.read, who, challenge_id)
    result: dict[str, Any] = await run_in_threadpool(flow.view, who, challenge)
    return result


@router.post(
    "/challenges/{challenge_id}/confirm",
    summary="The enterprise confirms a login with its own key: eseal signs the assertion "
    "with its official seal",
    response_model=ChallengeAnswer,
    responses=PROBLEM_RESPONSES,
)
async def confirm_challenge(challenge_id: str, request: Request, who: Confirmer) -> dict[str, Any]:
    flow = _flow(request)
    challenge = await flow.confirm(who, challenge_id)
    result: dict[str, Any] = await run_in_threadpool(flow.view, who, challenge)
    return result


@router.post(
    "/assertions/verify",
    summary="The relying party verifies a login assertion made for it, once",
    response_model=AssertionCheck,
    responses=PROBLEM_RESPONSES,
)
async def verify_assertion(
    body: AssertionRequest, request: Request, who: AssertionVerifier
) -> dict[str, Any]:
    flow = _flow(request)
    done = await run_in_threadpool(flow.verify, who, body.assertion, body.nonce)
    claims = done.verified.claims
    return {
        "valid": True,
        "algorithm": done.verified.algorithm.value,
        "uscc": claims.uscc,
        "name": claims.name,
        "license_status": done.enterprise.status.value,
        "audience": claims.audience,
        "nonce": claims.nonce,
        "purpose": claims.purpose,
        "issued_at": claims.issued_at.isoformat(),
        "expires_at": claims.expires_at.isoformat(),
        "challenge": claims.token_id,
        "seal": {
            "kind": done.seal.kind.value,
            "serial": claims.seal_serial,
            "version": done.seal.version,
            "certificate": armor(done.verified.certificate),
        },
        "verified_at": done.verified_at.isoformat(),
    }
