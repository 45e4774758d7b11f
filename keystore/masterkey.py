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

__all__ = ["MasterKey", "create_master_key_file", "load_master_key"]

_NONCE = 12


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
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], context)
        except (InvalidTag, ValueError):
            raise MasterKeyError(
                "the master key does not open the key store (wrong ESEAL_MASTER_KEY or key file)"
            ) from None


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError("the master key is not valid base64 of 32 bytes") from None


def load_master_key(env_value: str | None, key_file: Path) -> MasterKey:
    """The master key from the environment value if given, else from ``key_file``."""
    if env_value:
        return MasterKey(_decode(env_value))
    try:
        return MasterKey(_decode(key_file.read_text()))
    except FileNotFoundError:
        raise MasterKeyError(
            "no master key: set ESEAL_MASTER_KEY or run 'eseal init' to create the key file"
        ) from None


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
