"""The RFC 3161 timestamps of national seals and signatures: over a signature value.

``SESeal.timeStamp`` (v5) and ``SES_Signature.timeStamp`` hold the DER of a
``TimeStampToken`` whose ``messageImprint`` is the hash of a signature value: the octets of the
signature BIT STRING, i.e. the DER ``SEQUENCE {r, s}`` (ofdrw's ``TimeStampHook`` is handed
exactly those bytes).  :func:`check_token` reads one and says whether it holds:

* a CMS ``ContentInfo`` of SignedData with one SignerInfo, whose content is a ``TSTInfo``;
* the imprint is SM3 or SHA-256 of the signature value (other algorithms are refused);
* the signed attributes name the ``TSTInfo`` content type and its digest;
* the signature over DER(signedAttrs) verifies with the TSA certificate carried in the token
  (found by issuer and serial, or subject key identifier): SM2 with SM3 and the default user id
  (SM2-with-SM3 ``1.2.156.10197.1.501`` or SM2 ``1.2.156.10197.1.301.1``, what our SM2 TSA and
  GB/T 35275 write), or ECDSA / RSA PKCS#1 v1.5 with the SignerInfo's digest;
* the TSA certificate has the timeStamping extended key usage and ``genTime`` is within its
  validity.

Whether the TSA certificate chains to a trusted root, and its revocation, are not asked here:
the trust layer does that with :attr:`TokenCheck.tsa_certificate`.  The token is read strictly
(one complete value, every field parsed) but, unlike the seal, not re-encoded for a DER check:
a third-party TSA's token may embed certificates in non-canonical encodings that still verify.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as pyca_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keystore import sm2
from seals.esl import SIGNATURE_ALGORITHMS

__all__ = ["IMPRINT_ALGORITHMS", "TokenCheck", "check_token", "imprint"]

#: imprint algorithms accepted over a signature value (asn1crypto names)
IMPRINT_ALGORITHMS = ("sm3", "sha256")

_DIGESTS = {"sm3", "sha256", "sha384", "sha512"}
_PYCA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class TokenCheck:
    """What :func:`check_token` found."""

    ok: bool
    #: why not, or what holds, for a person
    message: str
    #: ``TSTInfo.genTime`` (aware), when the token could be read that far
    gen_time: datetime | None = None
    #: the TSA certificate the token carries, when found
    tsa_certificate: asn1_x509.Certificate | None = None
    #: the imprint's algorithm ("sm3", "sha256"), when read
    imprint_algorithm: str | None = None


class _Refused(Exception):
    pass


def imprint(algorithm: str, data: bytes) -> bytes:
    """The hash of ``data`` with ``algorithm`` ("sm3", "sha256", "sha384", "sha512")."""
    if algorithm == "sm3":
        return sm2.sm3(data)
    if algorithm in _DIGESTS:
        return hashlib.new(algorithm, data).digest()
    raise _Refused(f"the digest algorithm {algorithm} is not supported")


def _signer_certificate(
    signed_data: cms.SignedData, signer_info: cms.SignerInfo
) -> asn1_x509.Certificate:
    sid = signer_info["sid"]
    for choice in signed_data["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                cert.issuer == wanted["issuer"]
                and cert.serial_number == wanted["serial_number"].native
            ):
                return cert
        elif cert.key_identifier is not None and cert.key_identifier == sid.chosen.native:
            return cert
    raise _Refused("the token does not carry the TSA certificate that signed it")


def _verify_signature(
    cert: asn1_x509.Certificate, signer_info: cms.SignerInfo, signed: bytes, digest: str
) -> None:
    algorithm = signer_info["signature_algorithm"]["algorithm"]
    signature = bytes(signer_info["signature"])
    spki = cert.public_key
    if algorithm.dotted in SIGNATURE_ALGORITHMS or sm2.is_sm2_spki(spki):
        if algorithm.dotted not in SIGNATURE_ALGORITHMS or digest != "sm3":
            raise _Refused("an SM2 TSA key signs SM2 with SM3")
        try:
            sm2.Sm2PublicKey.from_spki(spki).verify(signature, signed)
        except sm2.Sm2Error as exc:
            raise _Refused(f"the TSA's SM2 signature does not verify ({exc.code})") from exc
        return
    if digest not in _PYCA_HASHES:
        raise _Refused(f"a TSA signature with {digest} is not supported")
    chosen = _PYCA_HASHES[digest]()
    key = pyca_x509.load_der_x509_certificate(cert.dump()).public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(chosen))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), chosen)
        else:
            raise _Refused("the TSA key is neither SM2, ECDSA nor RSA")
    except InvalidSignature as exc:
        raise _Refused("the TSA's signature does not verify") from exc


def _check(token_der: bytes, covered: bytes) -> TokenCheck:
    try:
        token = cms.ContentInfo.load(token_der, strict=True)
        token.native  # noqa: B018 - parses every field
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, OverflowError...
        raise _Refused("the timestamp is not a DER TimeStampToken") from exc
    if token["content_type"].native != "signed_data":
        raise _Refused("the timestamp is not CMS SignedData")
    signed_data = token["content"]
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise _Refused("the timestamp's SignedData does not hold a TSTInfo")
    tst_info_der = bytes(encap["content"].contents)
    tst_info = tsp.TSTInfo.load(tst_info_der)
    gen_time = tst_info["gen_time"].native
    message_imprint = tst_info["message_imprint"]
    algorithm = message_imprint["hash_algorithm"]["algorithm"].native
    if algorithm not in IMPRINT_ALGORITHMS:
        raise _Refused(f"the timestamp's imprint is {algorithm}, not SM3 or SHA-256")
    if bytes(message_imprint["hashed_message"]) != imprint(algorithm, covered):
        raise _Refused(f"the timestamp's {algorithm} imprint is not that of the signature value")

    def refused(message: str, cert: asn1_x509.Certificate | None = None) -> TokenCheck:
        return TokenCheck(False, message, gen_time, cert, algorithm)

    if len(signed_data["signer_infos"]) != 1:
        return refused("the timestamp has not exactly one SignerInfo")
    signer_info = signed_data["signer_infos"][0]
    try:
        cert = _signer_certificate(signed_data, signer_info)
    except _Refused as exc:
        return refused(str(exc))
    attrs = signer_info["signed_attrs"]
    if attrs.native is None:
        return refused("the timestamp's SignerInfo has no signed attributes", cert)
    values = {a["type"].native: a["values"] for a in attrs}
    digest = signer_info["digest_algorithm"]["algorithm"].native
    try:
        if [v.native for v in values.get("content_type", [])] != ["tst_info"]:
            raise _Refused("the signed content type is not TSTInfo")
        digests = [bytes(v) for v in values.get("message_digest", [])]
        if digests != [imprint(digest, tst_info_der)]:
            raise _Refused("the signed message digest is not that of the TSTInfo")
        _verify_signature(cert, signer_info, bytes(attrs.untag().dump()), digest)
    except _Refused as exc:
        return refused(str(exc), cert)
    eku = cert.extended_key_usage_value
    if eku is None or "time_stamping" not in eku.native:
        return refused("the TSA certificate lacks the timeStamping extended key usage", cert)
    validity = cert["tbs_certificate"]["validity"]
    if not validity["not_before"].native <= gen_time <= validity["not_after"].native:
        return refused("genTime is outside the TSA certificate's validity", cert)
    subject = cert.subject.human_friendly
    message = f"timestamp by {subject} at {gen_time.isoformat()}"
    return TokenCheck(True, message, gen_time, cert, algorithm)


def check_token(token_der: bytes, covered: bytes) -> TokenCheck:
    """Whether ``token_der`` is a valid RFC 3161 timestamp over ``covered`` (a signature
    value); see the module docstring.  Never raises for bad tokens."""
    try:
        return _check(token_der, covered)
    except _Refused as exc:
        return TokenCheck(False, str(exc))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return TokenCheck(False, f"the timestamp cannot be read ({type(exc).__name__})")
