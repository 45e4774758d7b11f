"""The one error root of eseal.

Every error the server raises on purpose derives from :class:`EsealError` and carries a
machine-readable ``code``.  It lives here because ``keystore`` is the lowest layer (it imports
nothing of ours); ``seals``, ``signer``, ``storage`` and ``api`` derive their own errors from it.
The HTTP layer maps :attr:`EsealError.kind` to a status code in one handler.
"""

from __future__ import annotations

import enum

__all__ = [
    "AlgorithmNotSupportedByKeystore",
    "ErrorKind",
    "EsealError",
    "KeystoreError",
    "KeystoreUnavailable",
    "MasterKeyError",
]


class ErrorKind(enum.Enum):
    """What sort of failure an error is; the API maps each kind to one HTTP status."""

    INVALID = "invalid"  #: the input is wrong (422)
    BAD_REQUEST = "bad_request"  #: the request cannot be read at all (400)
    UNAUTHORIZED = "unauthorized"  #: no or wrong credentials (401)
    FORBIDDEN = "forbidden"  #: authenticated, but not allowed (403)
    NOT_FOUND = "not_found"  #: the thing does not exist (404)
    CONFLICT = "conflict"  #: the thing exists already or its state forbids it (409)
    TOO_LARGE = "too_large"  #: upload over the configured limit (413)
    UNAVAILABLE = "unavailable"  #: a backing service is down; retry later (503)
    INTERNAL = "internal"  #: a bug or a broken installation (500)
    UNSUPPORTED_MEDIA = "unsupported_media"  #: a body of a type the route does not take (415)


class EsealError(Exception):
    """Root of every error eseal raises on purpose.

    ``code`` is stable and machine-readable (``invalid_uscc``); ``detail`` is a sentence for
    a person.  Neither may ever contain a secret.
    """

    code: str = "eseal_error"
    kind: ErrorKind = ErrorKind.INTERNAL
    title: str = "eseal error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code

    def to_problem(self) -> dict[str, object]:
        """The RFC 9457 problem object, without the HTTP status (the API adds it)."""
        return {
            "type": f"urn:eseal:error:{self.code}",
            "title": self.title,
            "detail": self.detail,
            "code": self.code,
        }


class KeystoreError(EsealError):
    code = "keystore_error"
    kind = ErrorKind.INTERNAL
    title = "Key store error"


class MasterKeyError(KeystoreError):
    """The master key is missing, malformed, or does not open the key store.

    One opaque message on purpose: telling a wrong key from a tampered file helps an attacker.
    """

    code = "master_key_invalid"
    kind = ErrorKind.UNAVAILABLE
    title = "Master key missing or wrong"


class KeystoreUnavailable(KeystoreError):
    """The key store (e.g. a PKCS#11 token) is absent, locked or not answering."""

    code = "keystore_unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "Key store unavailable"


class AlgorithmNotSupportedByKeystore(KeystoreError):
    """The key store cannot hold keys of the requested algorithm (SM2 on a PKCS#11 token
    without SM2 mechanisms, such as SoftHSM2): refused, never replaced by another key type."""

    code = "algorithm_not_supported_by_keystore"
    kind = ErrorKind.INVALID
    title = "Algorithm not supported by the key store"
