"""The signers of seals' keys, made once per key and certificate and then shared.

:class:`seals.service.SealService` decides whether a seal may be used
(:meth:`~seals.service.SealService.signer_for`); this module makes its signer: the key in the
store, the seal certificate, and the chain a signature carries (our CA's, or the one imported
with a certificate from another CA).
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers.pdf_cms import Signer

from keystore import csr
from keystore.asn1_shared import fully_parsed
from keystore.base import KeyStore

from .certificates import SealCas
from .model import Seal

__all__ = ["SealSigners"]


class SealSigners:
    """A cache of signers, keyed by the seal's key and certificate serial: a re-issue or an
    imported certificate changes the serial, and so gets a new signer."""

    def __init__(self, keystore: KeyStore, cas: SealCas) -> None:
        self._keys = keystore
        self._cas = cas
        self._signers: dict[tuple[str, int], Signer] = {}

    def signer(self, seal: Seal) -> Signer:
        """The signer of the seal's international key and certificate."""
        cache_key = (seal.key_ref, seal.serial)
        signer = self._signers.get(cache_key)
        if signer is None:
            cert = fully_parsed(
                asn1_x509.Certificate.load(  # the cached signer is shared
                    x509.load_pem_x509_certificate(seal.certificate_pem.encode()).public_bytes(
                        serialization.Encoding.DER
                    )
                )
            )
            signer = self._keys.signer(seal.key_ref, cert, self._chain_for_signing(seal))
            self._signers[cache_key] = signer
        return signer

    def _chain_for_signing(self, seal: Seal) -> list[asn1_x509.Certificate]:
        """The chain carried in a signature: our CA's, or the imported certificate's."""
        if self._cas.issued_here(seal.certificate_pem):
            return self._cas.pki.chain()
        return [fully_parsed(c) for c in csr.load_certificates(seal.chain_pem, "chain")]
