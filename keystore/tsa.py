"""The built-in RFC 3161 time-stamping authority.

:class:`TimeStampAuthority` answers DER ``TimeStampReq`` messages with DER ``TimeStampResp``
messages (RFC 3161, with the ESS signing-certificate-v2 attribute of RFC 5816).  The TSA key is
never held here: every token is signed through a pyHanko :class:`~pyhanko.sign.signers.Signer`
handed out by a key store, so ECDSA and RSA keys (in files or in a PKCS#11 token) all work.

Decisions a client may notice:

* Accepted message-imprint algorithms are SHA-256/384/512, SHA3-256/384/512 and SM3
  (GB/T 32905, common with Chinese clients).  SHA-1, MD5, SHA-224 and anything unknown are
  refused with ``badAlg``: a timestamp over a collision-prone digest proves little.
* A requested policy other than ours is refused with ``unacceptedPolicy``; any request extension
  is refused with ``unacceptedExtension`` (we support none, and RFC 3161 §2.4.2 forbids ignoring
  them).
* ``genTime`` is UTC, in whole seconds when ``accuracy`` is 1 s or more (the default is 1 s,
  which covers the truncation), with a fraction when a finer accuracy is configured.
  ``ordering`` is false (omitted).  The nonce is echoed verbatim.
* Certificates (the TSA certificate and the configured chain) are included only when the request
  sets ``certReq``, as RFC 3161 §2.4.1 requires.
* Serial numbers are 128-bit random integers by default (collisions are negligible, and random
  serials disclose nothing about the TSA's volume); an own source may be injected.

**Cached encodings.** What is the same in every token (the TSA's certificates, its name, the
signer identifier, the algorithm identifiers, the signing-certificate-v2 attribute, the policy
and the accuracy) is DER-encoded once, in the constructor, and each ECDSA/RSA token is joined
from those bytes and the few that change (:mod:`keystore.der`): the same bytes asn1crypto would
write, without re-serialising the certificates for every token (``tests/keystore`` compares
the two).  The in-process timestamper (:class:`InProcessTimeStamper`) also skips the DER
request and response it would otherwise encode and parse again, applying the same checks.

Bad requests never raise: they get a ``rejection`` response with the matching ``PKIFailureInfo``.
Only a TSA that cannot sign at all raises :class:`TsaUnavailable`.

**SM2 tokens.** Given an :class:`Sm2TsaKey` (the SM2 TSA of :mod:`keystore.sm2_pki`), the TSA
signs with SM2 a request that

* asks for the SM2 policy (``reqPolicy`` = :data:`SM2_TSA_POLICY`), whatever its accepted
  imprint algorithm, or
* asks for no policy and carries an SM3 imprint.

A request naming the international policy gets the ECDSA/RSA token even with an SM3 imprint
(the policy is what a client asks for in RFC 3161; extensions stay refused).  An SM2 token is
a SignedData with ``digestAlgorithm`` SM3 and ``signatureAlgorithm`` SM2-with-SM3
``1.2.156.10197.1.501`` (no parameters), the signature ``SM3(Z || DER(signedAttrs))`` with the
default user id, ``ESSCertIDv2`` hashing the SM2 TSA certificate with SM3, and ``policy`` the SM2
policy.  GB/T 35275 also allows the SM2-1 OID ``1.2.156.10197.1.301.1`` there; 501 is what our
certificates, CRLs and OCSP answers and the SM2 PAdES signer use, and what Bouncy Castle and
OpenSSL name SM2-with-SM3.  Without an SM2 key, the SM2 policy is ``unacceptedPolicy`` and SM3
imprints get the ECDSA/RSA token as before.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from asn1crypto import algos, cms, core, tsp, x509
from cryptography.hazmat.primitives import hashes
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, get_nonce
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from keystore import der, sm2
from keystore.errors import ErrorKind, EsealError

__all__ = [
    "ACCEPTED_IMPRINT_ALGORITHMS",
    "DEFAULT_TSA_POLICY",
    "SM2_TSA_POLICY",
    "InProcessTimeStamper",
    "Sm2TsaKey",
    "TimeStampAuthority",
    "TimeStampResp",
    "TsaUnavailable",
    "random_serial",
    "token_gen_time",
]

#: The TSA policy OID put in every TSTInfo.  PLACEHOLDER under a private enterprise arc
#: (1.3.6.1.4.1.61934 is not registered to eseal); replace it with the operator's own
#: registered policy OID before relying parties are told about it.
DEFAULT_TSA_POLICY = "1.3.6.1.4.1.61934.1.1"
#: The policy of tokens signed by the SM2 TSA; a request naming it gets an SM2 token.  The same
#: PLACEHOLDER arc as above.
SM2_TSA_POLICY = "1.3.6.1.4.1.61934.1.2"

#: SM3 (GB/T 32905-2016): dotted until keystore.sm2 registers the name "sm3" with asn1crypto
#: (at its import), "sm3" after; both spellings are accepted below.
SM3_OID = "1.2.156.10197.1.401"

#: Message-imprint algorithms we time-stamp (asn1crypto names, or dotted OIDs), with the
#: length in bytes the imprint must have.
ACCEPTED_IMPRINT_ALGORITHMS: dict[str, int] = {
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "sha3_256": 32,
    "sha3_384": 48,
    "sha3_512": 64,
    SM3_OID: 32,
    "sm3": 32,
}


#: DER of the parts of a token that never change
_VERSION_1 = der.integer(1)
_VERSION_3 = der.integer(3)
_GRANTED = der.sequence(der.integer(0))  # PKIStatusInfo{status granted}
_OID_SIGNED_DATA = cms.ContentType("signed_data").dump()
_OID_TST_INFO = cms.ContentType("tst_info").dump()
_ATTR_CONTENT_TYPE = simple_cms_attribute("content_type", "tst_info").dump()
_OID_SIGNING_TIME = cms.CMSAttributeType("signing_time").dump()
_OID_MESSAGE_DIGEST = cms.CMSAttributeType("message_digest").dump()


class TsaUnavailable(EsealError):
    """The time-stamping authority cannot sign now (its key is missing, locked or broken)."""

    code = "tsa_unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "Time-stamping authority unavailable"


def random_serial() -> int:
    """A positive 128-bit random serial number."""
    while True:
        serial = secrets.randbits(128)
        if serial:
            return serial


class TimeStampResp(core.Sequence):
    """``TimeStampResp`` as RFC 3161 defines it, with an OPTIONAL ``timeStampToken``.

    asn1crypto's :class:`asn1crypto.tsp.TimeStampResp` makes the token mandatory, so it can
    neither build nor read a rejection; use this spec for any response whose status may not be
    ``granted``.
    """

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class _Rejection(Exception):
    """A request we refuse; turned into a ``rejection`` response, never raised out."""

    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


def _rejection(failure: str, text: str) -> bytes:
    return TimeStampResp(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": tsp.PKIStatus("rejection"),
                    "status_string": tsp.PKIFreeText([text]),
                    "fail_info": tsp.PKIFailureInfo({failure}),
                }
            )
        }
    ).dump()


def _accuracy(value: timedelta) -> tsp.Accuracy:
    micros_total = round(value / timedelta(microseconds=1))
    if micros_total <= 0:
        raise ValueError("accuracy must be positive")
    seconds, rest = divmod(micros_total, 1_000_000)
    millis, micros = divmod(rest, 1000)
    fields: dict[str, int] = {}
    if seconds:
        fields["seconds"] = seconds
    if millis:
        fields["millis"] = millis
    if micros:
        fields["micros"] = micros
    return tsp.Accuracy(fields)


def _cms_time(value: datetime) -> cms.Time:
    # RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise
    if 1950 <= value.year < 2050:
        return cms.Time({"utc_time": value})
    return cms.Time({"general_time": value})


def sm2_public_key(cert: x509.Certificate) -> sm2.Sm2PublicKey | None:
    """The SM2 key a certificate certifies, or None for another kind of key."""
    spki = cert["tbs_certificate"]["subject_public_key_info"]
    return sm2.Sm2PublicKey.from_spki(spki) if sm2.is_sm2_spki(spki) else None


def _check_tsa_certificate(cert: x509.Certificate) -> None:
    eku = cert.extended_key_usage_value
    if eku is None or "time_stamping" not in eku.native:
        raise ValueError("the TSA certificate lacks the timeStamping extended key usage")
    if "extended_key_usage" not in cert.critical_extensions:
        raise ValueError("the TSA certificate's extended key usage must be critical (RFC 3161)")


def _sm2_signing_certificate_v2(cert: x509.Certificate) -> tsp.SigningCertificateV2:
    """ESS signing-certificate-v2 (RFC 5035) naming ``cert`` by its SM3 hash."""
    tbs = cert["tbs_certificate"]
    value = tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": sm2.NAME_SM3},
                    "cert_hash": sm2.sm3(cert.dump()),
                    "issuer_serial": {
                        "issuer": [x509.GeneralName(name="directory_name", value=tbs["issuer"])],
                        "serial_number": tbs["serial_number"].native,
                    },
                }
            ]
        }
    )
    return tsp.SigningCertificateV2.load(value.dump())


@dataclass(frozen=True)
class Sm2TsaKey:
    """The SM2 TSA: who signs SM2 tokens (see the module docstring)."""

    signer: sm2.Sm2Signer
    #: EKU timeStamping (critical), certifying ``signer``'s key
    certificate: x509.Certificate
    #: the SM2 seal CA and root, sent along when a request sets ``certReq``
    chain: list[x509.Certificate] = field(default_factory=list)
    policy: str = SM2_TSA_POLICY


@dataclass(frozen=True)
class _Encodings:
    """The DER of everything a :class:`TimeStampAuthority`'s ECDSA/RSA tokens share."""

    policy: bytes
    accuracy: bytes
    #: tsa [0] EXPLICIT GeneralName (directoryName)
    tsa_name: bytes
    signer_id: bytes
    digest_algorithm: bytes
    digest_algorithms: bytes
    signature_algorithm: bytes
    signing_certificate_v2: bytes
    #: certificates [0] IMPLICIT CertificateSet: the TSA certificate and its chain
    certificates: bytes
    _imprint_algorithms: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, tsa: TimeStampAuthority) -> _Encodings:
        cert = tsa.certificate
        digest = algos.DigestAlgorithm({"algorithm": tsa.digest_algorithm}).dump()
        unique: dict[bytes, None] = dict.fromkeys(c.dump() for c in (cert, *tsa.chain))
        return cls(
            policy=core.ObjectIdentifier(tsa.policy).dump(),
            accuracy=tsa._accuracy.dump() if tsa._accuracy is not None else b"",
            tsa_name=der.context(
                0, x509.GeneralName(name="directory_name", value=cert.subject).dump()
            ),
            signer_id=cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number}
            ).dump(),
            digest_algorithm=digest,
            digest_algorithms=der.set_of(digest),
            signature_algorithm=tsa.signer.get_signature_mechanism_for_digest(
                tsa.digest_algorithm
            ).dump(),
            signing_certificate_v2=simple_cms_attribute(
                "signing_certificate_v2", tsa._signing_certificate_v2
            ).dump(),
            certificates=der.context(0, b"".join(sorted(unique))),
        )

    def imprint_algorithm(self, name: str) -> bytes:
        """The AlgorithmIdentifier pyHanko's timestamper puts in a request's imprint."""
        found = self._imprint_algorithms.get(name)
        if found is None:
            found = algos.DigestAlgorithm({"algorithm": name}).dump()
            self._imprint_algorithms[name] = found
        return found


class TimeStampAuthority:
    """An RFC 3161 time-stamping authority signing through a pyHanko signer.

    :param signer: signs with the TSA key; its ``signing_cert`` must be ``certificate``.
    :param certificate: the TSA certificate (extended key usage timeStamping, critical).
    :param chain: the issuing CA(s) and root, sent along when a request sets ``certReq``.
    :param policy: the TSA policy OID.
    :param accuracy: the accuracy stated in each token, or ``None`` to omit it.
    :param clock: gives the current time (aware; a naive value is taken as UTC).
    :param serial_source: gives a fresh positive serial number for each token.
    :param digest_algorithm: the digest used for the token's own signature.
    :param sm2: the SM2 TSA, for SM2 tokens (see the module docstring); ``None``: none.
    """

    def __init__(
        self,
        signer: Signer,
        certificate: x509.Certificate,
        chain: list[x509.Certificate] | None = None,
        *,
        policy: str = DEFAULT_TSA_POLICY,
        accuracy: timedelta | None = timedelta(seconds=1),
        clock: Callable[[], datetime] | None = None,
        serial_source: Callable[[], int] = random_serial,
        digest_algorithm: str = "sha256",
        sm2: Sm2TsaKey | None = None,
    ) -> None:
        signing_cert = signer.signing_cert
        if signing_cert is None or signing_cert.dump() != certificate.dump():
            raise ValueError("the signer must be bound to the TSA certificate")
        _check_tsa_certificate(certificate)
        self.signer = signer
        self.certificate = certificate
        self.chain = list(chain or [])
        self.policy = core.ObjectIdentifier(policy).dotted
        self.accuracy = accuracy
        self._accuracy = _accuracy(accuracy) if accuracy is not None else None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._serial_source = serial_source
        self.digest_algorithm = digest_algorithm.lower()
        # fails early on an unknown digest name
        get_pyca_cryptography_hash(self.digest_algorithm)
        # loaded from DER: a value built from Python objects is re-encoded at every dump(),
        # which cost ~20 ms per token (see keystore/signers.py)
        self._signing_certificate_v2 = tsp.SigningCertificateV2.load(
            as_signing_certificate_v2(certificate, "sha256").dump()
        )
        self._encoded = _Encodings.of(self)
        self.sm2 = sm2
        self._sm2_policy: str | None = None
        if sm2 is not None:
            _check_tsa_certificate(sm2.certificate)
            if sm2.signer.public_key != sm2_public_key(sm2.certificate):
                raise ValueError("the SM2 signer must be bound to the SM2 TSA certificate")
            self._sm2_policy = core.ObjectIdentifier(sm2.policy).dotted
            if self._sm2_policy == self.policy:
                raise ValueError("the SM2 TSA needs a policy of its own")
            self._sm2_signing_certificate_v2 = _sm2_signing_certificate_v2(sm2.certificate)

    # -- requests ---------------------------------------------------------------------------

    def _parse(self, request_der: bytes) -> tsp.TimeStampReq:
        try:
            req = tsp.TimeStampReq.load(request_der, strict=True)
            req.native  # noqa: B018 - forces asn1crypto to parse (and check) every field
        except Exception as exc:  # asn1crypto raises ValueError, TypeError, OverflowError...
            raise _Rejection("bad_data_format", "the request is not a DER TimeStampReq") from exc
        if req["version"].native != "v1":
            raise _Rejection("bad_data_format", "only TimeStampReq version 1 is supported")
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        expected_length = ACCEPTED_IMPRINT_ALGORITHMS.get(algorithm)
        if expected_length is None:
            raise _Rejection("bad_alg", f"hash algorithm {algorithm} is not accepted")
        if imprint["hash_algorithm"]["parameters"].native is not None:
            raise _Rejection("bad_alg", "hash algorithm parameters must be absent or NULL")
        if len(imprint["hashed_message"].native) != expected_length:
            raise _Rejection(
                "bad_data_format",
                f"a {algorithm} imprint must be {expected_length} bytes long",
            )
        requested_policy = req["req_policy"]
        if requested_policy.native is not None and requested_policy.dotted not in (
            self.policy,
            self._sm2_policy,
        ):
            policies = " or ".join(p for p in (self.policy, self._sm2_policy) if p)
            raise _Rejection("unaccepted_policy", f"this TSA only issues under {policies}")
        if req["extensions"].native:
            raise _Rejection("unaccepted_extensions", "request extensions are not supported")
        return req

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        now = now.astimezone(UTC)
        if self.accuracy is None or self.accuracy >= timedelta(seconds=1):
            # whole seconds; the stated accuracy covers the truncation
            now = now.replace(microsecond=0)
        # else keep the fraction: truncating would break the sub-second accuracy we promise
        return now

    def _next_serial(self) -> int:
        serial = self._serial_source()
        if not isinstance(serial, int) or serial <= 0:
            raise ValueError("the serial source must give positive integers")
        return serial

    def _wants_sm2(self, req: tsp.TimeStampReq) -> bool:
        """SM2 token: the SM2 policy asked for, or no policy and an SM3 imprint."""
        if self._sm2_policy is None:
            return False
        requested = req["req_policy"]
        if requested.native is not None:
            return bool(requested.dotted == self._sm2_policy)
        algorithm = req["message_imprint"]["hash_algorithm"]["algorithm"]
        return bool(algorithm.dotted == SM3_OID)

    def _tst_info(
        self, req: tsp.TimeStampReq, gen_time: datetime, *, use_sm2: bool = False
    ) -> tsp.TSTInfo:
        certificate = self.sm2.certificate if use_sm2 and self.sm2 else self.certificate
        fields: dict[str, object] = {
            "version": "v1",
            "policy": self._sm2_policy if use_sm2 else self.policy,
            "message_imprint": req["message_imprint"],
            "serial_number": self._next_serial(),
            "gen_time": gen_time,
        }
        if self._accuracy is not None:
            fields["accuracy"] = self._accuracy
        # ordering is false: the DER default, hence left out
        if req["nonce"].native is not None:
            fields["nonce"] = req["nonce"].native
        fields["tsa"] = x509.GeneralName(name="directory_name", value=certificate.subject)
        return tsp.TSTInfo(fields)

    # -- signing ----------------------------------------------------------------------------

    async def _token(
        self, imprint_der: bytes, nonce: int | None, gen_time: datetime, cert_req: bool
    ) -> bytes:
        """A timestamp token (DER ``ContentInfo``) signed with the ECDSA/RSA key, joined from
        the encodings cached in :class:`_Encodings` and the values of this token."""
        enc = self._encoded
        parts = [
            _VERSION_1,
            enc.policy,
            imprint_der,
            der.integer(self._next_serial()),
            core.GeneralizedTime(gen_time).dump(),
        ]
        if enc.accuracy:
            parts.append(enc.accuracy)
        # ordering is false: the DER default, hence left out
        if nonce is not None:
            parts.append(der.integer(nonce))
        parts.append(enc.tsa_name)
        tst_info_der = der.sequence(*parts)
        md = hashes.Hash(get_pyca_cryptography_hash(self.digest_algorithm))
        md.update(tst_info_der)
        attributes = [
            _ATTR_CONTENT_TYPE,
            der.sequence(
                _OID_SIGNING_TIME,
                der.set_of(_cms_time(gen_time.replace(microsecond=0)).dump()),
            ),
            der.sequence(_OID_MESSAGE_DIGEST, der.set_of(der.octet_string(md.finalize()))),
            enc.signing_certificate_v2,
        ]
        try:
            signature = await self.signer.async_sign_raw(
                der.set_of(*attributes), self.digest_algorithm
            )
        except EsealError as exc:
            raise TsaUnavailable(f"the TSA key cannot sign: {exc.detail}") from exc
        except Exception as exc:  # any backend failure means the TSA cannot issue now
            raise TsaUnavailable(f"the TSA key cannot sign ({type(exc).__name__})") from exc
        signer_info = der.sequence(
            _VERSION_1,
            enc.signer_id,
            enc.digest_algorithm,
            der.context(0, b"".join(sorted(attributes))),  # signedAttrs [0] IMPLICIT
            enc.signature_algorithm,
            der.octet_string(signature),
        )
        signed_data = der.sequence(
            _VERSION_3,
            enc.digest_algorithms,
            der.sequence(_OID_TST_INFO, der.context(0, der.octet_string(tst_info_der))),
            enc.certificates if cert_req else b"",
            der.set_of(signer_info),
        )
        return der.sequence(_OID_SIGNED_DATA, der.context(0, signed_data))

    def _sm2_token(self, tst_info: tsp.TSTInfo, gen_time: datetime, cert_req: bool) -> bytes:
        assert self.sm2 is not None
        tst_info_der = tst_info.dump()
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", _cms_time(gen_time.replace(microsecond=0))),
                simple_cms_attribute("message_digest", sm2.sm3(tst_info_der)),
                simple_cms_attribute("signing_certificate_v2", self._sm2_signing_certificate_v2),
            ]
        )
        try:
            signature = self.sm2.signer.sign(signed_attrs.dump())
        except Exception as exc:  # any backend failure means the TSA cannot issue now
            raise TsaUnavailable(f"the SM2 TSA key cannot sign ({type(exc).__name__})") from exc
        tbs = self.sm2.certificate["tbs_certificate"]
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": tbs["issuer"], "serial_number": tbs["serial_number"].native},
                ),
                "digest_algorithm": {"algorithm": sm2.NAME_SM3},
                "signed_attrs": signed_attrs,
                "signature_algorithm": {"algorithm": sm2.NAME_SM2_WITH_SM3},
                "signature": signature,
            }
        )
        signed_data: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": cms.DigestAlgorithms(
                [algos.DigestAlgorithm({"algorithm": sm2.NAME_SM3})]
            ),
            "encap_content_info": cms.EncapsulatedContentInfo(
                {
                    "content_type": cms.ContentType("tst_info"),
                    "content": cms.ParsableOctetString(tst_info_der),
                }
            ),
            "signer_infos": cms.SignerInfos([signer_info]),
        }
        return self._response(
            signed_data, [self.sm2.certificate, *self.sm2.chain] if cert_req else []
        )

    @staticmethod
    def _response(signed_data: dict[str, object], send: list[x509.Certificate]) -> bytes:
        if send:
            seen: set[bytes] = set()
            certificates = []
            for cert in send:
                if cert.dump() not in seen:
                    seen.add(cert.dump())
                    certificates.append(cms.CertificateChoices(name="certificate", value=cert))
            signed_data["certificates"] = cms.CertificateSet(certificates)
        token = cms.ContentInfo(
            {"content_type": cms.ContentType("signed_data"), "content": cms.SignedData(signed_data)}
        )
        return TimeStampResp(
            {
                "status": tsp.PKIStatusInfo({"status": tsp.PKIStatus("granted")}),
                "time_stamp_token": token,
            }
        ).dump()

    # -- public -----------------------------------------------------------------------------

    async def respond(self, request_der: bytes) -> bytes:
        """Answer a DER ``TimeStampReq`` with a DER ``TimeStampResp``.

        Malformed or unacceptable requests get a ``rejection`` response; only a TSA whose key
        cannot sign raises (:class:`TsaUnavailable`).
        """
        try:
            req = self._parse(request_der)
        except _Rejection as rejection:
            return _rejection(rejection.failure, rejection.text)
        gen_time = self._now()
        cert_req = bool(req["cert_req"].native)
        if self._wants_sm2(req):
            return self._sm2_token(self._tst_info(req, gen_time, use_sm2=True), gen_time, cert_req)
        token = await self._token(
            req["message_imprint"].dump(), req["nonce"].native, gen_time, cert_req
        )
        return der.sequence(_GRANTED, token)

    def issues_directly(self, md_algorithm: str) -> bool:
        """Whether :meth:`token_for_digest` answers for imprints of ``md_algorithm`` (what
        :meth:`respond` signs with the ECDSA/RSA key: an accepted algorithm, not SM3 when
        there is an SM2 TSA)."""
        name = md_algorithm.lower()
        if name not in ACCEPTED_IMPRINT_ALGORITHMS:
            return False
        return self._sm2_policy is None or name not in ("sm3", SM3_OID)

    async def token_for_digest(
        self, message_digest: bytes, md_algorithm: str, nonce: int | None
    ) -> bytes:
        """The token (DER ``ContentInfo``) :meth:`respond` grants a request for
        ``message_digest`` with ``nonce``, no policy, no extension and ``certReq`` set,
        without the request's encoding and parsing.

        :raises ValueError: where :meth:`respond` would reject the request (an algorithm
            :meth:`issues_directly` refuses, an imprint of the wrong length)."""
        name = md_algorithm.lower()
        if not self.issues_directly(name):
            raise ValueError(f"hash algorithm {md_algorithm} is not issued directly")
        if len(message_digest) != ACCEPTED_IMPRINT_ALGORITHMS[name]:
            raise ValueError(f"a {name} imprint must be {ACCEPTED_IMPRINT_ALGORITHMS[name]} bytes")
        imprint = der.sequence(
            self._encoded.imprint_algorithm(name), der.octet_string(message_digest)
        )
        return await self._token(imprint, nonce, self._now(), True)

    def timestamper(self) -> InProcessTimeStamper:
        """A pyHanko time stamper that asks this TSA directly, without HTTP."""
        return InProcessTimeStamper(self)


class InProcessTimeStamper(TimeStamper):
    """A pyHanko :class:`TimeStamper` backed by a :class:`TimeStampAuthority` in this process."""

    def __init__(self, authority: TimeStampAuthority, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)
        self.authority = authority

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """The token pyHanko's request/response round trip would give (same imprint
        algorithm encoding, a nonce of the same kind, certificates included), asked of the
        authority directly; SM2 requests and anything unusual take the round trip."""
        authority = self.authority
        if not authority.issues_directly(md_algorithm):
            token: cms.ContentInfo = await super().async_timestamp(message_digest, md_algorithm)
            return token
        nonce = get_nonce() if self.include_nonce else None
        try:
            token_der = await authority.token_for_digest(message_digest, md_algorithm, nonce)
        except ValueError as exc:
            raise TimestampRequestError(f"The built-in TSA refused the request: {exc}") from None
        return cms.ContentInfo.load(token_der)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        response_der = await self.authority.respond(req.dump())
        status = TimeStampResp.load(response_der)["status"]
        if status["status"].native not in ("granted", "granted_with_mods"):
            # pyHanko would choke on the token-less response (see TimeStampResp above)
            texts = "; ".join(status["status_string"].native or [])
            failures = "; ".join(sorted(status["fail_info"].native or []))
            raise TimestampRequestError(
                f'The built-in TSA refused the request: statusString "{texts}", '
                f'failInfo "{failures}"'
            )
        return tsp.TimeStampResp.load(response_der)


def token_gen_time(token: cms.ContentInfo) -> datetime:
    """The genTime of a timestamp token (``ContentInfo`` of ``SignedData`` over a ``TSTInfo``).

    Read from the token's DER along the path it has (contentType, content [0], SignedData,
    encapContentInfo, eContent [0], OCTET STRING, TSTInfo's fifth field), which costs a few
    microseconds where asn1crypto's parse of the token costs a tenth of a millisecond; any other
    shape (BER lengths, a field missing) is parsed by asn1crypto instead.
    """
    data = token.dump()
    try:
        tag, start, end = der.element(data)
        parts = der.children(data, start, end) if tag == 0x30 else []
        if len(parts) != 2 or parts[1][0] != 0xA0:
            raise ValueError("not a ContentInfo")
        inner = der.children(data, parts[1][1], parts[1][2])
        if len(inner) != 1 or inner[0][0] != 0x30:
            raise ValueError("not a SignedData")
        signed = der.children(data, inner[0][1], inner[0][2])
        if len(signed) < 3 or signed[2][0] != 0x30:
            raise ValueError("no encapContentInfo")
        encap = der.children(data, signed[2][1], signed[2][2])
        if len(encap) != 2 or encap[1][0] != 0xA0:
            raise ValueError("no eContent")
        content = der.children(data, encap[1][1], encap[1][2])
        if len(content) != 1 or content[0][0] != 0x04:
            raise ValueError("eContent is not one OCTET STRING")
        tag, start, end = der.element(data, content[0][1])
        if tag != 0x30 or end != content[0][2]:
            raise ValueError("not a TSTInfo")
        fields = der.children(data, start, end)
        if len(fields) < 5 or fields[4][0] != 0x18:
            raise ValueError("no genTime")
        _, at, stop = fields[4]
        when = core.GeneralizedTime.load(der.tlv(0x18, data[at:stop])).native
    except ValueError:
        tst_info = token["content"]["encap_content_info"]["content"].parsed
        when = tst_info["gen_time"].native
    if not isinstance(when, datetime):
        raise TypeError("a timestamp token's genTime is not a time")
    return when
