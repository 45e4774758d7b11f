"""A document sent as the request body itself, its options in the query or in one header.

``POST /v1/sign`` and ``POST /v1/verify`` take, besides the multipart form, the document as
the whole body (``Content-Type: application/pdf`` or ``application/ofd``; or
``application/octet-stream``, judged by its first bytes).  What the form's text fields say
comes either from query parameters of the same names (``options``, ``amount``;
``expect_uscc``, ``format``) or from one header, ``Eseal-Options`` (JSON), never from both:
a request that carries both is refused (400 ``ambiguous_options``) rather than merged by a
rule a caller would have to remember.  A query parameter the route does not know is
refused too (422 ``invalid_options``): a misspelt option must not be dropped silently.

The body is read once: spooled (in memory, on disk past a megabyte) while its SHA-256 is
computed, so sealing does not read it again for the hash.  The upload limit
(:class:`api.limits.BodyLimit`) counts the same bytes as they arrive: an oversized body is
cut off with 413 ``file_too_large`` before anything else happens.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from .errors import BadRequest, InvalidRequest, UnsupportedMediaType

__all__ = [
    "OPTIONS_HEADER",
    "RAW_MEDIA_TYPES",
    "RawBody",
    "is_raw",
    "media_type",
    "raw_fields",
    "read_raw_body",
]

#: the header that may carry a raw body's options (JSON) instead of the query
OPTIONS_HEADER = "Eseal-Options"

#: the body types taken as the document itself
RAW_MEDIA_TYPES = ("application/pdf", "application/ofd", "application/octet-stream")

#: bodies up to this size stay in memory; larger ones go to a temporary file
_SPOOL_IN_MEMORY = 1024 * 1024


def media_type(request: Request) -> str:
    """The request's media type without parameters, in lower case ('' when none is given)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_raw(request: Request) -> bool:
    """Is the body the document itself?  Multipart is not; anything else that is not one of
    :data:`RAW_MEDIA_TYPES` is refused (415 ``unsupported_media_type``)."""
    kind = media_type(request)
    if kind == "multipart/form-data":
        return False
    if kind in RAW_MEDIA_TYPES:
        return True
    raise UnsupportedMediaType(
        f"send the document as multipart/form-data (part 'file'), or as the body itself with "
        f"Content-Type {', '.join(RAW_MEDIA_TYPES)}; not {kind or 'a body without a type'}"
    )


def raw_fields(request: Request, names: tuple[str, ...], header_json: str) -> dict[str, str]:
    """The form fields ``names`` of a raw-body request, from its query or its header.

    ``header_json`` says what the header's JSON is: ``"options"`` (it is the options object,
    the form's ``options`` field; the other fields stay in the query), or ``""`` (it is an
    object of the fields themselves, each a string).
    """
    query = request.query_params
    unknown = sorted(set(query) - set(names))
    if unknown:
        raise InvalidRequest(
            f"unknown query parameter {unknown[0]!r}: this route takes {', '.join(names)}",
            code="invalid_options",
        )
    twice = sorted(name for name in set(query) if len(query.getlist(name)) > 1)
    if twice:
        raise InvalidRequest(f"the query gives {twice[0]!r} twice", code="invalid_options")
    fields = {name: query[name] for name in names if name in query}
    header = request.headers.getlist(OPTIONS_HEADER)
    if not header:
        return fields
    if len(header) > 1:
        raise InvalidRequest(f"{OPTIONS_HEADER} is sent twice", code="invalid_options")
    value = _utf8(header[0])
    if header_json:
        if header_json in fields:
            raise _both(header_json)
        return {**fields, header_json: value}
    if fields:
        raise _both(next(iter(fields)))
    return _field_object(value, names)


def _utf8(value: str) -> str:
    """A header's text: its bytes read as UTF-8 (the server hands them over as Latin-1), so
    JSON with ``甲方`` written out works as well as JSON with ``\\u7532`` escapes."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise InvalidRequest(
            f"{OPTIONS_HEADER} is not UTF-8 (or escape with \\uXXXX)", code="invalid_options"
        ) from None


def _both(name: str) -> BadRequest:
    return BadRequest(
        f"the options are given both in the query ({name}) and in the {OPTIONS_HEADER} "
        "header: send them one way",
        code="ambiguous_options",
    )


def _field_object(raw: str, names: tuple[str, ...]) -> dict[str, str]:
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"{OPTIONS_HEADER} is not valid JSON: {exc.msg}", code="invalid_options"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"{OPTIONS_HEADER} must be a JSON object", code="invalid_options")
    for key, value in data.items():
        if key not in names:
            raise InvalidRequest(
                f"unknown option {key!r} in {OPTIONS_HEADER}: this route takes {', '.join(names)}",
                code="invalid_options",
            )
        if not isinstance(value, str):
            raise InvalidRequest(f"{key} must be a string", code="invalid_options")
    return dict(data)


@dataclass
class RawBody:
    """The body, spooled and rewound, and its SHA-256 (a ``hashlib`` object, not finished)."""

    upload: UploadFile
    digest: Any
    size: int

    @property
    def empty(self) -> bool:
        return self.size == 0

    async def close(self) -> None:
        await self.upload.close()


_PDF = b"%PDF-"
_ZIP = b"PK\x03\x04"


async def read_raw_body(request: Request) -> RawBody:
    """Spool the body while hashing it; an ``application/octet-stream`` body must then look
    like a PDF or an OFD (ZIP) document (else 415 ``unsupported_media_type``)."""
    digest = hashlib.sha256()
    # as Starlette's multipart parser spools a file part (closed by the caller, or below)
    spool = SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    upload = UploadFile(spool, size=0)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            if chunk:
                digest.update(chunk)
                await upload.write(chunk)  # to disk off the event loop once it rolled over
        await upload.seek(0)
        size = upload.size or 0
        if size and media_type(request) == "application/octet-stream":
            head = await upload.read(1024)
            await upload.seek(0)
            # a PDF's header may follow some junk within its first 1024 bytes (ISO 32000)
            if not (_PDF in head or head.startswith(_ZIP)):
                raise UnsupportedMediaType(
                    "the application/octet-stream body is neither a PDF nor an OFD document"
                )
    except BaseException:
        await upload.close()
        raise
    return RawBody(upload, digest, size)
