"""RFC 9457 problem objects for every error, shared by the HTTP API and the CLI."""

from __future__ import annotations

from keystore.errors import ErrorKind, EsealError

__all__ = ["STATUS", "problem"]

STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


def problem(error: EsealError) -> dict[str, object]:
    return {**error.to_problem(), "status": STATUS[error.kind]}
