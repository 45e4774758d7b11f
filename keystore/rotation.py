"""Master-key rotation of the soft key store: re-wrap the data keys, not the private keys.

The master key wraps only each scope's ``dek.bin`` and ``master.check``
(:func:`keystore.soft.master_wrapped_files`); the private key files are encrypted by the data
keys and stay untouched.  Rotation runs in two phases, so a crash at any point is finished by
running it again with the same two keys:

1. :func:`stage` writes every re-wrapped file beside the old one (``dek.bin.new``), fsyncs it
   and reads it back under the new key;
2. :func:`commit` renames each ``.new`` file over its original (the data keys first,
   ``master.check`` last) and fsyncs the directories.

Which key opens which file is told by AES-GCM itself (a wrong key fails authentication), so a
re-run skips files already under the new key and rewrites the ones still under the current key.
Stop every process that uses the store first: a running server keeps the data keys it has
opened but cannot open a newly re-wrapped one with its old master key.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ErrorKind, KeystoreError, MasterKeyError
from .masterkey import MasterKey, fsync_dir, parse_master_key
from .soft import master_wrapped_files

__all__ = [
    "RotationRefused",
    "RotationReport",
    "commit",
    "read_new_master_key",
    "rotate_master_key",
    "stage",
]

NEW_SUFFIX = ".new"
_OPAQUE = "the current master key does not open the key store"


class RotationRefused(KeystoreError):
    """The new key is missing, malformed or the current one; nothing was changed."""

    code = "rotation_refused"
    kind = ErrorKind.INVALID
    title = "Master-key rotation refused"


def read_new_master_key(*, file: Path | None = None, env_var: str | None = None) -> bytes:
    """The 32 bytes of the new master key, from a file or an environment variable.

    Never from the command line, where the process list shows it.  Errors name the file or the
    variable, never the content or what was wrong with it.
    """
    if (file is None) == (env_var is None):
        raise ValueError("give exactly one of file and env_var")
    if file is not None:
        where = f"the new master key file {file}"
        try:
            raw: bytes | str = file.read_bytes()
        except OSError:
            raise RotationRefused(
                f"{where} cannot be read", code="new_master_key_invalid"
            ) from None
    else:
        where = f"the environment variable {env_var}"
        raw = os.environ.get(str(env_var), "")
        if not raw.strip():
            raise RotationRefused(f"{where} is not set", code="new_master_key_invalid")
    try:
        key = parse_master_key(raw)
    except MasterKeyError:
        key = b""
    if len(key) != 32:
        raise RotationRefused(
            f"{where} does not hold base64 of 32 bytes", code="new_master_key_invalid"
        )
    return key


@dataclass(frozen=True)
class RotationReport:
    files: int  #: master-wrapped files in the store
    rewrapped: int  #: re-wrapped by this run
    already_new: int  #: found under the new key already (left by an interrupted run)

    def to_json(self) -> dict[str, int]:
        return {"files": self.files, "rewrapped": self.rewrapped, "already_new": self.already_new}


def _new_path(path: Path) -> Path:
    return path.with_name(path.name + NEW_SUFFIX)


def _fsync_dirs(paths: list[Path]) -> None:
    for directory in sorted({p.parent for p in paths}):
        fsync_dir(directory)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One rotation at a time (a lock on the store directory itself)."""
    if not directory.is_dir():
        raise MasterKeyError("the key store is not initialised: run 'eseal init'")
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KeystoreError(
                "another master-key rotation is running on this key store",
                code="rotation_in_progress",
            ) from None
        yield
    finally:
        os.close(fd)


def stage(directory: Path, current: MasterKey, new: MasterKey) -> tuple[list[Path], int]:
    """Phase 1: write ``<file>.new`` under ``new`` for every file still under ``current``.

    Returns the files to commit, in commit order, and how many are under ``new`` already.
    Refuses, changing nothing, if ``new`` is ``current`` or if a file opens with neither.
    """
    if current.same_as(new):
        raise RotationRefused("the new master key is the current one", code="master_key_unchanged")
    staged: list[tuple[Path, bytes, bytes]] = []
    done: list[Path] = []
    for path, context in master_wrapped_files(directory):
        blob = path.read_bytes()
        plaintext = current.try_unwrap(blob, context)
        if plaintext is not None:
            staged.append((path, context, plaintext))
        elif new.try_unwrap(blob, context) is not None:
            done.append(path)
        else:
            raise MasterKeyError(_OPAQUE)
    for path in done:  # a stale .new beside a finished file is only litter
        _new_path(path).unlink(missing_ok=True)
    for path, context, plaintext in staged:
        _write_synced(_new_path(path), new.wrap(plaintext, context))
        if new.try_unwrap(_new_path(path).read_bytes(), context) != plaintext:
            raise KeystoreError(
                "a re-wrapped data key does not read back; nothing was renamed",
                code="rotation_failed",
            )
    targets = [path for path, _, _ in staged]
    _fsync_dirs(targets)
    return targets, len(done)


def commit(targets: list[Path]) -> None:
    """Phase 2: rename each staged ``<file>.new`` over ``<file>``, in order, and fsync."""
    for path in targets:
        os.replace(_new_path(path), path)
    _fsync_dirs(targets)


def rotate_master_key(directory: Path, current: MasterKey, new: MasterKey) -> RotationReport:
    """Re-wrap the store at ``directory`` from ``current`` to ``new``; safe to re-run."""
    with _exclusive(directory):
        targets, already = stage(directory, current, new)
        commit(targets)
        files = master_wrapped_files(directory)
        for path, context in files:  # everything must open with the new key now
            if new.try_unwrap(path.read_bytes(), context) is None:
                raise KeystoreError(
                    "a re-wrapped file does not open with the new master key",
                    code="rotation_failed",
                )
    return RotationReport(files=len(files), rewrapped=len(targets), already_new=already)
