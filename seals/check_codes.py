"""Scan-to-check codes (亮照 / 扫码核验): a short-lived, signed link to a license's status.

The holder of a license asks for a code; eseal answers a URL (and its QR image) that opens
the check page of that license, valid for a few minutes.  The URL carries the USCC, the time
the code was made and the time it ends, and the registration authority's signature over the
three (its platform seal's key, ECDSA or RSA with SHA-256), so a code cannot be made for
another enterprise, moved to one, or extended without the signature failing.  A code is read
as one of three states: ``valid``, ``expired`` (a genuine code past its end) and ``invalid``
(anything else: tampered, malformed, signed by nobody we know, or ending implausibly late).
Verification never raises on bad input: a code is something anyone can type.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .uscc import is_valid_uscc

__all__ = ["CheckCode", "CheckCodes", "CodeState", "signed_payload"]

#: a code whose end lies further than this past its making is not one eseal made
_LONGEST = timedelta(days=1)
#: a code made this far in the future (clock skew between replicas) is still accepted
_SKEW = timedelta(minutes=2)


class CodeState(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class CheckCode:
    """A code as made or read: the enterprise, when it was made and when it ends."""

    uscc: str
    made_at: datetime
    expires_at: datetime
    signature: str

    def query(self) -> str:
        """The URL query that carries the code: ``at``, ``until`` (Unix seconds), ``sig``."""
        return urlencode(
            {
                "at": int(self.made_at.timestamp()),
                "until": int(self.expires_at.timestamp()),
                "sig": self.signature,
            }
        )


def signed_payload(uscc: str, made_at: int, expires_at: int) -> bytes:
    """What the authority signs: versioned, so a later format cannot be confused with it."""
    return f"eseal-check-code/1|{uscc}|{made_at}|{expires_at}".encode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CheckCodes:
    """Makes and reads codes; the signing key and the certificates are injected."""

    def __init__(
        self,
        sign: Callable[[bytes], Awaitable[bytes]],
        certificates: Callable[[], Sequence[x509.Certificate]],
        *,
        lifetime: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``sign``: the authority seal's signature over bytes (SHA-256; DER for ECDSA);
        ``certificates``: every certificate of the authority's seal (a code made before a
        renewal stays readable); ``lifetime``: how long a code is valid."""
        if not timedelta(0) < lifetime <= _LONGEST:
            raise ValueError("a check code lives between a second and a day")
        self._sign = sign
        self._certificates = certificates
        self.lifetime = lifetime
        self._clock = clock

    async def make(self, uscc: str) -> CheckCode:
        now = self._clock().replace(microsecond=0)
        made, until = int(now.timestamp()), int((now + self.lifetime).timestamp())
        signature = await self._sign(signed_payload(uscc, made, until))
        return CheckCode(
            uscc,
            datetime.fromtimestamp(made, UTC),
            datetime.fromtimestamp(until, UTC),
            _b64(signature),
        )

    def read(
        self, uscc: str, at: str | None, until: str | None, sig: str | None
    ) -> tuple[CodeState, CheckCode | None]:
        """The state of the code in a URL, and the code when its signature holds."""
        try:
            if not (is_valid_uscc(uscc) and at and until and sig) or len(sig) > 1024:
                return CodeState.INVALID, None
            made, ends = int(at), int(until)
            signature = _unb64(sig)
        except (ValueError, binascii.Error):
            return CodeState.INVALID, None
        if not self._genuine(signed_payload(uscc, made, ends), signature):
            return CodeState.INVALID, None
        try:
            code = CheckCode(
                uscc, datetime.fromtimestamp(made, UTC), datetime.fromtimestamp(ends, UTC), sig
            )
        except (ValueError, OverflowError, OSError):
            return CodeState.INVALID, None
        now = self._clock()
        if code.expires_at - code.made_at > _LONGEST or code.made_at > now + _SKEW:
            return CodeState.INVALID, None
        if now >= code.expires_at:
            return CodeState.EXPIRED, code
        return CodeState.VALID, code

    def _genuine(self, payload: bytes, signature: bytes) -> bool:
        for cert in self._certificates():
            key = cert.public_key()
            try:
                if isinstance(key, ec.EllipticCurvePublicKey):
                    key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
                elif isinstance(key, rsa.RSAPublicKey):
                    key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
                else:
                    continue
                return True
            except (InvalidSignature, ValueError):
                continue
        return False
