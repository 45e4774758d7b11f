"""What an object store must do for the archive, and the reader that checks what it returns.

Two stores implement :class:`ObjectStore`: :class:`storage.archive.local.LocalObjectStore`
(a directory, the embedded default) and :class:`storage.archive.s3.S3ObjectStore` (MinIO or
any S3-compatible service through the ``minio`` client).  Every method blocks; callers on an
event loop run them in a worker thread (``anyio.to_thread.run_sync``,
``starlette.concurrency.run_in_threadpool``, or a sync iterator in a ``StreamingResponse``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, BinaryIO, Protocol, runtime_checkable

from .errors import ArchiveCorrupt

__all__ = [
    "CHUNK_SIZE",
    "ObjectInfo",
    "ObjectStore",
    "RawReader",
    "VerifiedReader",
]

#: read and write size of streams (64 KiB)
CHUNK_SIZE = 64 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object (one version of it, where the store keeps versions)."""

    key: str
    size: int
    last_modified: datetime
    version_id: str | None = None
    #: the SHA-256 the object carries as metadata (``None`` in listings: not returned there)
    sha256: str | None = None
    #: the archive id the object carries as metadata
    archive_id: str | None = None


class RawReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@runtime_checkable
class ObjectStore(Protocol):
    """A place for immutable objects.  Errors: the ``storage.archive.errors`` classes."""

    #: ``local`` or ``s3``
    name: str

    @property
    def versioned(self) -> bool:
        """Whether objects get version ids (and an overwrite keeps the old version)."""
        ...

    def put(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        *,
        sha256: str,
        md5: str,
        archive_id: str,
        uscc: str,
    ) -> ObjectInfo:
        """Store ``size`` bytes from ``data`` under ``key`` and confirm it is there.

        Refuses (``ArchiveExists``) if ``key`` exists.  Returns only once the store has the
        whole object durably; ``ArchiveUnavailable`` otherwise.
        """
        ...

    def open(self, key: str, version_id: str | None) -> tuple[RawReader, ObjectInfo]:
        """A raw stream of the object and what the store says about it; ``ArchiveNotFound``."""
        ...

    def stat(self, key: str, version_id: str | None = None) -> ObjectInfo | None: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object (every version) under ``prefix``, in bytewise key order."""
        ...

    def discard(self, key: str, version_id: str | None) -> str:
        """Remove an orphaned object; if retention forbids it, mark it orphaned instead.

        Returns ``"removed"`` or ``"quarantined"``.
        """
        ...

    def is_quarantined(self, key: str, version_id: str | None) -> bool:
        """Whether the object was marked orphaned by :meth:`discard`."""
        ...

    def presigned_url(
        self, key: str, version_id: str | None, expires: timedelta, filename: str
    ) -> str:
        """A time-limited URL that downloads the object; ``PresignUnsupported`` if none."""
        ...

    def ping(self) -> None:
        """Raise ``ArchiveUnavailable`` unless the store answers."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the store is and guarantees (for readiness output and ``archive check``)."""
        ...


class VerifiedReader:
    """A file-like reader that checks the SHA-256 and size of what it passes on.

    It always keeps at least one byte back until the underlying stream has ended and the
    digest and length are confirmed, so a mismatch raises :class:`ArchiveCorrupt` before the
    reader has handed out the complete file: a damaged document is never delivered as a
    whole, good-looking one.  Too many bytes are detected as soon as they arrive.
    """

    def __init__(self, raw: RawReader, *, sha256: str, size: int, archive_id: str) -> None:
        self._raw = raw
        self._expected = sha256
        self._size = size
        self._id = archive_id
        self._digest = hashlib.sha256()
        self._seen = 0
        self._buffer = bytearray()
        self._eof = False
        self._closed = False

    # -- file protocol ---------------------------------------------------------------------

    def read(self, size: int = -1, /) -> bytes:
        if self._closed:
            raise ValueError("read from a closed archive reader")
        if size is None or size < 0:
            self._fill(None)
            out = bytes(self._buffer)
            self._buffer.clear()
            return out
        self._fill(size + 1)  # one byte more than asked: the held-back byte
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._raw.close()

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The content in pieces of at most ``chunk_size`` bytes, verified as above."""
        while True:
            piece = self.read(chunk_size)
            if not piece:
                return
            yield piece

    @property
    def verified(self) -> bool:
        """True once the whole stream was read and matched."""
        return self._eof

    # -- internals -------------------------------------------------------------------------

    def _fill(self, want: int | None) -> None:
        while not self._eof and (want is None or len(self._buffer) < want):
            chunk = self._raw.read(CHUNK_SIZE)
            if not chunk:
                self._finish()
                return
            self._seen += len(chunk)
            if self._seen > self._size:
                raise ArchiveCorrupt(
                    f"archived document {self._id} is longer than recorded ({self._size} bytes)"
                )
            self._digest.update(chunk)
            self._buffer += chunk

    def _finish(self) -> None:
        if self._seen != self._size:
            raise ArchiveCorrupt(
                f"archived document {self._id} is truncated: {self._seen} of {self._size} bytes"
            )
        if self._digest.hexdigest() != self._expected:
            raise ArchiveCorrupt(
                f"archived document {self._id} does not match its SHA-256; it is damaged"
            )
        self._eof = True
