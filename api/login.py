"""Logging in with the business license (认证登录): the story of a login, from the relying
party's challenge to its online verification.

1. A relying party (a verifier key registered with its access form) asks for a challenge with
   its nonce and purpose (:meth:`LoginFlow.create`): a short-lived, single-use id, shown to the
   enterprise as a URL and a QR code.
2. The enterprise reads who asks (:meth:`LoginFlow.read`) and confirms with its own key
   (:meth:`LoginFlow.confirm`): eseal checks the license and the official seal
   (:meth:`seals.service.SealService.signer_for`), signs the assertion with the official seal's
   key (:mod:`seals.assertions`) and records it with an audit entry, once.
3. The relying party takes the assertion (from the enterprise, or by reading its challenge) and
   verifies it offline against eseal's CA certificate, or online (:meth:`LoginFlow.verify`),
   where eseal also checks the license and the seal now and refuses a second use.
"""

from __future__ import annotations

import base64
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import segno
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from starlette.concurrency import run_in_threadpool

from keystore import csr
from seals.assertions import (
    AssertionAlgorithm,
    AssertionInvalid,
    AssertionReplayed,
    ChallengeExpired,
    ChallengeNotFound,
    ChallengeState,
    ChallengeUsed,
    ChallengeWrongEnterprise,
    JwsSigner,
    LoginClaims,
    PyhankoJwsSigner,
    RelyingPartyNotRegistered,
    Sm2JwsSigner,
    VerifiedAssertion,
    make_assertion,
    verify_assertion,
)
from seals.audit import AuditEvent
from seals.errors import DomainError, LicenseNotActive, SealNotActive
from seals.kinds import SealKind
from seals.license import LicenseStatus
from seals.model import Enterprise, Seal, SealStatus
from seals.uscc import validate_uscc
from storage.apikeys import ApiKey
from storage.challenges import Challenge, ChallengeStore

from .auth import Principal, Role
from .container import Container, trust_bundle

__all__ = ["LoginFlow", "Verification", "data_uri", "qr_png"]

Clock = Callable[[], datetime]


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` as PNG: error correction M, 8 pixels a module, the quiet zone."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _rp_name(key: ApiKey) -> str:
    form = key.access_form or {}
    return f"{form.get('organisation_name', key.name)} · {form.get('application_system', '')}"


@dataclass(frozen=True)
class Verification:
    """An assertion verified online: what it says, and the registry now."""

    verified: VerifiedAssertion
    enterprise: Enterprise
    seal: Seal
    verified_at: datetime


class LoginFlow:
    """The login's rules over the challenge store, the seals and the key store."""

    def __init__(self, container: Container, *, clock: Clock | None = None) -> None:
        self._c = container
        self._store = ChallengeStore(container.engine)
        self._clock: Clock = clock or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._clock()

    # -- who is asking ---------------------------------------------------------------------

    def relying_party(self, key_id: str) -> ApiKey:
        """The relying party behind a verifier key: registered with its access form."""
        key = self._c.api_keys.get(key_id)
        if key is None or key.role != Role.VERIFIER.value or not key.access_form:
            raise RelyingPartyNotRegistered(
                "only a relying party registered with its access form (附件2 接入信息表) may "
                "use logins; an admin creates its key with access_form"
            )
        return key

    # -- 1. the relying party's challenge ----------------------------------------------------

    def create(
        self,
        who: Principal,
        *,
        nonce: str,
        purpose: str,
        algorithm: AssertionAlgorithm | None = None,
        expect_uscc: str | None = None,
        expires_in: int | None = None,
    ) -> Challenge:
        """A new pending challenge of the relying party ``who`` (409 ``nonce_reused`` for a
        nonce it used before; 404 for an ``expect_uscc`` that is not registered)."""
        self.relying_party(who.key_id)
        if expect_uscc is not None:
            self._c.seals.enterprise(validate_uscc(expect_uscc))
        now = self._clock()
        seconds = expires_in or self._c.settings.login_challenge_seconds
        return self._store.create(
            Challenge(
                id=secrets.token_urlsafe(16),
                relying_party=who.key_id,
                nonce=nonce,
                purpose=purpose,
                algorithm=algorithm.value if algorithm else None,
                expect_uscc=expect_uscc,
                created_at=now,
                expires_at=now + timedelta(seconds=seconds),
            )
        )

    def url(self, challenge: Challenge) -> str:
        """What the QR code says: the challenge, where the enterprise reads and confirms it."""
        return f"{self._c.settings.public_url.rstrip('/')}/v1/auth/challenges/{challenge.id}"

    # -- 2. the enterprise reads and confirms ----------------------------------------------

    def read(self, who: Principal, challenge_id: str) -> Challenge:
        """The challenge and its relying party, as ``who`` may see it: its relying party and
        admins all of it; an enterprise one it may confirm (any, unless the relying party
        named another enterprise) or confirmed.  Anyone else: 404, as for none."""
        challenge = self._store.get(challenge_id)
        if challenge is None or not self._may_read(who, challenge):
            raise ChallengeNotFound("no such login challenge")
        return challenge

    @staticmethod
    def _may_read(who: Principal, challenge: Challenge) -> bool:
        if who.role is Role.ADMIN:
            return True
        if who.role is Role.VERIFIER:
            return challenge.relying_party == who.key_id
        return challenge.uscc == who.uscc or (
            challenge.uscc is None and challenge.expect_uscc in (None, who.uscc)
        )

    @staticmethod
    def shows_assertion(who: Principal, challenge: Challenge) -> bool:
        """Whether ``who`` sees the assertion: the relying party, an admin, the enterprise
        that confirmed (it hands the assertion to the relying party)."""
        if who.role is Role.ENTERPRISE:
            return challenge.uscc == who.uscc
        return True

    async def confirm(self, who: Principal, challenge_id: str) -> Challenge:
        """Confirm the challenge for ``who``'s enterprise and sign its assertion.

        Refused: 404 ``challenge_not_found``; 409 ``challenge_used`` (confirmed before) or
        ``challenge_expired``; 403 ``challenge_wrong_enterprise``; 409 ``license_not_active``
        or ``seal_suspended``/``seal_revoked`` (the official seal); 409
        ``algorithm_not_available`` when the seal has no key of the algorithm asked for.
        """
        uscc = who.uscc
        if uscc is None:  # the access rule admits enterprise keys only
            raise ChallengeWrongEnterprise("only an enterprise key confirms a login")
        challenge = await run_in_threadpool(self._store.get, challenge_id)
        if challenge is None:
            raise ChallengeNotFound("no such login challenge")
        if challenge.expect_uscc not in (None, uscc):
            raise ChallengeWrongEnterprise("the relying party asked another enterprise to log in")
        self._check_pending(challenge)
        rp = await run_in_threadpool(self._c.api_keys.get, challenge.relying_party)
        if rp is None:
            raise RelyingPartyNotRegistered("the relying party that asked is no longer registered")
        seal, signer = await run_in_threadpool(self._signer, uscc, challenge.algorithm)
        enterprise = await run_in_threadpool(self._c.seals.enterprise, uscc)
        now = self._clock()
        expires = now + timedelta(seconds=self._c.settings.login_assertion_seconds)
        claims = LoginClaims(
            issuer=self._c.settings.public_url.rstrip("/"),
            uscc=uscc,
            name=enterprise.license.name,
            license_status=enterprise.status,
            audience=challenge.relying_party,
            audience_name=_rp_name(rp),
            nonce=challenge.nonce,
            purpose=challenge.purpose,
            issued_at=now,
            expires_at=expires,
            token_id=challenge.id,
            seal_serial=format(
                seal.sm2_serial
                if signer.algorithm is AssertionAlgorithm.SM2SM3 and seal.sm2_serial
                else seal.serial,
                "x",
            ),
            seal_version=seal.version,
        )
        token = await make_assertion(claims, signer)
        event = AuditEvent(
            "login.assert",
            who.key_id,
            uscc=uscc,
            seal_kind=SealKind.OFFICIAL.value,
            serial=format(seal.serial, "x"),
            detail={
                "challenge": challenge.id,
                "relying_party": challenge.relying_party,
                "rp_name": claims.audience_name,
                "purpose": challenge.purpose,
                "algorithm": signer.algorithm.value,
                "certificate_serial": claims.seal_serial,
                "expires_at": expires.isoformat(),
            },
        )
        confirmed = await run_in_threadpool(
            lambda: self._store.confirm(
                challenge.id,
                uscc=uscc,
                key_id=who.key_id,
                assertion=token,
                assertion_expires_at=expires,
                now=now,
                events=[event],
            )
        )
        latest = await run_in_threadpool(self._store.get, challenge.id)
        if not confirmed or latest is None:  # another request came first, or time ran out
            self._check_pending(latest or challenge)
            raise ChallengeUsed("the login challenge was confirmed already")
        return latest

    def _check_pending(self, challenge: Challenge) -> None:
        state = challenge.state(self._clock())
        if challenge.assertion is not None:
            raise ChallengeUsed("the login challenge was confirmed already; it is single use")
        if state is not ChallengeState.PENDING:
            raise ChallengeExpired(
                f"the login challenge expired at {challenge.expires_at.isoformat()}; the "
                "relying party asks for a new one"
            )

    def _signer(self, uscc: str, algorithm: str | None) -> tuple[Seal, JwsSigner]:
        """The official seal (license and seal checked) and its key for ``algorithm``."""
        seal, signer = self._c.seals.signer_for(uscc, SealKind.OFFICIAL)
        wanted = AssertionAlgorithm(algorithm) if algorithm else None
        if wanted is AssertionAlgorithm.SM2SM3:
            if (
                seal.sm2_key_ref is None
                or seal.sm2_certificate_pem is None
                or self._c.settings.keystore != "soft"
            ):
                raise DomainError(
                    f"the official seal of {uscc} has no SM2 key; re-issue it with SM2 seals "
                    "enabled, or ask for the login without an algorithm",
                    code="algorithm_not_available",
                )
            certificate = asn1_x509.Certificate.load(
                asn1_pem.unarmor(seal.sm2_certificate_pem.encode())[2]
            )
            return seal, Sm2JwsSigner(
                self._c.soft_keys.sm2_signer(seal.sm2_key_ref),
                certificate,
                self._c.sm2_pki.chain(),
            )
        jws = PyhankoJwsSigner(signer, csr.load_certificates(seal.chain_pem, "chain"))
        if wanted is not None and jws.algorithm is not wanted:
            raise DomainError(
                f"the official seal of {uscc} signs {jws.algorithm.value}, not {wanted.value}",
                code="algorithm_not_available",
            )
        return seal, jws

    # -- 3. the relying party verifies online ------------------------------------------------

    def anchors(self) -> list[asn1_x509.Certificate]:
        """What assertions chain to: eseal's roots (ECDSA/RSA and SM2), and the trust bundle
        (seals whose certificate a licensed CA issued)."""
        return [
            self._c.pki.chain()[-1],
            self._c.sm2_pki.chain()[-1],
            *trust_bundle(self._c.settings),
        ]

    def verify(self, who: Principal, token: str, nonce: str | None = None) -> Verification:
        """Verify an assertion for the relying party ``who``, once.

        The assertion itself (:func:`seals.assertions.verify_assertion`: 422
        ``assertion_invalid``, ``assertion_expired``, ``assertion_wrong_audience``,
        ``nonce_mismatch``); that eseal made it for this challenge (``assertion_invalid``);
        the license now (409 ``license_not_active``) and the official seal now (409
        ``seal_suspended``/``seal_revoked``); then its first use (409
        ``assertion_replayed``).
        """
        self.relying_party(who.key_id)
        now = self._clock()
        verified = verify_assertion(
            token, self.anchors(), now=now, audience=who.key_id, nonce=nonce
        )
        claims = verified.claims
        challenge = self._store.get(claims.token_id)
        if challenge is None or challenge.assertion != token:
            raise AssertionInvalid("eseal made no such assertion")
        enterprise = self._c.seals.enterprise(claims.uscc)
        if enterprise.status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive(
                f"the license of {claims.uscc} is {enterprise.status.value} "
                f"({enterprise.status.label}) now; the login is refused"
            )
        serial = int(claims.seal_serial, 16)
        seal = (
            self._c.seals.seal_by_sm2_serial(serial)
            if verified.algorithm is AssertionAlgorithm.SM2SM3
            else self._c.seals.seal_by_serial(serial)
        )
        if seal is None or seal.status is not SealStatus.ACTIVE:
            status = seal.status.value if seal is not None else "unknown"
            raise SealNotActive(
                f"the official seal that signed the assertion is {status} now",
                code=f"seal_{status}" if seal is not None else "seal_not_active",
            )
        if not self._store.mark_verified(challenge.id, who.key_id, now):
            raise AssertionReplayed(
                "this assertion was verified before: a login assertion counts once"
            )
        return Verification(verified, enterprise, seal, now)

    def view(self, who: Principal, challenge: Challenge) -> dict[str, Any]:
        """The challenge as ``who`` sees it (``GET /v1/auth/challenges/{id}`` and the others)."""
        rp = self._c.api_keys.get(challenge.relying_party)
        form = (rp.access_form if rp is not None else None) or {}
        show = self.shows_assertion(who, challenge)
        return {
            "id": challenge.id,
            "status": challenge.state(self._clock()).value,
            "url": self.url(challenge),
            "nonce": challenge.nonce,
            "purpose": challenge.purpose,
            "algorithm": challenge.algorithm,
            "expect_uscc": challenge.expect_uscc,
            "created_at": challenge.created_at.isoformat(),
            "expires_at": challenge.expires_at.isoformat(),
            "relying_party": {
                "id": challenge.relying_party,
                "organisation_name": form.get("organisation_name"),
                "uscc": form.get("uscc"),
                "application_system": form.get("application_system"),
                "endpoint": form.get("endpoint"),
            },
            "uscc": challenge.uscc,
            "confirmed_at": challenge.confirmed_at.isoformat() if challenge.confirmed_at else None,
            "assertion": challenge.assertion if show else None,
            "assertion_expires_at": (
                challenge.assertion_expires_at.isoformat()
                if challenge.assertion_expires_at
                else None
            ),
            "verified_at": challenge.verified_at.isoformat() if challenge.verified_at else None,
        }
