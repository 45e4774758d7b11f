"""The archive in a local directory: the embedded default.

Writes are atomic and never overwrite: the bytes go to a temporary file in ``.tmp/`` under the
root, which is flushed and ``fsync``-ed, then hard-linked to its final name (``link`` fails if
the name exists, unlike ``rename``), unlinked from ``.tmp/``, and the directory is ``fsync``-ed.
A crash leaves either no object or the whole object, plus at worst a stale temporary file.
Filesystems without hard links fall back to an existence check and ``rename``.

Files are made read-only (0444).  A directory cannot enforce retention: use S3 with object
lock for that.  There are no version ids, and the SHA-256 lives in the metadata row only.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from .errors import ArchiveExists, ArchiveNotFound, ArchiveUnavailable, PresignUnsupported
from .model import parse_object_key
from .store import CHUNK_SIZE, ObjectInfo, RawReader

__all__ = ["LocalObjectStore"]

_TMP = ".tmp"
#: errors of ``link`` that mean "this filesystem has no hard links"
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


def _unavailable(action: str, err: OSError) -> ArchiveUnavailable:
    reason = err.strerror or type(err).__name__
    return ArchiveUnavailable(f"the archive directory cannot {action}: {reason}")


def _remove_temp(tmp: Path) -> None:
    """Remove a write's temporary file, if it is there.

    Any error is left alone: where ``.tmp`` (or the root) is no directory, unlinking raises
    ``NotADirectoryError``, and that must not replace the write's own outcome (the
    ``archive_unavailable`` it raised, or the object it published).  At worst a stale
    temporary file stays, as after a crash.
    """
    with contextlib.suppress(OSError):
        tmp.unlink()


class LocalObjectStore:
    """Objects as files under ``root``, at ``root/<key>``."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def versioned(self) -> bool:
        return False

    def start(self) -> None:
        """Create the directory (and its ``.tmp``) if missing."""
        try:
            (self.root / _TMP).mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as err:
            raise _unavailable("be created", err) from err

    def _path(self, key: str) -> Path:
        if parse_object_key(key) is None:
            raise ValueError(f"not an archive object key: {key!r}")
        return self.root / key

    # -- writing ---------------------------------------------------------------------------

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
        final = self._path(key)
        tmp = self.root / _TMP / f"{archive_id}.{secrets.token_hex(6)}.part"
        try:
            if final.exists():
                raise ArchiveExists(f"archive object {key} exists; the archive never overwrites")
            created = self._make_dirs(final.parent)
            written = self._write_temp(tmp, data)
            if written != size:
                raise ArchiveUnavailable(
                    f"archive write incomplete: {written} of {size} bytes were given"
                )
            self._publish(tmp, final, key)
            _fsync_dir(final.parent)
            for directory in created:
                _fsync_dir(directory.parent)
        except OSError as err:
            raise _unavailable("be written", err) from err
        finally:
            _remove_temp(tmp)
        info = self.stat(key)
        if info is None or info.size != size:
            raise ArchiveUnavailable(f"archive object {key} could not be confirmed after writing")
        return info

    def _make_dirs(self, directory: Path) -> list[Path]:
        """Create ``directory`` and missing parents under the root; the ones created."""
        created: list[Path] = []
        current = directory
        while not current.exists() and current != self.root:
            created.append(current)
            current = current.parent
        for path in reversed(created):
            with contextlib.suppress(FileExistsError):  # a concurrent writer made it
                path.mkdir(mode=0o750)
        return created

    @staticmethod
    def _write_temp(tmp: Path, data: BinaryIO) -> int:
        written = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while chunk := data.read(CHUNK_SIZE):
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                written += len(chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o444)
        return written

    @staticmethod
    def _publish(tmp: Path, final: Path, key: str) -> None:
        try:
            os.link(tmp, final)  # atomic, and refuses an existing name
        except FileExistsError:
            raise ArchiveExists(
                f"archive object {key} exists; the archive never overwrites"
            ) from None
        except OSError as err:
            if err.errno not in _NO_LINKS:
                raise
            # no hard links here: rename is atomic but would replace, so check first
            if final.exists():
                raise ArchiveExists(
                    f"archive object {key} exists; the archive never overwrites"
                ) from None
            os.rename(tmp, final)

    def discard(self, key: str, version_id: str | None) -> str:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            raise _unavailable("remove an orphaned file", err) from err
        with contextlib.suppress(OSError):
            _fsync_dir(path.parent)
        return "removed"

    def is_quarantined(self, key: str, version_id: str | None) -> bool:
        return False

    # -- reading ---------------------------------------------------------------------------

    def open(self, key: str, version_id: str | None) -> tuple[RawReader, ObjectInfo]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise ArchiveNotFound(f"archive object {key} does not exist") from None
        except OSError as err:
            raise _unavailable("be read", err) from err
        try:
            st = os.fstat(handle.fileno())
        except OSError as err:
            handle.close()
            raise _unavailable("be read", err) from err
        return _Reader(handle), ObjectInfo(key, st.st_size, _mtime(st.st_mtime))

    def stat(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _unavailable("be read", err) from err
        return ObjectInfo(key, st.st_size, _mtime(st.st_mtime))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Files with eseal's key layout, in key order (every part has a fixed width)."""
        try:
            yield from self._walk(self.root, "", prefix)
        except OSError as err:
            raise _unavailable("be listed", err) from err

    def _walk(self, directory: Path, rel: str, prefix: str) -> Iterator[ObjectInfo]:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except FileNotFoundError:
            return
        for entry in entries:
            key = f"{rel}{entry.name}"
            if entry.name == _TMP and not rel:
                continue
            if entry.is_dir(follow_symlinks=False):
                sub = key + "/"
                if sub.startswith(prefix) or prefix.startswith(sub):
                    yield from self._walk(Path(entry.path), sub, prefix)
            elif (
                entry.is_file(follow_symlinks=False)
                and key.startswith(prefix)
                and parse_object_key(key) is not None
            ):
                st = entry.stat(follow_symlinks=False)
                yield ObjectInfo(key, st.st_size, _mtime(st.st_mtime))

    def presigned_url(
        self, key: str, version_id: str | None, expires: timedelta, filename: str
    ) -> str:
        raise PresignUnsupported("presigned download URLs need the S3 archive")

    def ping(self) -> None:
        if not os.access(self.root / _TMP, os.W_OK | os.X_OK):
            raise ArchiveUnavailable("the archive directory is missing or not writable")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "versioning": False, "object_lock": None}

    def stale_temporaries(self, older_than: timedelta) -> builtins.list[Path]:
        """Temporary files left by interrupted writes, older than ``older_than``."""
        limit = datetime.now(UTC) - older_than
        try:
            return [
                p
                for p in (self.root / _TMP).iterdir()
                if p.is_file() and _mtime(p.stat().st_mtime) < limit
            ]
        except FileNotFoundError:
            return []


class _Reader:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._handle.read(size)
        except OSError as err:
            raise _unavailable("be read", err) from err

    def close(self) -> None:
        self._handle.close()


def _mtime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
