"""A pyHanko signer around a key already loaded in memory.

pyHanko's ``SimpleSigner`` parses the private key again for every signature; this one keeps
the parsed key, so a seal signs many documents at the cost of the signature alone.

It also keeps the DER of what every signature of the seal carries (its certificates, its
signer identifier, the signing-certificate-v2 attribute, the algorithm identifiers) and joins
a PAdES signature's CMS from those bytes and the few that change (the document digest, the
signature value, the timestamp token): the bytes pyHanko would write through asn1crypto, which
re-serialises the certificates for every signature (``tests/keystore/test_fast_path_cms.py``
compares the two).  Anything but a plain PAdES signature is left to pyHanko.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
from pyhanko.sign.general import (
    SigningError,
    as_signing_certificate_v2,
    get_pyca_cryptography_hash,
    simple_cms_attribute,
)
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from keystore import der

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


_OID_SIGNED_DATA = cms.ContentType("signed_data").dump()
_ENCAP_DATA = der.sequence(cms.ContentType("data").dump())  # detached: no content
_ATTR_CONTENT_TYPE = simple_cms_attribute("content_type", "data").dump()
_OID_MESSAGE_DIGEST = cms.CMSAttributeType("message_digest").dump()
_OID_TIMESTAMP_TOKEN = cms.CMSAttributeType("signature_time_stamp_token").dump()
_VERSION_1 = der.integer(1)


@dataclass
class _CmsEncodings:
    """The DER of everything a signer's PAdES signatures share, made at first use."""

    signer_id: bytes
    #: certificates [0] IMPLICIT CertificateSet, as pyHanko makes it
    certificates: bytes
    signing_certificate_v2: bytes
    _per_digest: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)

    @classmethod
    def of(cls, signer: Signer, scv2_der: bytes) -> _CmsEncodings:
        cert = signer.signing_cert
        assert cert is not None
        registry = list(signer.cert_registry or ())
        if not signer.embed_roots:
            registry = [c for c in registry if c.self_signed == "no"]
        certificates = [c.dump() for c in registry]
        certificates.append(cert.dump())
        return cls(
            signer_id=cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number}
            ).dump(),
            certificates=der.context(0, b"".join(sorted(certificates))),
            signing_certificate_v2=simple_cms_attribute(
                "signing_certificate_v2", tsp.SigningCertificateV2.load(scv2_der)
            ).dump(),
        )

    def algorithms(self, signer: Signer, digest_algorithm: str) -> tuple[bytes, bytes]:
        """The digest AlgorithmIdentifier and the signature algorithm of ``digest_algorithm``."""
        found = self._per_digest.get(digest_algorithm)
        if found is None:
            found = (
                algos.DigestAlgorithm({"algorithm": digest_algorithm}).dump(),
                signer.get_signature_mechanism_for_digest(digest_algorithm).dump(),
            )
            self._per_digest[digest_algorithm] = found
        return found


def _plain_pades(settings: PdfCMSSignedAttributes | None) -> bool:
    """Signed attributes pyHanko's PAdES signature gets no more of than signing-certificate-v2
    (PAdES leaves out signing-time; a CAdES signature policy or commitment adds some)."""
    return settings is None or settings.cades_signed_attrs is None


class LoadedKeySigner(CachedSigningCertificate):
    """Signs with a parsed key; exposes the signing operation only."""

    _cms: _CmsEncodings | None = None

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

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: Any = None,
    ) -> cms.ContentInfo:
        """A detached CMS signature of ``data_digest``; a plain PAdES one (what sealing makes)
        is joined from cached encodings, anything else is pyHanko's."""
        if not (
            use_pades
            and is_pdf_sig
            and not dry_run
            and encap_content_info is None
            and _plain_pades(signed_attr_settings)
            and self.signed_attr_prov_spec is None
            and self.unsigned_attr_prov_spec is None
            and not self.attribute_certs
        ):
            result: cms.ContentInfo = await super().async_sign(
                data_digest,
                digest_algorithm,
                dry_run=dry_run,
                use_pades=use_pades,
                timestamper=timestamper,
                signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info,
            )
            return result
        return cms.ContentInfo.load(
            await self.pades_cms(data_digest, digest_algorithm, timestamper)
        )

    async def pades_cms(
        self, data_digest: bytes, digest_algorithm: str, timestamper: TimeStamper | None
    ) -> bytes:
        """The DER of the CMS pyHanko's ``async_sign(..., use_pades=True)`` makes: signed
        content-type, message-digest and signing-certificate-v2; with ``timestamper``, a
        signature timestamp token over the signature value."""
        digest_algorithm = digest_algorithm.lower()
        self._check_digest_algorithm(digest_algorithm)
        enc = self._cms
        if enc is None:
            cert = self.signing_cert
            assert cert is not None
            if self._scv2_der is None:
                self._scv2_der = as_signing_certificate_v2(cert).dump()
            enc = self._cms = _CmsEncodings.of(self, self._scv2_der)
        digest_id, signature_id = enc.algorithms(self, digest_algorithm)
        attributes = [
            _ATTR_CONTENT_TYPE,
            der.sequence(_OID_MESSAGE_DIGEST, der.set_of(der.octet_string(data_digest))),
            enc.signing_certificate_v2,
        ]
        signature = self.sign_raw(der.set_of(*attributes), digest_algorithm)
        parts = [
            _VERSION_1,
            enc.signer_id,
            digest_id,
            der.context(0, b"".join(sorted(attributes))),  # signedAttrs [0] IMPLICIT
            signature_id,
            der.octet_string(signature),
        ]
        if timestamper is not None:
            md = hashes.Hash(get_pyca_cryptography_hash(digest_algorithm))
            md.update(signature)
            token = await timestamper.async_timestamp(md.finalize(), digest_algorithm)
            attribute = der.sequence(_OID_TIMESTAMP_TOKEN, der.set_of(token.dump()))
            parts.append(der.context(1, attribute))  # unsignedAttrs [1] IMPLICIT
        signed_data = der.sequence(
            _VERSION_1,
            der.set_of(digest_id),
            _ENCAP_DATA,
            enc.certificates,
            der.set_of(der.sequence(*parts)),
        )
        return der.sequence(_OID_SIGNED_DATA, der.context(0, signed_data))

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        key = self.__key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_algo))
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism != "rsassa_pkcs1v15":
            raise SigningError(f"signature mechanism {mechanism} is not supported for seal keys")
        return key.sign(data, PKCS1v15(), hash_algo)
