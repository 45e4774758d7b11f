"""Errors of the HTTP layer, under the one root."""

from __future__ import annotations

from keystore.errors import ErrorKind, EsealError

__all__ = ["Conflict", "FileTooLarge", "Forbidden", "InvalidRequest", "NotFound", "Unauthorized"]


class Unauthorized(EsealError):
    """No token, or one that does not open (one message for every case, on purpose)."""

    code = "unauthorized"
    kind = ErrorKind.UNAUTHORIZED
    title = "Authentication required"


class Forbidden(EsealError):
    code = "forbidden"
    kind = ErrorKind.FORBIDDEN
    title = "Not allowed"


class NotFound(EsealError):
    code = "not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Not found"


class Conflict(EsealError):
    """The request conflicts with the state of what it names (409)."""

    code = "conflict"
    kind = ErrorKind.CONFLICT
    title = "Conflict"


class InvalidRequest(EsealError):
    code = "invalid_request"
    kind = ErrorKind.INVALID
    title = "Invalid request"


class FileTooLarge(EsealError):
    code = "file_too_large"
    kind = ErrorKind.TOO_LARGE
    title = "File too large"
