"""The key custody interface: keys are created and used inside a store, never handed out.

A :class:`KeyStore` creates key pairs, tells their public keys, and hands out pyHanko
:class:`~pyhanko.sign.signers.pdf_cms.Signer` objects bound to a key and a certificate.
Two backends implement it: :mod:`keystore.soft` (files encrypted under a master key) and
:mod:`keystore.pkcs11` (a PKCS#11 token).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # the CLI reads KeyAlgorithm at start-up: no pyHanko import for it
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.signers.pdf_cms import Signer

__all__ = ["KeyAlgorithm", "KeyStore"]


class KeyAlgorithm(enum.Enum):
    """Key types a seal may have. ECDSA P-256 is the default."""

    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    #: SM2 with SM3 (keystore/sm2.py); the soft store holds it, PKCS#11 tokens refuse it
    SM2 = "sm2"

    @property
    def is_rsa(self) -> bool:
        return self in (KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072)

    @property
    def rsa_bits(self) -> int:
        return {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072}[self]


@runtime_checkable
class KeyStore(Protocol):
    """Custody of private keys.

    ``scope`` groups keys (one scope per enterprise; ``pki`` for the CA); ``label`` names a key
    within it.  The returned key reference is opaque to callers and stable across restarts.
    """

    #: short backend name recorded with each key ("soft", "pkcs11")
    backend: str

    def generate(self, scope: str, label: str, algorithm: KeyAlgorithm) -> str:
        """Create a key pair and return its reference. Refuses to overwrite an existing key."""

    def public_key(self, key_ref: str) -> asn1_keys.PublicKeyInfo:
        """The public key of ``key_ref``."""

    def signer(
        self,
        key_ref: str,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
    ) -> Signer:
        """A pyHanko signer using the key; the key stays in the store."""

    def delete(self, key_ref: str) -> None:
        """Destroy a key (used to roll back a failed registration). Missing keys are ignored."""

    def check(self) -> None:
        """Raise :class:`keystore.errors.KeystoreUnavailable` or
        :class:`keystore.errors.MasterKeyError` if the store cannot be used now."""
