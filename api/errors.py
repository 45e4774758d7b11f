"""Errors of the HTTP layer, under the one root."""

from __future__ import annotations

from keystore.errors import ErrorKind, EsealError

__all__ = [
    "BadRequest",
    "Conflict",
    "FileTooLarge",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "Unauthorized",
    "UnsupportedMediaType",
]


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


class BadRequest(EsealError):
    """The request cannot be read as it is (400): e.g. it says the same thing twice."""

    code = "bad_request"
    kind = ErrorKind.BAD_REQUEST
    title = "Bad request"


class UnsupportedMediaType(EsealError):
    """A request body of a type the route does not take (415)."""

    code = "unsupported_media_type"
    kind = ErrorKind.UNSUPPORTED_MEDIA
    title = "Unsupported media type"
