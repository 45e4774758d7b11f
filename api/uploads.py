"""Multipart uploads of the document routes (the centre's and a front system's)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from .errors import InvalidRequest

__all__ = ["form_parts", "form_upload"]


async def form_upload(request: Request) -> tuple[UploadFile, dict[str, str]]:
    """The uploaded ``file`` (spooled to disk when large) and the other (text) fields."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest(
            "send multipart/form-data with the PDF in the part 'file'", code="invalid_upload"
        )
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidRequest(
            "the multipart part 'file' (the PDF) is missing", code="invalid_upload"
        )
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return upload, fields


async def form_parts(request: Request) -> tuple[bytes, dict[str, str]]:
    """The uploaded ``file``'s bytes and the other (text) fields of a multipart form."""
    upload, fields = await form_upload(request)
    try:
        return await upload.read(), fields
    finally:
        await upload.close()
