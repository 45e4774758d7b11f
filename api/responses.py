"""Answers that carry a PDF: small ones from memory, large ones streamed from a temporary file."""

from __future__ import annotations

from fastapi.responses import Response, StreamingResponse

from .flows import SealedDocument

__all__ = ["pdf_response"]

#: sealed documents up to this size are answered from memory, larger ones streamed
_STREAM_FROM = 1024 * 1024


def pdf_response(done: SealedDocument, headers: dict[str, str]) -> Response:
    """The document as the answer: small ones in one piece, large ones streamed from disk."""
    headers = {**headers, "Content-Length": str(done.size)}
    if done.size <= _STREAM_FROM:
        body = done.pdf
        done.close()
        return Response(body, media_type="application/pdf", headers=headers)
    return StreamingResponse(done.chunks(), media_type="application/pdf", headers=headers)
