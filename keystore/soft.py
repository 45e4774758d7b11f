"""The embedded key store: private keys in files, encrypted under per-scope data keys.

Layout under the store directory::

    master.check           a known text wrapped by the master key (tells a wrong key early)
    <scope>/dek.bin        the scope's data key, AES-256-GCM-wrapped by the master key
    <scope>/<label>.key    a PKCS#8 private key, AES-256-GCM-encrypted by the data key

Only ``master.check`` and the ``dek.bin`` files depend on the master key, so rotating it
(:mod:`keystore.rotation`) re-wraps those and leaves the private key files alone.

Each ciphertext is bound to its place by the GCM associated data (scope, key reference), so a
file copied to another name does not decrypt.  Nothing private is ever written in plaintext.
Decrypted keys are kept in memory so a seal does not re-parse its key for every document.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import threading
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyhanko.sign.signers.pdf_cms import Signer

from . import sm2
from .base import KeyAlgorithm
from .errors import AlgorithmNotSupportedByKeystore, KeystoreError, MasterKeyError
from .masterkey import MasterKey
from .signers import LoadedKeySigner, PrivateKey

__all__ = ["SoftKeyStore", "master_wrapped_files"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CHECK_PLAINTEXT = b"eseal master key check v1"
_CHECK_FILE = "master.check"
_CHECK_CONTEXT = b"eseal-check"
_DEK_FILE = "dek.bin"


def _dek_context(scope: str) -> bytes:
    return b"eseal-dek:" + scope.encode()


def master_wrapped_files(directory: Path) -> list[tuple[Path, bytes]]:
    """Every file of the store at ``directory`` that the master key wraps, with its GCM
    associated data: each scope's data key, then ``master.check`` last.

    Master-key rotation re-wraps exactly these; the private key files stay as they are.
    """
    check = directory / _CHECK_FILE
    if not check.is_file():
        raise MasterKeyError("the key store is not initialised: run 'eseal init'")
    files = [
        (scope / _DEK_FILE, _dek_context(scope.name))
        for scope in sorted(directory.iterdir())
        if scope.is_dir() and _NAME.match(scope.name) and (scope / _DEK_FILE).is_file()
    ]
    return [*files, (check, _CHECK_CONTEXT)]


def _write_new(path: Path, data: bytes) -> None:
    """Write a file atomically with mode 0600, refusing to replace an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if ``path`` exists: no silent overwrite
    except FileExistsError:
        raise KeystoreError(f"key {path.stem!r} exists already", code="key_exists") from None
    finally:
        tmp.unlink()


class SoftKeyStore:
    """Key custody in encrypted files; see the module docstring."""

    backend = "soft"

    def __init__(self, directory: Path, master_key: MasterKey) -> None:
        self._dir = directory
        self._master = master_key
        self._lock = threading.Lock()
        self._deks: dict[str, bytes] = {}
        self._keys: dict[str, PrivateKey | sm2.Sm2PrivateKey] = {}

    # -- set-up ---------------------------------------------------------------------------

    def initialise(self) -> None:
        """Create the store directory and the master-key check file (once)."""
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        check = self._dir / _CHECK_FILE
        if not check.exists():
            _write_new(check, self._master.wrap(_CHECK_PLAINTEXT, _CHECK_CONTEXT))

    def check(self) -> None:
        try:
            blob = (self._dir / _CHECK_FILE).read_bytes()
        except FileNotFoundError:
            raise MasterKeyError("the key store is not initialised: run 'eseal init'") from None
        if self._master.unwrap(blob, _CHECK_CONTEXT) != _CHECK_PLAINTEXT:
            raise MasterKeyError("the master key does not open the key store")

    # -- KeyStore -------------------------------------------------------------------------

    def generate(self, scope: str, label: str, algorithm: KeyAlgorithm) -> str:
        key_ref = self._ref(scope, label)
        key: PrivateKey | sm2.Sm2PrivateKey
        if algorithm is KeyAlgorithm.SM2:
            key = sm2.Sm2PrivateKey.generate()
            der = key.to_pkcs8()
        else:
            if algorithm is KeyAlgorithm.EC_P256:
                key = ec.generate_private_key(ec.SECP256R1())
            else:
                key = rsa.generate_private_key(public_exponent=65537, key_size=algorithm.rsa_bits)
            der = key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        dek = self._dek(scope, create=True)
        nonce = secrets.token_bytes(12)
        blob = nonce + AESGCM(dek).encrypt(nonce, der, b"eseal-key:" + key_ref.encode())
        _write_new(self._key_path(scope, label), blob)
        with self._lock:
            self._keys[key_ref] = key
        return key_ref

    def public_key(self, key_ref: str) -> asn1_keys.PublicKeyInfo:
        key = self._load(key_ref)
        if isinstance(key, sm2.Sm2PrivateKey):
            return key.public.spki()
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return asn1_keys.PublicKeyInfo.load(der)

    def signer(
        self,
        key_ref: str,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
    ) -> Signer:
        key = self._load(key_ref)
        if isinstance(key, sm2.Sm2PrivateKey):
            raise AlgorithmNotSupportedByKeystore(
                "PDF signing with SM2 keys is not available yet", code="sm2_pdf_not_supported"
            )
        return LoadedKeySigner(key, certificate, chain)

    def sm2_signer(self, key_ref: str) -> sm2.Sm2Signer:
        """A signer for an SM2 key (see :mod:`keystore.sm2`); other keys are refused."""
        key = self._load(key_ref)
        if not isinstance(key, sm2.Sm2PrivateKey):
            raise KeystoreError(f"key {key_ref!r} is not an SM2 key", code="key_not_sm2")
        return sm2.Sm2Signer(key)

    def delete(self, key_ref: str) -> None:
        scope, label = self._split(key_ref)
        with self._lock:
            self._keys.pop(key_ref, None)
        with contextlib.suppress(FileNotFoundError):
            self._key_path(scope, label).unlink()

    def delete_scope(self, scope: str) -> None:
        """Remove a whole scope (its data key and keys): a failed registration's rollback."""
        self._check_name(scope)
        with self._lock:
            self._deks.pop(scope, None)
            for ref in [r for r in self._keys if r.startswith(f"soft:{scope}/")]:
                del self._keys[ref]
        shutil.rmtree(self._dir / scope, ignore_errors=True)

    # -- inside the keystore package only (the CA signs certificates with these) ---------

    def private_key_for_pki(self, key_ref: str) -> PrivateKey:
        """The parsed key, for :mod:`keystore.pki` only; never leaves the keystore package."""
        key = self._load(key_ref)
        if isinstance(key, sm2.Sm2PrivateKey):
            raise KeystoreError(f"key {key_ref!r} is an SM2 key", code="key_is_sm2")
        return key

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> None:
        if not _NAME.match(name):
            raise KeystoreError(f"invalid key scope or label {name!r}", code="invalid_key_name")

    def _ref(self, scope: str, label: str) -> str:
        self._check_name(scope)
        self._check_name(label)
        return f"soft:{scope}/{label}"

    def _split(self, key_ref: str) -> tuple[str, str]:
        if not key_ref.startswith("soft:") or key_ref.count("/") != 1:
            raise KeystoreError(f"not a soft key reference: {key_ref!r}", code="invalid_key_ref")
        scope, label = key_ref[5:].split("/")
        self._check_name(scope)
        self._check_name(label)
        return scope, label

    def _key_path(self, scope: str, label: str) -> Path:
        return self._dir / scope / f"{label}.key"

    def _dek(self, scope: str, *, create: bool) -> bytes:
        with self._lock:
            if scope in self._deks:
                return self._deks[scope]
        path = self._dir / scope / _DEK_FILE
        context = _dek_context(scope)
        try:
            dek = self._master.unwrap(path.read_bytes(), context)
        except FileNotFoundError:
            if not create:
                raise KeystoreError(f"no keys in scope {scope!r}", code="key_not_found") from None
            dek = secrets.token_bytes(32)
            try:
                _write_new(path, self._master.wrap(dek, context))
            except KeystoreError:  # created concurrently: use the one on disk
                dek = self._master.unwrap(path.read_bytes(), context)
        with self._lock:
            self._deks[scope] = dek
        return dek

    def _load(self, key_ref: str) -> PrivateKey | sm2.Sm2PrivateKey:
        with self._lock:
            key = self._keys.get(key_ref)
        if key is not None:
            return key
        scope, label = self._split(key_ref)
        try:
            blob = self._key_path(scope, label).read_bytes()
        except FileNotFoundError:
            raise KeystoreError(f"key {key_ref!r} not found", code="key_not_found") from None
        dek = self._dek(scope, create=False)
        try:
            der = AESGCM(dek).decrypt(blob[:12], blob[12:], b"eseal-key:" + key_ref.encode())
        except Exception:
            raise MasterKeyError(
                "a key file does not decrypt (wrong master key or tampered)"
            ) from None
        loaded: object
        if sm2.is_sm2_pkcs8(der):
            loaded = sm2.Sm2PrivateKey.from_pkcs8(der)
        else:
            loaded = serialization.load_der_private_key(der, password=None)
        if not isinstance(
            loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | sm2.Sm2PrivateKey
        ):
            raise KeystoreError(f"unsupported key type in {key_ref!r}", code="key_unsupported")
        with self._lock:
            self._keys[key_ref] = loaded
        return loaded
