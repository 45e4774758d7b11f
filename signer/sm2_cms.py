"""CMS (PAdES) signatures with SM2 through pyHanko's extension points (DESIGN.md 6).

pyHanko is not forked; SM2 comes in at two places it offers for it:

* **signing**: :class:`Sm2CmsSigner` is a pyHanko :class:`~pyhanko.sign.signers.pdf_cms.Signer`
  whose mechanism is SM2-with-SM3 (``1.2.156.10197.1.501``).  pyHanko then digests the
  document with SM3 (``cryptography`` has it), writes ``digestAlgorithm`` SM3 and
  ``signatureAlgorithm`` SM2-with-SM3 into the SignerInfo, and hands the DER of the signed
  attributes to :meth:`Sm2CmsSigner.async_sign_raw`, which signs them with the key store's
  :class:`keystore.sm2.Sm2Signer` (``SM3(Z || attributes)``, default user id).  The
  signing-certificate-v2 attribute identifies the certificate by its SM3 hash.
* **validation**: :data:`SIGNATURE_VALIDATOR` is a pyhanko-certvalidator
  :class:`~pyhanko_certvalidator.sig_validate.SignatureValidator`; a ``ValidationContext``
  made with ``signature_validator=SIGNATURE_VALIDATOR`` checks SM2 SignerInfos, SM2
  certificate chains, CRLs and OCSP responses, and passes everything else to pyHanko's own
  validator.

The asn1crypto names (``sm3``, ``sm2_sm3``, curve ``sm2p256v1``) and what the mechanism
``sm2_sm3`` means (signature ``sm2``, digest ``sm3``) are registered by :mod:`keystore.sm2`
at its import, which this module triggers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from asn1crypto import algos, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.errors import AlgorithmNotSupported
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from keystore import sm2
from keystore.sm2_pki import check_certificate_key

__all__ = [
    "SIGNATURE_VALIDATOR",
    "SM2_WITH_SM3",
    "Sm2CmsSigner",
    "Sm2SignatureValidator",
    "is_sm2_mechanism",
    "is_sm2_signer",
    "key_algorithm",
]

log = logging.getLogger(__name__)

#: the SignerInfo signatureAlgorithm we write (GM/T 0010 / DESIGN.md 6), no parameters
SM2_WITH_SM3 = algos.SignedDigestAlgorithm({"algorithm": sm2.NAME_SM2_WITH_SM3})
#: mechanisms that mean "SM2": SM2-with-SM3, and SM2-1 (GB/T 35275 CMS, digest from context)
_SM2_MECHANISMS = frozenset({sm2.OID_SM2_WITH_SM3, sm2.OID_SM2_SIGN})


def is_sm2_mechanism(algorithm: algos.SignedDigestAlgorithm) -> bool:
    """Whether a signature algorithm identifier names SM2 (with SM3, or SM2-1)."""
    return algorithm["algorithm"].dotted in _SM2_MECHANISMS


def is_sm2_signer(signer: Signer) -> bool:
    """Whether a pyHanko signer signs with an SM2 key (its certificate certifies one)."""
    cert = signer.signing_cert
    return cert is not None and sm2.is_sm2_spki(cert.public_key)


def key_algorithm(public_key: asn1_keys.PublicKeyInfo) -> str:
    """A signer key's algorithm in the words of a sealing request: ``sm2``, ``ec-p256``,
    ``rsa-2048``, ``rsa-3072``; other keys as ``ec-<curve>``, ``rsa-<bits>`` or the key type."""
    if sm2.is_sm2_spki(public_key):
        return "sm2"
    try:
        kind = str(public_key.algorithm)
        if kind == "ec":
            curve = str(public_key.curve[1])
            return {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}.get(
                curve, f"ec-{curve}"
            )
        if kind == "rsa":
            return f"rsa-{public_key.bit_size}"
        return kind
    except (ValueError, KeyError, TypeError):
        return "unknown"


# -- signing -------------------------------------------------------------------------------


class _SigningCertificateV2Sm3(CMSAttributeProvider):
    """signing-certificate-v2 (RFC 5035) naming the certificate by its SM3 hash, encoded once
    per signer (see :mod:`keystore.signers` for why the DER is kept)."""

    attribute_type = "signing_certificate_v2"

    def __init__(self, certificate: asn1_x509.Certificate) -> None:
        self._der = as_signing_certificate_v2(certificate, hash_algo=sm2.NAME_SM3).dump()

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)


class Sm2CmsSigner(Signer):
    """A pyHanko signer for an SM2 seal: SM3 digest, SM2-with-SM3 signature.

    It holds the key store's :class:`keystore.sm2.Sm2Signer`, never the key.  The certificate
    must certify that signer's key (``certificate_key_mismatch`` otherwise); ``chain`` is what
    goes into the CMS beside it (seal CA, root).
    """

    def __init__(
        self,
        signer: sm2.Sm2Signer,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
    ) -> None:
        check_certificate_key(certificate, signer.public_key)
        self.__signer = signer
        self._scv2 = _SigningCertificateV2Sm3(certificate)
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            signature_mechanism=SM2_WITH_SM3,
            embed_roots=True,
        )

    def __repr__(self) -> str:
        cert = self.signing_cert
        subject = cert.subject.human_friendly if cert is not None else None
        return f"Sm2CmsSigner(subject={subject!r})"

    def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for provider in super()._signed_attr_providers(*args, **kwargs):
            if isinstance(provider, SigningCertificateV2Provider):
                yield self._scv2
            else:
                yield provider

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """DER ``(r, s)`` over ``SM3(Z || data)``; any digest but SM3 is refused
        (``sm2_digest_not_sm3``).  A dry run signs too: it costs about a millisecond and
        gives pyHanko the real size."""
        sm2.check_digest_is_sm3(digest_algorithm)
        return self.__signer.sign(data)


# -- validation ----------------------------------------------------------------------------


class Sm2SignatureValidator(DefaultSignatureValidator):
    """pyHanko's signature validator plus SM2.

    A signature is taken as SM2 when its mechanism is SM2-with-SM3 or SM2-1, or when the key
    is an SM2 key.  It verifies only if both hold, the digest is SM3 (named by the mechanism,
    or for SM2-1 by the SignerInfo's digestAlgorithm) and the signature is the key's over
    ``SM3(Z || signed data)`` with the default user id.  Every failure raises
    ``InvalidSignature``, which pyHanko reports as an invalid signature or a broken path.
    Anything else goes to pyHanko's own validator unchanged.
    """

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: asn1_keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        mechanism_is_sm2 = is_sm2_mechanism(signature_algorithm)
        key_is_sm2 = sm2.is_sm2_spki(public_key_info)
        if not mechanism_is_sm2 and not key_is_sm2:
            super().validate_signature(
                signature, signed_data, public_key_info, signature_algorithm, context
            )
            return
        mechanism = signature_algorithm["algorithm"].native
        if not key_is_sm2:
            raise InvalidSignature(f"{mechanism} signature with a key that is not an SM2 key")
        if not mechanism_is_sm2:
            raise InvalidSignature(f"an SM2 key signs SM2 with SM3, not {mechanism}")
        if signature_algorithm["algorithm"].dotted == sm2.OID_SM2_SIGN:
            digest = context.contextual_md_algorithm or ""
            if digest.lower() != sm2.NAME_SM3:
                raise InvalidSignature(
                    f"SM2-1 signature with digest {digest or 'unknown'}; SM2 signs with SM3"
                )
        if context.prehashed:
            # e = SM3(Z || M) needs M itself: CMS without signed attributes gives its digest
            raise AlgorithmNotSupported(
                "an SM2 signature over a bare digest cannot be checked "
                "(CMS SignerInfo without signed attributes)"
            )
        try:
            sm2.Sm2PublicKey.from_spki(public_key_info).verify(signature, signed_data)
        except sm2.Sm2Error as exc:
            log.debug("SM2 signature check failed: %s", exc.code)
            raise InvalidSignature(str(exc)) from None


#: the validator to give pyHanko's ``ValidationContext(signature_validator=...)``
SIGNATURE_VALIDATOR = Sm2SignatureValidator()
