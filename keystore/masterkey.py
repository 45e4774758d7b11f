"""The master key that wraps every data key of the soft key store (envelope encryption).

It comes from ``ESEAL_MASTER_KEY`` (base64 of 32 bytes) or from a key file that ``eseal init``
creates with mode 0600.  Whatever goes wrong, the error says only that the master key is
missing or wrong: no key material, no detail that helps guessing.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import MasterKeyError

__all__ = [
    "MasterKey",
    "create_master_key_file",
    "install_master_key_file",
    "load_master_key",
    "parse_master_key",
]

_NONCE = 12
_WRONG = "the master key does not open the key store (wrong ESEAL_MASTER_KEY or key file)"


class MasterKey:
    """AES-256-GCM wrapping with a 32-byte key. ``repr`` never shows the key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise MasterKeyError("the master key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"

    def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        plaintext = self.try_unwrap(blob, context)
        if plaintext is None:
            raise MasterKeyError(_WRONG)
        return plaintext

    def try_unwrap(self, blob: bytes, context: bytes) -> bytes | None:
        """The plaintext, or ``None`` if this key did not wrap ``blob`` (or it was changed)."""
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], context)
        except (InvalidTag, ValueError):
            return None

    def same_as(self, other: MasterKey) -> bool:
        """Whether ``other`` is the same key, told by a round trip (the key is never compared
        or exposed directly)."""
        return (
            other.try_unwrap(self.wrap(b"probe", b"eseal-same-key"), b"eseal-same-key") is not None
        )


def parse_master_key(data: bytes | str) -> bytes:
    """The key bytes of base64 text; the error says nothing about the content."""
    try:
        text = data.decode("ascii") if isinstance(data, bytes) else data
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise MasterKeyError("the master key is not valid base64 of 32 bytes") from None


def load_master_key(env_value: str | None, key_file: Path) -> MasterKey:
    """The master key from the environment value if given, else from ``key_file``."""
    if env_value:
        return MasterKey(parse_master_key(env_value))
    try:
        return MasterKey(parse_master_key(key_file.read_bytes()))
    except FileNotFoundError:
        raise MasterKeyError(
            "no master key: set ESEAL_MASTER_KEY or run 'eseal init' to create the key file"
        ) from None


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install_master_key_file(key_file: Path, key: bytes) -> None:
    """Replace ``key_file`` with ``key`` atomically (mode 0600): a crash leaves the old file
    or the new one, never a mix."""
    MasterKey(key)  # refuses anything but 32 bytes
    tmp = key_file.with_name(f".{key_file.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, base64.b64encode(key) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, key_file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(key_file.parent)


def create_master_key_file(key_file: Path) -> None:
    """Create a new random master key file with mode 0600; refuse to overwrite one."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    data = base64.b64encode(secrets.token_bytes(32)) + b"\n"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
