"""The key that signs the registry's change feed (issue 19), and the check a front makes.

An ECDSA P-256 key in the PKI's scope of the soft key store, certified by the seal-issuing CA
with the feed's own extended key usage, so it signs nothing else and a front can tell it from
every other certificate of the hierarchy.  ``eseal init`` makes it; a data dir made before it
gets it at its next start (an exclusive lock keeps two processes from making two).

Signatures are detached: DER ECDSA-with-SHA256 over the exact bytes a front receives.
"""

from __future__ import annotations

import fcntl
import json
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ObjectIdentifier

from .base import KeyAlgorithm
from .errors import KeystoreError
from .pki import SCOPE, InternalPki
from .soft import SoftKeyStore

__all__ = ["FEED_USAGE", "FeedKey", "FeedSignatureInvalid", "verify_feed_signature"]

#: the extended key usage of the feed's certificate (under eseal's private arc)
FEED_USAGE = ObjectIdentifier("1.3.6.1.4.1.59999.19.1")
_FILE = "feed.json"
_CERT = "feed.pem"


class FeedSignatureInvalid(KeystoreError):
    """A feed batch whose signature does not verify against the pinned certificate."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="feed_signature_invalid")


class FeedKey:
    """The centre's feed key: made once, then loaded."""

    def __init__(self, store: SoftKeyStore, pki: InternalPki, directory: Path) -> None:
        self._store = store
        self._pki = pki
        self._dir = directory
        self._ref: str | None = None
        self._cert: x509.Certificate | None = None

    def ensure(self) -> bool:
        """Load the key, making it first if this data dir has none; True if it was made."""
        self._dir.mkdir(parents=True, exist_ok=True)
        with open(self._dir / "feed.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                meta = self._dir / _FILE
                if meta.exists():
                    self._ref = json.loads(meta.read_text())["key"]
                    self._cert = x509.load_pem_x509_certificate((self._dir / _CERT).read_bytes())
                    return False
                ref = self._store.generate(
                    SCOPE, f"feed-{secrets.token_hex(6)}", KeyAlgorithm.EC_P256
                )
                public = self._store.private_key_for_pki(ref).public_key()
                cert = self._pki.issue_service_certificate(
                    public, f"{_organisation(self._pki)} registry feed", usage=FEED_USAGE
                )
                (self._dir / _CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
                (self._dir / (_FILE + ".new")).write_text(json.dumps({"key": ref}))
                (self._dir / (_FILE + ".new")).replace(meta)
                self._ref, self._cert = ref, cert
                return True
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    @property
    def certificate_pem(self) -> str:
        if self._cert is None:
            raise KeystoreError("the feed key is not loaded", code="feed_key_missing")
        return self._cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, data: bytes) -> bytes:
        """DER ECDSA-with-SHA256 signature of ``data``."""
        if self._ref is None:
            raise KeystoreError("the feed key is not loaded", code="feed_key_missing")
        key = self._store.private_key_for_pki(self._ref)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeystoreError("the feed key is not an ECDSA key", code="feed_key_invalid")
        return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _organisation(pki: InternalPki) -> str:
    found = pki.root.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return str(found[0].value) if found else "eseal"


def verify_feed_signature(certificate_pem: str, data: bytes, signature: bytes) -> None:
    """Raise :class:`FeedSignatureInvalid` unless ``signature`` is the feed certificate's
    key's over ``data`` and the certificate is a feed certificate."""
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        raise FeedSignatureInvalid("the pinned feed certificate cannot be read") from None
    if FEED_USAGE not in usage:
        raise FeedSignatureInvalid("the pinned certificate is not a registry feed certificate")
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise FeedSignatureInvalid("the feed certificate's key is not an ECDSA key")
    try:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise FeedSignatureInvalid("the feed batch's signature does not verify") from None
