"""A pyHanko signer around a key already loaded in memory.

pyHanko's ``SimpleSigner`` parses the private key again for every signature; this one keeps
the parsed key, so a seal signs many documents at the cost of the signature alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
from pyhanko.sign.general import (
    SigningError,
    as_signing_certificate_v2,
    get_pyca_cryptography_hash,
)
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = ["CachedSigningCertificate", "LoadedKeySigner"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class _FixedSigningCertificateV2(CMSAttributeProvider):
    """signing-certificate-v2 from DER made once.

    pyHanko rebuilds this attribute for every signature, and an asn1crypto value built from
    Python objects is re-encoded on every ``dump()``, at a cost that doubles with each level
    of nesting: measured 15-25 ms per signature.  Loaded from DER, it dumps in microseconds.
    """

    attribute_type = "signing_certificate_v2"

    def __init__(self, der: bytes) -> None:
        self._der = der

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)


class CachedSigningCertificate(Signer):
    """Mixin for signers: the signing-certificate-v2 attribute is encoded once per signer."""

    _scv2_der: bytes | None = None

    def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for provider in super()._signed_attr_providers(*args, **kwargs):
            if isinstance(provider, SigningCertificateV2Provider):
                if self._scv2_der is None:
                    self._scv2_der = as_signing_certificate_v2(provider.signing_cert).dump()
                yield _FixedSigningCertificateV2(self._scv2_der)
            else:
                yield provider


class LoadedKeySigner(CachedSigningCertificate):
    """Signs with a parsed key; exposes the signing operation only."""

    def __init__(
        self,
        key: PrivateKey,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
    ) -> None:
        self.__key = key
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            embed_roots=True,
        )

    def __repr__(self) -> str:
        cert = self.signing_cert
        subject = cert.subject.human_friendly if cert is not None else None
        return f"LoadedKeySigner(subject={subject!r})"

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        return self.sign_raw(data, digest_algorithm)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        key = self.__key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_algo))
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism != "rsassa_pkcs1v15":
            raise SigningError(f"signature mechanism {mechanism} is not supported for seal keys")
        return key.sign(data, PKCS1v15(), hash_algo)
