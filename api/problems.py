"""RFC 9457 problem objects for every error, shared by the HTTP API and the CLI.

:data:`PROBLEM_RESPONSES` declares them in the OpenAPI: every route lists it in its
``responses``, so each error status is documented as ``application/problem+json`` with the
:class:`Problem` schema (one component, referred to).  FastAPI also files a response's
``model`` under the route's own media type (``application/json``); that entry names the same
schema, but what the server sends is ``application/problem+json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from keystore.errors import ErrorKind, EsealError

__all__ = ["PROBLEM", "PROBLEM_RESPONSES", "STATUS", "Problem", "problem", "problem_answer"]

PROBLEM = "application/problem+json"

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
    ErrorKind.UNSUPPORTED_MEDIA: 415,
}


def problem(error: EsealError) -> dict[str, object]:
    return {**error.to_problem(), "status": STATUS[error.kind]}


class Problem(BaseModel):
    """An error (RFC 9457).  ``code`` is stable and machine-readable; some errors add members
    of their own (``rule`` of ``invalid_uscc``, ``page`` and ``pages`` of a placement)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:eseal:error:invalid_uscc",
                    "title": "Invalid unified social credit code",
                    "status": 422,
                    "detail": "the check character is wrong",
                    "code": "invalid_uscc",
                    "rule": "check_character",
                }
            ]
        },
    )

    type: str = Field(description="urn:eseal:error:<code>")
    title: str
    status: int
    detail: str = Field(description="a sentence for a person; never a secret")
    code: str = Field(description="machine-readable, stable")


_WHEN: dict[int, str] = {
    400: "The request cannot be read",
    401: "No API token, or one that does not open (code unauthorized)",
    403: "The token's role or enterprise may not do this (code forbidden)",
    404: "Not found",
    409: "The thing exists already, or its state forbids the request",
    413: "The upload is larger than the configured limit",
    415: "The request body is of a type this route does not take (code unsupported_media_type)",
    422: "The input is wrong; code says what (e.g. invalid_uscc, invalid_request)",
    500: "The server failed; the request id identifies it in the logs",
    503: "A backing service (database, archive, key store) is down; retry later",
}

#: statuses only some routes answer; such a route adds :func:`problem_answer` of them
_ONLY_SOME = {415}


def problem_answer(status: int) -> dict[int | str, dict[str, Any]]:
    """The problem+json answer of one ``status``, as ``responses=`` of a route takes it."""
    return {
        status: {
            "description": _WHEN[status],
            "model": Problem,  # makes Problem a component of the OpenAPI document
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    }


#: the error answers of every route, by status, as ``responses=`` of a route takes them
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: answer
    for status in sorted(set(STATUS.values()) - _ONLY_SOME)
    for answer in problem_answer(status).values()
}
