"""License assertions: logging in with the business license (认证登录).

A relying party (a bank's or a government office's system, registered with its access form)
asks eseal for a challenge; the enterprise confirms it with its own API key; eseal then signs an
*assertion* with the key of the enterprise's official seal (企业法定名称章): a compact JWS
(RFC 7515) whose claims name the enterprise (USCC, name, license status), the relying party
(``aud``), the relying party's ``nonce``, the purpose, and when it was made and stops counting.
The header carries the certificate chain (``x5c``: the seal certificate, the seal CA, the root),
so the relying party verifies it offline against eseal's CA certificate (``GET /v1/pki/ca``),
or online (``POST /v1/auth/assertions/verify``), where eseal also refuses a second use.

Algorithms (:class:`AssertionAlgorithm`):

* ``ES256`` (RFC 7518 3.4) for an ECDSA P-256 seal key: SHA-256, the signature ``r || s``
  (32 + 32 bytes), as JOSE libraries expect;
* ``RS256`` for an RSA seal key (``ESEAL_KEY_ALGORITHM=rsa-2048|rsa-3072``);
* ``SM2SM3`` for the seal's SM2 key: JOSE registers no SM2 algorithm, so eseal names it
  ``SM2SM3``: an SM2 signature (GB/T 32918.2) over ``SM3(Z || signing input)`` with ``Z`` of
  the default user id ``1234567812345678`` (GM/T 0009), encoded like ES256 as ``r || s``
  (32 + 32 bytes, big-endian), never DER; the ``x5c`` chain is eseal's SM2 hierarchy.

The header's ``typ`` is ``eseal-login+jwt`` (explicit typing, RFC 8725 3.11), so an assertion
cannot pass for any other token the relying party accepts.  Verification here is strict: one
header form, no duplicate member names, base64url without padding, the key type of the
certificate matching ``alg``, the certificate being an official seal's of the USCC claimed.
Every way an assertion can be wrong that is not about time, audience or nonce is one code,
``assertion_invalid`` (the detail says what, never a secret).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from pyhanko.sign.signers.pdf_cms import Signer

from keystore import csr, sm2
from keystore.errors import KeystoreError

from .errors import DomainError, ErrorKind
from .identity import identity_of
from .kinds import SealKind
from .license import LicenseStatus

__all__ = [
    "ASSERTION_TYPE",
    "AssertionAlgorithm",
    "AssertionExpired",
    "AssertionInvalid",
    "AssertionReplayed",
    "AssertionWrongAudience",
    "ChallengeExpired",
    "ChallengeNotFound",
    "ChallengeState",
    "ChallengeUsed",
    "ChallengeWrongEnterprise",
    "JwsSigner",
    "LoginClaims",
    "NonceMismatch",
    "NonceReused",
    "PyhankoJwsSigner",
    "RelyingPartyNotRegistered",
    "Sm2JwsSigner",
    "VerifiedAssertion",
    "make_assertion",
    "verify_assertion",
]

#: the JWS header's ``typ`` of every assertion
ASSERTION_TYPE = "eseal-login+jwt"
#: an assertion longer than this is not one of ours (three certificates and the claims: ~4 KiB)
MAX_TOKEN = 32 * 1024
#: at most this many certificates in ``x5c``
MAX_CHAIN = 5
#: the header members eseal writes; any other (``crit``, ``jku``, ``jwk`` ...) is refused
_HEADER_MEMBERS = frozenset({"alg", "typ", "x5c"})


class AssertionAlgorithm(enum.Enum):
    """The JWS ``alg`` of an assertion: which of the official seal's keys signs it."""

    #: ECDSA P-256 with SHA-256, signature ``r || s`` (RFC 7518 3.4)
    ES256 = "ES256"
    #: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3), for RSA seal keys
    RS256 = "RS256"
    #: SM2 with SM3 and the default user id, signature ``r || s`` (eseal's name; see above)
    SM2SM3 = "SM2SM3"


class ChallengeState(enum.Enum):
    """Where a login challenge is: what ``GET /v1/auth/challenges/{id}`` says."""

    #: waiting for the enterprise to confirm
    PENDING = "pending"
    #: confirmed: the assertion is made, not yet verified online
    CONFIRMED = "confirmed"
    #: its assertion was verified online once; a second verification is a replay
    USED = "used"
    #: nobody confirmed it in time, or its assertion ran out unused
    EXPIRED = "expired"


# -- errors of the login flow --------------------------------------------------------------


class AssertionInvalid(DomainError):
    """Not an assertion eseal made, or one that does not verify (one code for every case)."""

    code = "assertion_invalid"
    title = "Invalid assertion"


class AssertionExpired(DomainError):
    code = "assertion_expired"
    title = "Assertion expired"


class AssertionWrongAudience(DomainError):
    """The assertion was made for another relying party."""

    code = "assertion_wrong_audience"
    title = "Assertion for another relying party"


class NonceMismatch(DomainError):
    code = "nonce_mismatch"
    title = "Nonce does not match"


class AssertionReplayed(DomainError):
    """An assertion verified online once already: a login is accepted once."""

    code = "assertion_replayed"
    kind = ErrorKind.CONFLICT
    title = "Assertion used already"


class NonceReused(DomainError):
    """The relying party asked for a challenge with a nonce it used before."""

    code = "nonce_reused"
    kind = ErrorKind.CONFLICT
    title = "Nonce used already"


class ChallengeNotFound(DomainError):
    code = "challenge_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Challenge not found"


class ChallengeExpired(DomainError):
    code = "challenge_expired"
    kind = ErrorKind.CONFLICT
    title = "Challenge expired"


class ChallengeUsed(DomainError):
    """The challenge was confirmed already: it is single use."""

    code = "challenge_used"
    kind = ErrorKind.CONFLICT
    title = "Challenge used already"


class ChallengeWrongEnterprise(DomainError):
    """The relying party asked for another enterprise's login (``expect_uscc``)."""

    code = "challenge_wrong_enterprise"
    kind = ErrorKind.FORBIDDEN
    title = "Challenge for another enterprise"


class RelyingPartyNotRegistered(DomainError):
    """A verifier key without its access form (附件2 接入信息表) is not a relying party."""

    code = "relying_party_not_registered"
    kind = ErrorKind.FORBIDDEN
    title = "Relying party not registered"


# -- the claims ----------------------------------------------------------------------------


def _numeric_date(when: datetime) -> int:
    return int(when.timestamp())


def _from_numeric_date(value: Any, name: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AssertionInvalid(f"the claim {name} is not a NumericDate (whole seconds)")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise AssertionInvalid(f"the claim {name} is out of range") from None


@dataclass(frozen=True)
class LoginClaims:
    """What an assertion says.  JWT claim names (RFC 7519) where one exists, eseal's beside."""

    #: ``iss``: the eseal server (its public URL)
    issuer: str
    #: ``sub`` and ``uscc``: the enterprise that logs in
    uscc: str
    #: ``name``: its legal name
    name: str
    #: ``license_status``: the license's status when the assertion was made (always active:
    #: eseal signs for active licenses only)
    license_status: LicenseStatus
    #: ``aud``: the relying party, by the id of its API key
    audience: str
    #: ``rp_name``: the relying party's organisation and system, from its access form
    audience_name: str
    #: ``nonce``: the relying party's, from its challenge
    nonce: str
    #: ``purpose``: what the relying party said the login is for
    purpose: str
    #: ``iat`` and ``exp``
    issued_at: datetime
    expires_at: datetime
    #: ``jti``: the challenge's id (one assertion per challenge)
    token_id: str
    #: ``seal.serial`` (hex) and ``seal.version`` of the official seal that signed
    seal_serial: str
    seal_version: int

    def to_claims(self) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "sub": self.uscc,
            "aud": self.audience,
            "iat": _numeric_date(self.issued_at),
            "exp": _numeric_date(self.expires_at),
            "jti": self.token_id,
            "nonce": self.nonce,
            "purpose": self.purpose,
            "uscc": self.uscc,
            "name": self.name,
            "license_status": self.license_status.value,
            "rp_name": self.audience_name,
            "seal": {
                "kind": SealKind.OFFICIAL.value,
                "label": SealKind.OFFICIAL.label,
                "serial": self.seal_serial,
                "version": self.seal_version,
            },
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> LoginClaims:
        def text(name: str, source: dict[str, Any] = claims) -> str:
            value = source.get(name)
            if not isinstance(value, str) or not value:
                raise AssertionInvalid(f"the claim {name} is missing or not a string")
            return value

        seal = claims.get("seal")
        if not isinstance(seal, dict) or seal.get("kind") != SealKind.OFFICIAL.value:
            raise AssertionInvalid("the assertion does not name the official seal")
        version = seal.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise AssertionInvalid("the claim seal.version is not a version number")
        if text("sub") != text("uscc"):
            raise AssertionInvalid("the claims sub and uscc differ")
        try:
            status = LicenseStatus(text("license_status"))
        except ValueError:
            raise AssertionInvalid("the claim license_status is not a license status") from None
        return cls(
            issuer=text("iss"),
            uscc=text("uscc"),
            name=text("name"),
            license_status=status,
            audience=text("aud"),
            audience_name=text("rp_name"),
            nonce=text("nonce"),
            purpose=text("purpose"),
            issued_at=_from_numeric_date(claims.get("iat"), "iat"),
            expires_at=_from_numeric_date(claims.get("exp"), "exp"),
            token_id=text("jti"),
            seal_serial=text("serial", seal),
            seal_version=version,
        )


# -- encoding ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64url_decode(text: str, what: str) -> bytes:
    raw = text.encode("ascii", "replace")
    # RFC 7515 2: base64url without padding, nothing else; len % 4 == 1 is never valid
    if not raw or not set(raw) <= _B64URL or len(raw) % 4 == 1:
        raise AssertionInvalid(f"the {what} is not base64url without padding")
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise AssertionInvalid(f"the member {key!r} appears twice")
        found[key] = value
    return found


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AssertionInvalid(f"the {what} is not JSON in UTF-8") from None
    if not isinstance(value, dict):
        raise AssertionInvalid(f"the {what} is not a JSON object")
    return value


def _der(certificate: asn1_x509.Certificate) -> bytes:
    return bytes(certificate.dump())


# -- signing -------------------------------------------------------------------------------


class JwsSigner(Protocol):
    """A seal key that signs JWS signing inputs, with its certificate chain (leaf first)."""

    @property
    def algorithm(self) -> AssertionAlgorithm: ...

    @property
    def chain(self) -> Sequence[asn1_x509.Certificate]: ...

    async def sign(self, data: bytes) -> bytes:
        """The JWS signature value over ``data`` (already in its JOSE encoding)."""
        ...


def _raw_ecdsa(der: bytes, size: int = 32) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


class PyhankoJwsSigner:
    """The seal's international key through the key store's pyHanko signer: ES256 for an
    ECDSA P-256 key, RS256 for an RSA key.  The key stays in the store (soft or PKCS#11)."""

    def __init__(self, signer: Signer, chain: Sequence[asn1_x509.Certificate]) -> None:
        """``chain``: the CA certificates above the seal certificate (issuing CA, root)."""
        certificate = signer.signing_cert
        if certificate is None:
            raise ValueError("the signer has no certificate")
        public = serialization.load_der_public_key(certificate.public_key.dump())
        if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
            self._algorithm = AssertionAlgorithm.ES256
        elif isinstance(public, rsa.RSAPublicKey):
            self._algorithm = AssertionAlgorithm.RS256
        else:
            raise DomainError(
                "the official seal's key is of a type no JWS algorithm names",
                code="algorithm_not_available",
            )
        self._signer = signer
        self._chain = [certificate, *chain]

    @property
    def algorithm(self) -> AssertionAlgorithm:
        return self._algorithm

    @property
    def chain(self) -> Sequence[asn1_x509.Certificate]:
        return self._chain

    async def sign(self, data: bytes) -> bytes:
        signature = await self._signer.async_sign_raw(data, "sha256")
        if self._algorithm is AssertionAlgorithm.ES256:
            return _raw_ecdsa(signature)
        return signature


class Sm2JwsSigner:
    """The seal's SM2 key (``SM2SM3``): the key store's SM2 signer and the SM2 chain."""

    def __init__(
        self,
        signer: sm2.Sm2Signer,
        certificate: asn1_x509.Certificate,
        chain: Sequence[asn1_x509.Certificate],
    ) -> None:
        self._signer = signer
        self._chain = [certificate, *chain]

    @property
    def algorithm(self) -> AssertionAlgorithm:
        return AssertionAlgorithm.SM2SM3

    @property
    def chain(self) -> Sequence[asn1_x509.Certificate]:
        return self._chain

    async def sign(self, data: bytes) -> bytes:
        r, s = sm2.parse_signature(self._signer.sign(data))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


async def make_assertion(claims: LoginClaims, signer: JwsSigner) -> str:
    """The compact JWS of ``claims``, signed by ``signer``, with its chain in ``x5c``."""
    header = {
        "alg": signer.algorithm.value,
        "typ": ASSERTION_TYPE,
        "x5c": [base64.b64encode(_der(c)).decode("ascii") for c in signer.chain],
    }
    signing_input = f"{_b64url(_json(header))}.{_b64url(_json(claims.to_claims()))}"
    signature = await signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64url(signature)}"


# -- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedAssertion:
    """An assertion whose signature, chain, form and time were checked."""

    claims: LoginClaims
    algorithm: AssertionAlgorithm
    #: the official seal's certificate that signed it
    certificate: asn1_x509.Certificate
    #: from that certificate up to the trust anchor (anchor last)
    path: list[asn1_x509.Certificate]


def _certificates(header: dict[str, Any]) -> list[asn1_x509.Certificate]:
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_CHAIN:
        raise AssertionInvalid(f"the header's x5c is not a list of 1 to {MAX_CHAIN} certificates")
    certificates = []
    for item in x5c:
        try:
            if not isinstance(item, str):
                raise ValueError
            der = base64.b64decode(item, validate=True)
            certificate = asn1_x509.Certificate.load(der, strict=True)
            certificate.native  # noqa: B018 (parses it all: a broken one fails here)
        except (ValueError, TypeError, binascii.Error):
            raise AssertionInvalid("a certificate of x5c is not base64 DER") from None
        certificates.append(certificate)
    return certificates


def _check_signature(
    algorithm: AssertionAlgorithm,
    certificate: asn1_x509.Certificate,
    signing_input: bytes,
    signature: bytes,
) -> None:
    spki = certificate["tbs_certificate"]["subject_public_key_info"]
    wrong_key = AssertionInvalid(f"the certificate's key does not sign {algorithm.value}")
    bad = AssertionInvalid("the assertion's signature does not verify")
    if algorithm is AssertionAlgorithm.SM2SM3:
        if not sm2.is_sm2_spki(spki) or len(signature) != 64:
            raise wrong_key if not sm2.is_sm2_spki(spki) else bad
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        try:
            sm2.Sm2PublicKey.from_spki(spki).verify(encode_dss_signature(r, s), signing_input)
        except (KeystoreError, ValueError):
            raise bad from None
        return
    if sm2.is_sm2_spki(spki):
        raise wrong_key
    try:
        public = serialization.load_der_public_key(spki.dump())
    except (ValueError, TypeError):
        raise wrong_key from None
    try:
        if algorithm is AssertionAlgorithm.ES256:
            if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
                public.curve, ec.SECP256R1
            ):
                raise wrong_key
            if len(signature) != 64:
                raise bad
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            public.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            if not isinstance(public, rsa.RSAPublicKey):
                raise wrong_key
            public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise bad from None


def verify_assertion(
    token: str,
    anchors: Sequence[asn1_x509.Certificate],
    *,
    now: datetime,
    audience: str | None = None,
    nonce: str | None = None,
    algorithms: Sequence[AssertionAlgorithm] = tuple(AssertionAlgorithm),
) -> VerifiedAssertion:
    """The assertion ``token``, checked; else :class:`AssertionInvalid` and the others.

    In this order: the form; ``alg`` one of ``algorithms``; the chain in ``x5c`` up to one of
    ``anchors`` (eseal's roots), each certificate valid ``now``; the signature by the first
    certificate's key; that certificate an official seal's of the USCC claimed; the claims;
    then ``exp`` (``assertion_expired``), ``aud`` (``assertion_wrong_audience``) and
    ``nonce`` (``nonce_mismatch``) when given.  Revocation and the license's status now are
    the caller's to ask the registry (an assertion lives minutes).
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 2:
        raise AssertionInvalid("not a compact JWS (three base64url parts separated by dots)")
    header_part, payload_part, signature_part = token.split(".")
    header = _object(_b64url_decode(header_part, "header"), "header")
    if set(header) - _HEADER_MEMBERS:
        unknown = ", ".join(sorted(set(header) - _HEADER_MEMBERS))
        raise AssertionInvalid(f"the header has members eseal does not write: {unknown}")
    if header.get("typ") != ASSERTION_TYPE:
        raise AssertionInvalid(f"the header's typ is not {ASSERTION_TYPE}")
    try:
        algorithm = AssertionAlgorithm(header.get("alg"))
    except ValueError:
        raise AssertionInvalid("the header's alg is not one eseal signs with") from None
    if algorithm not in algorithms:
        raise AssertionInvalid(f"{algorithm.value} is not an accepted algorithm here")
    certificates = _certificates(header)
    leaf = certificates[0]
    try:
        csr.check_valid_at(leaf, now, "seal certificate")
        path = csr.check_chain(leaf, certificates[1:], anchors, now)
    except KeystoreError as exc:
        raise AssertionInvalid(f"the certificate chain is not trusted: {exc.detail}") from None
    signing_input = f"{header_part}.{payload_part}".encode("ascii")
    _check_signature(algorithm, leaf, signing_input, _b64url_decode(signature_part, "signature"))
    claims = LoginClaims.from_claims(_object(_b64url_decode(payload_part, "payload"), "payload"))
    identity = identity_of(leaf)
    if identity.kind is not SealKind.OFFICIAL or identity.uscc != claims.uscc:
        raise AssertionInvalid(
            "the signing certificate is not the official seal's of the enterprise claimed"
        )
    if format(leaf.serial_number, "x") != claims.seal_serial:
        raise AssertionInvalid("the claim seal.serial is not the signing certificate's")
    if claims.issued_at > now + timedelta(minutes=5):
        raise AssertionInvalid("the assertion was issued in the future")
    if now >= claims.expires_at:
        raise AssertionExpired(
            f"the assertion expired at {claims.expires_at.isoformat()}; ask for a new login"
        )
    if audience is not None and not hmac.compare_digest(
        claims.audience.encode(), audience.encode()
    ):
        raise AssertionWrongAudience("the assertion was made for another relying party")
    if nonce is not None and not hmac.compare_digest(claims.nonce.encode(), nonce.encode()):
        raise NonceMismatch("the assertion's nonce is not the one given")
    return VerifiedAssertion(claims, algorithm, leaf, path)
