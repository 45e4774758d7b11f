"""Answers that carry a file, and how the OpenAPI declares them.

A PDF is answered from memory when small, streamed from a temporary file when large.  File
routes (PDF, PNG, PEM, DER, ZIP, OCSP and time-stamp replies) declare their media type and
headers with :func:`file_answer`; every route declares the problem+json errors
(:data:`api.problems.PROBLEM_RESPONSES`).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response, StreamingResponse

from .flows import SealedDocument
from .problems import PROBLEM_RESPONSES

__all__ = ["PROBLEM_RESPONSES", "file_answer", "pdf_response"]

#: sealed documents up to this size are answered from memory, larger ones streamed
_STREAM_FROM = 1024 * 1024

_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


def file_answer(
    media_type: str,
    description: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    text: bool = False,
    also: tuple[str, ...] = (),
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering a file of ``media_type`` (and ``also`` these),
    with the response ``headers`` it sets (name: description) and the problem+json errors."""
    schema = {"type": "string"} if text else _BINARY
    answer: dict[str, Any] = {
        "description": description,
        "content": {m: {"schema": schema} for m in (media_type, *also)},
    }
    if headers:
        answer["headers"] = {
            name: {"description": about, "schema": {"type": "string"}}
            for name, about in headers.items()
        }
    return {status: answer, **PROBLEM_RESPONSES}


def pdf_response(done: SealedDocument, headers: dict[str, str]) -> Response:
    """The document as the answer: small ones in one piece, large ones streamed from disk."""
    headers = {**headers, "Content-Length": str(done.size)}
    if done.size <= _STREAM_FROM:
        body = done.pdf
        done.close()
        return Response(body, media_type=done.media_type, headers=headers)
    return StreamingResponse(done.chunks(), media_type=done.media_type, headers=headers)
