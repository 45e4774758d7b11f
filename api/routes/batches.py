"""Batches: many documents sealed in the background, ``/v1/batches``.

``POST /v1/batches`` reads the whole request before it queues anything: every file's name,
size and options are checked (the same checks ``POST /v1/sign`` makes before any work), and a
request that fails any of them is refused with its code and queues nothing.  What only
sealing can tell (not a PDF, a keyword not found, a page out of range) fails that file alone
when a worker reaches it; the batch goes on.

The documents come as repeated multipart parts ``file`` or as one part ``zip``.  A ZIP is
distrusted as an OFD upload is: members must be stored or deflated, unencrypted, with plain
relative names; sizes are counted while inflating, never taken from the headers.  Directories
and the ``__MACOSX/`` folder macOS adds are skipped; every other member is a document.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, Annotated, Any, BinaryIO

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from keystore.errors import ErrorKind, EsealError
from storage.archive.model import clean_original_name
from storage.batches import Batch, BatchStatus, ItemStatus, NewItem, result_zip

from ..answers import BatchAnswer
from ..auth import Action, Principal, allowed, authorize
from ..batch_worker import batch_store
from ..deps import ContainerDep
from ..errors import FileTooLarge, InvalidRequest
from ..flows import options_json, to_sealing_options
from ..models import SignOptions
from ..responses import PROBLEM_RESPONSES, file_answer

router = APIRouter(prefix="/v1/batches", tags=["batches"])

Sealer = Annotated[Principal, allowed(Action.SEAL_DOCUMENTS)]
Reader = Annotated[Principal, allowed(Action.READ_ARCHIVE)]

#: the parts a batch request may have
_PARTS = ("file", "zip", "options", "per_file")
#: a ZIP may inflate to this many times the upload limit in all
ZIP_TOTAL_FACTOR = 4
_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
#: longest file name (a ZIP member's path) kept
MAX_NAME = 255


class BatchNotFinished(EsealError):
    code = "batch_not_finished"
    kind = ErrorKind.CONFLICT
    title = "Batch not finished"


def _batch_answer(batch: Batch, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {**batch.to_json(), "result": f"/v1/batches/{batch.id}/result.zip", "files": files}


# -- reading the request -------------------------------------------------------------------


@dataclass
class _Source:
    """A document of the request: its name and a way to read it (again)."""

    name: str
    open: Callable[[], AbstractContextManager[IO[bytes]]]
    sha256: str = ""
    size: int = 0


def _invalid_zip(detail: str) -> InvalidRequest:
    return InvalidRequest(detail, code="invalid_zip")


def _check_member(name: str) -> None:
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or _DRIVE.match(name):
        raise _invalid_zip(f"the ZIP holds a file with an unsafe path {name[:100]!r}")
    if any(part in ("", ".", "..") for part in name.rstrip("/").split("/")):
        raise _invalid_zip(f"the ZIP holds a file with an unsafe path {name[:100]!r}")


def _measure(source: _Source, per_file: int, budget: list[int]) -> None:
    """SHA-256 and size of a document, counted as it is read against the limits."""
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open() as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                budget[0] -= len(chunk)
                if size > per_file:
                    raise FileTooLarge(
                        f"{source.name[:100]} is larger than the limit of "
                        f"{per_file / 1048576:g} MB for one document"
                    )
                if budget[0] < 0:
                    raise FileTooLarge("the ZIP inflates to more than the limit of a batch")
                digest.update(chunk)
    except EsealError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
        raise _invalid_zip(f"{source.name[:100]} in the ZIP cannot be read ({exc})") from None
    source.sha256, source.size = digest.hexdigest(), size


def _zip_sources(archive: zipfile.ZipFile, max_files: int) -> list[_Source]:
    sources: list[_Source] = []
    folded: set[str] = set()
    for info in archive.infolist():
        name = info.filename
        _check_member(name)
        if info.is_dir() or name.startswith("__MACOSX/"):
            continue
        if name.casefold() in folded:
            raise InvalidRequest(f"the ZIP holds {name[:100]!r} twice", code="duplicate_file_name")
        folded.add(name.casefold())
        if info.flag_bits & 0x1:
            raise _invalid_zip(f"{name[:100]} in the ZIP is encrypted")
        if info.compress_type not in _ZIP_METHODS:
            raise _invalid_zip(f"{name[:100]} in the ZIP uses a compression other than deflate")
        if len(name) > MAX_NAME:
            raise InvalidRequest(
                f"a path in the ZIP is longer than {MAX_NAME} characters", code="invalid_upload"
            )
        if len(sources) >= max_files:
            raise _too_many(max_files)

        def member(info: zipfile.ZipInfo = info) -> AbstractContextManager[IO[bytes]]:
            return archive.open(info)

        sources.append(_Source(name, member))
    return sources


def _open_zip(upload: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise _invalid_zip("the part 'zip' is not a readable ZIP archive") from None


class TooManyFiles(EsealError):
    code = "too_many_files"
    kind = ErrorKind.TOO_LARGE
    title = "Too many files"


def _too_many(max_files: int) -> EsealError:
    return TooManyFiles(f"a batch holds at most {max_files} files (ESEAL_BATCH_MAX_FILES)")


def _named(uploads: list[UploadFile]) -> list[_Source]:
    sources = []
    seen: set[str] = set()
    for i, upload in enumerate(uploads):
        name = clean_original_name(upload.filename) or f"file-{i + 1}"
        if name.casefold() in seen:
            raise InvalidRequest(
                f"two files are named {name[:100]!r}: the results name each file, so names "
                "must differ",
                code="duplicate_file_name",
            )
        seen.add(name.casefold())

        def reopen(f: BinaryIO = upload.file) -> AbstractContextManager[IO[bytes]]:
            f.seek(0)
            return nullcontext(f)  # read again later: the form closes it

        sources.append(_Source(name, reopen))
    return sources


def _options_of(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """A file's options as the worker will read them, checked as ``POST /v1/sign`` checks
    them before any work; the error names the file."""
    try:
        options = SignOptions.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(
            f"invalid options for {name[:100]}: {detail}", code="invalid_options"
        ) from None
    try:
        to_sealing_options(options)  # unknown kinds and bad placements
    except EsealError as exc:
        exc.detail = f"{name[:100]}: {exc.detail}"
        exc.args = (exc.detail,)
        raise
    return options.model_dump(mode="json", exclude_defaults=True)


def _per_file(raw: str | None) -> dict[str, dict[str, Any]]:
    if raw is None or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"per_file is not valid JSON: {exc.msg}", code="invalid_options"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InvalidRequest(
            "per_file must be a JSON object of file name → options object",
            code="invalid_options",
        )
    return data


def _items(
    sources: list[_Source],
    common: dict[str, Any],
    per_file: dict[str, dict[str, Any]],
    *,
    per_file_limit: int,
    total_limit: int,
) -> list[NewItem]:
    """Blocking: measures every document (limits), then the items to queue."""
    names = {s.name for s in sources}
    unknown = sorted(set(per_file) - names)
    if unknown:
        raise InvalidRequest(
            f"per_file names files that are not in the batch: {', '.join(unknown)[:200]}",
            code="invalid_options",
        )
    budget = [total_limit]
    items = []
    for source in sources:
        options = _options_of(source.name, {**common, **per_file.get(source.name, {})})
        _measure(source, per_file_limit, budget)

        def read(src: _Source = source) -> bytes:
            with src.open() as stream:
                return stream.read()

        items.append(NewItem(source.name, options, source.sha256, source.size, read))
    return items


# -- routes --------------------------------------------------------------------------------

_BINARY = {"type": "string", "format": "binary"}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "array",
                        "items": _BINARY,
                        "description": "the documents (PDF or OFD), one part each; the "
                        "part's file name names the file in the results (names must differ)",
                    },
                    "zip": {
                        **_BINARY,
                        "description": "instead of file parts: one ZIP of the documents; "
                        "each member's path names it",
                    },
                    "options": {
                        "type": "string",
                        "description": "JSON: the options object of POST /v1/sign, for every file",
                        "example": json.dumps(
                            {"seals": [{"kind": "contract", "keyword": "甲方（盖章）"}]},
                            ensure_ascii=False,
                        ),
                    },
                    "per_file": {
                        "type": "string",
                        "description": "JSON: file name → options object; its keys replace "
                        "those of options for that file (e.g. its own reference)",
                        "example": json.dumps(
                            {
                                "HT-2026-0001.pdf": {"reference": "HT-2026-0001"},
                                "HT-2026-0002.pdf": {"reference": "HT-2026-0002"},
                            }
                        ),
                    },
                },
            },
            "encoding": {
                "file": {"contentType": "application/pdf, application/ofd"},
                "zip": {"contentType": "application/zip"},
            },
        }
    },
}


@router.post(
    "",
    status_code=202,
    response_model=BatchAnswer,
    responses={
        202: {
            "description": "queued: the batch, every file queued (the Location header is "
            "where its progress is)",
            "headers": {
                "Location": {"description": "/v1/batches/{id}", "schema": {"type": "string"}},
                "Idempotent-Replayed": {
                    "description": "true when the answer is the batch an earlier request "
                    "with the same Idempotency-Key queued",
                    "schema": {"type": "string"},
                },
            },
        },
        **PROBLEM_RESPONSES,
    },
    summary="Queue many documents for sealing (multipart: file parts or one zip, options, "
    "per_file)",
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def create(
    request: Request,
    c: ContainerDep,
    who: Sealer,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    assert who.uscc is not None
    settings = c.settings
    max_files = settings.batch_max_files
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest(
            "send multipart/form-data with the documents in parts 'file' (or one part 'zip')",
            code="invalid_upload",
        )
    try:
        form = await request.form(max_files=max_files + 1, max_fields=len(_PARTS))
    except StarletteHTTPException as exc:  # Starlette's own limits on the multipart body
        if "files" in str(exc.detail).lower():
            raise _too_many(max_files) from None
        raise InvalidRequest(str(exc.detail), code="invalid_upload") from None
    try:
        extra = sorted({k for k in form if k not in _PARTS})
        if extra:
            raise InvalidRequest(
                f"unknown parts {', '.join(extra)[:200]}: a batch takes "
                "file (repeated) or zip, options, per_file",
                code="invalid_upload",
            )
        files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        zips = [f for f in form.getlist("zip") if isinstance(f, UploadFile)]
        texts = {k: v for k, v in form.items() if isinstance(v, str)}
        if (files and zips) or len(zips) > 1:
            raise InvalidRequest(
                "send the documents as parts 'file' or as one part 'zip', not both",
                code="invalid_upload",
            )
        if len(files) > max_files:
            raise _too_many(max_files)
        common = options_json(texts.get("options"))
        per_file = _per_file(texts.get("per_file"))
        limit = int(settings.max_upload_mb * 1024 * 1024)

        store = batch_store(c)

        def queue() -> tuple[Batch, bool]:
            archive = _open_zip(zips[0].file) if zips else None
            try:
                sources = _zip_sources(archive, max_files) if archive else _named(files)
                if not sources:
                    raise InvalidRequest("the request holds no documents", code="no_documents")
                items = _items(
                    sources,
                    common,
                    per_file,
                    per_file_limit=limit,
                    total_limit=limit * ZIP_TOTAL_FACTOR,
                )
                return store.create(
                    uscc=str(who.uscc),
                    principal=who.key_id,
                    options=common,
                    items=items,
                    idempotency_key=idempotency_key,
                )
            finally:
                if archive is not None:
                    archive.close()

        batch, replayed = await run_in_threadpool(queue)
    finally:
        await form.close()
    worker = getattr(request.app.state, "batch_worker", None)
    if worker is not None and not replayed:
        worker.wake()
    files_json = await run_in_threadpool(lambda: [i.to_json() for i in store.items(batch.id)])
    headers = {"Location": f"/v1/batches/{batch.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(_batch_answer(batch, files_json), status_code=202, headers=headers)


async def _readable(c: Any, who: Principal, batch_id: str) -> Batch:
    batch: Batch = await run_in_threadpool(batch_store(c).get, batch_id)
    authorize(who, batch.uscc, Action.READ_ARCHIVE)
    return batch


@router.get(
    "/{batch_id}",
    summary="A batch's progress and each file's result",
    response_model=BatchAnswer,
    responses=PROBLEM_RESPONSES,
)
async def show(
    batch_id: str, c: ContainerDep, who: Reader, status: ItemStatus | None = None
) -> JSONResponse:
    """``status`` lists only the files in that state (e.g. ``failed``)."""
    batch = await _readable(c, who, batch_id)
    store = batch_store(c)
    files = await run_in_threadpool(
        lambda: [i.to_json() for i in store.items(batch.id, status=status)]
    )
    # answered as built (the shape of BatchAnswer, as POST answers it): a client polling a
    # batch of thousands of files would otherwise have each answer validated again
    return JSONResponse(_batch_answer(batch, files))


@router.get(
    "/{batch_id}/result.zip",
    response_class=StreamingResponse,
    responses=file_answer(
        "application/zip",
        "the sealed files (each under its uploaded name, with the sealed format's extension) "
        "and results.json (the batch and every file's result), streamed",
    ),
    summary="The sealed files of a finished batch as one ZIP",
)
async def result(batch_id: str, c: ContainerDep, who: Reader) -> Response:
    batch = await _readable(c, who, batch_id)
    if batch.status is not BatchStatus.DONE:
        raise BatchNotFinished(
            f"the batch has {batch.total - batch.done - batch.failed} files still to seal; "
            "its result is ready when its status is done"
        )
    chunks = result_zip(batch_store(c), c.archive, batch.id)
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch.id}.zip"'},
    )
