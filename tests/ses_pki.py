"""The real SM2 PKI, seal certificates and SM2 TSA that the national seal tests share
(imported as ``ses_pki``: ``tests/`` is on ``sys.path``).

``SesWorld`` holds an :class:`~keystore.sm2_pki.Sm2Pki` with its seal maker, an in-process
:class:`~keystore.tsa.TimeStampAuthority` with the SM2 TSA key, and makes seal certificates
and SESeals (v4 and v5 with eseal's writer; GM/T 0031-2014 v1 ones by hand, as eseal only
reads those, with :func:`make_v1_signature` for their signatures).  :func:`reencode` writes
a DER value again in BER, as other encoders do.  Times are computed when a test asks, never
at import.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import core, parser, tsp
from asn1crypto import x509 as asn1_x509
from PIL import Image

from keystore import sm2
from keystore.masterkey import MasterKey
from keystore.pki import InternalPki, SealSubject
from keystore.sm2_pki import SealMaker, Sm2Pki
from keystore.soft import SoftKeyStore
from keystore.tsa import Sm2TsaKey, TimeStampAuthority, TimeStampResp
from seals.esl import der_sequence, make_seseal
from seals.esl_asn1 import SesSealInfoV1

URL = "https://eseal.example.cn"
USCC = "91350100M000100Y43"
DISTID = "distid:1234567812345678"


def png(size: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (size, size), (200, 0, 0, 255)).save(out, format="PNG")
    return out.getvalue()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class SesWorld:
    pki: Sm2Pki
    tsa: TimeStampAuthority
    #: the time the TSA writes into its tokens; None: the real clock
    tsa_time: list[datetime | None] = field(default_factory=lambda: [None])

    @property
    def maker(self) -> SealMaker:
        return self.pki.seal_maker()

    def seal_certificate(
        self,
        key: sm2.Sm2PrivateKey,
        *,
        title: str = "合同专用章",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> asn1_x509.Certificate:
        start = not_before or now() - timedelta(days=1)
        return self.pki.issue_seal_certificate(
            key.public.spki(),
            SealSubject("测试有限公司", USCC, title),
            not_before=start,
            not_after=not_after or start + timedelta(days=400),
        )

    def timestamp(
        self, data: bytes, *, digest: str = "sm3", cert_req: bool = True, sm2_tsa: bool = True
    ) -> bytes:
        """The DER TimeStampToken over ``data`` (imprint SM3 or SHA-256) of the SM2 TSA, or
        with ``sm2_tsa`` False of the ECDSA one (asked with its policy)."""
        hashed = sm2.sm3(data) if digest == "sm3" else hashlib.new(digest, data).digest()
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": digest},
                    "hashed_message": hashed,
                },
                "req_policy": self.tsa.sm2.policy if sm2_tsa and self.tsa.sm2 else self.tsa.policy,
                "nonce": secrets.randbits(64),
                "cert_req": cert_req,
            }
        )
        response = asyncio.run(self.tsa.respond(request.dump()))
        token = TimeStampResp.load(response)["time_stamp_token"]
        assert token.native is not None, TimeStampResp.load(response)["status"].native
        return bytes(token.dump())

    def make_seal(self, *signers: asn1_x509.Certificate, **changes: Any) -> bytes:
        """An SESeal (v4 unless ``version`` is given) for ``signers``, made by the maker."""
        start = now() - timedelta(hours=1)
        maker = self.maker
        fields: dict[str, Any] = {
            "es_id": f"{USCC}-contract-1",
            "seal_type": 2,
            "name": "合同专用章",
            "certificates": [c.dump() for c in signers],
            "created": start,
            "valid_start": start,
            "valid_end": start + timedelta(days=365),
            "image_png": png(),
            "width_mm": 40,
            "height_mm": 40,
            "maker_certificate": maker.certificate.dump(),
            "maker_sign": maker.signer.sign,
        }
        fields.update(changes)
        return make_seseal(**fields)

    def make_v1_seal(
        self,
        *signers: asn1_x509.Certificate,
        sign: Callable[[bytes], bytes] | None = None,
        vid: str = "vendor-1.0",
    ) -> bytes:
        """A GM/T 0031-2014 SESeal (header version 1) for ``signers``: UTCTime dates, no
        certListType, the maker's SM2 signature (``sign``, the maker's unless given) over
        ``SEQUENCE {esealInfo, cert, signatureAlgorithm}``; DER throughout."""
        start = now() - timedelta(hours=1)
        info = SesSealInfoV1(
            {
                "header": {"id": "ES", "version": 1, "vid": vid},
                "es_id": f"{USCC}-v1-official-1",
                "property": {
                    "type": 1,
                    "name": "测试有限公司",
                    "cert_list": [c.dump() for c in signers],
                    "create_date": start,
                    "valid_start": start,
                    "valid_end": start + timedelta(days=30),
                },
                "picture": {"type": "PNG", "data": png(), "width": 40, "height": 40},
            }
        ).dump()
        maker = self.maker
        cert = core.OctetString(maker.certificate.dump()).dump()
        algorithm = core.ObjectIdentifier(sm2.OID_SM2_WITH_SM3).dump()
        value = (sign or maker.signer.sign)(der_sequence(info, cert, algorithm))
        return der_sequence(info, der_sequence(cert, algorithm, core.OctetBitString(value).dump()))

    def sm2_timestamper(self, *, digest: str = "sm3") -> Callable[[bytes], bytes]:
        return lambda data: self.timestamp(data, digest=digest)


def make_world(directory: Path) -> SesWorld:
    store = SoftKeyStore(directory / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    # made 90 days ago, as a platform's PKI is older than the seals it makes
    pki = Sm2Pki(
        store, directory / "sm2", URL, clock=lambda: datetime.now(UTC) - timedelta(days=90)
    )
    pki.ensure()
    ecdsa = InternalPki(store, directory / "pki", URL)
    ecdsa.create()
    signer = ecdsa.tsa_signer()
    clock_value: list[datetime | None] = [None]
    tsa = TimeStampAuthority(
        signer,
        signer.signing_cert,
        ecdsa.chain(),
        clock=lambda: clock_value[0] or datetime.now(UTC),
        sm2=Sm2TsaKey(pki.service_signer("tsa"), pki.certificate("tsa"), pki.chain()),
    )
    return SesWorld(pki, tsa, clock_value)


def make_v1_signature(
    seal: bytes,
    *,
    signer_certificate: bytes,
    sign: Callable[[bytes], bytes],
    time_info: bytes,
    data_hash: bytes,
    property_info: str,
    version: int = 1,
    algorithm: str = sm2.OID_SM2_WITH_SM3,
) -> bytes:
    """A GM/T 0031-2014 SES_Signature as ofdrw's ``SESV1Container`` writes one: ``TBS_Sign``
    {version, eseal, timeInfo BIT STRING (``time_info``'s octets), dataHash BIT STRING,
    propertyInfo, cert, signatureAlgorithm}, and ``sign``'s signature over its DER."""
    to_sign = der_sequence(
        core.Integer(version).dump(),
        seal,
        core.OctetBitString(time_info).dump(),
        core.OctetBitString(data_hash).dump(),
        core.IA5String(property_info).dump(),
        core.OctetString(signer_certificate).dump(),
        core.ObjectIdentifier(algorithm).dump(),
    )
    return der_sequence(to_sign, core.OctetBitString(sign(to_sign)).dump())


#: how :func:`reencode` may write a length: as DER does, in long form with ``n`` octets more
#: than needed, or indefinite (constructed values only; primitive ones get "long1" instead)
LENGTH_FORMS = ("der", "long0", "long1", "long3", "indefinite")


def _values(contents: bytes) -> list[bytes]:
    parts: list[bytes] = []
    pointer = 0
    while pointer < len(contents):
        _, _, _, header, inner, trailer = parser.parse(contents[pointer:])
        size = len(header) + len(inner) + len(trailer)
        parts.append(contents[pointer : pointer + size])
        pointer += size
    return parts


def reencode(der: bytes, form: Callable[[bool], str]) -> bytes:
    """``der`` written again in BER: every value keeps its tag and contents, and its length
    is written as ``form(constructed)`` says (:data:`LENGTH_FORMS`); constructed values (the
    SEQUENCEs and explicit tags) are re-encoded inside too, primitive ones (strings,
    certificates inside OCTET STRINGs) are left as they are."""
    _, method, _, header, contents, _ = parser.parse(der, strict=True)
    if method == 1:
        contents = b"".join(reencode(part, form) for part in _values(contents))
    tag_size = 1
    if header[0] & 0x1F == 0x1F:
        tag_size += next(i for i, b in enumerate(header[1:], 1) if b < 0x80)
    identifier = header[:tag_size]
    chosen = form(method == 1)
    if chosen == "indefinite" and method == 1:
        return identifier + b"\x80" + contents + b"\x00\x00"
    if chosen == "der":
        return _der(identifier, contents)
    extra = {"long0": 0, "long1": 1, "long3": 3}.get(chosen, 1)
    size = len(contents)
    octets = size.to_bytes(max(1, (size.bit_length() + 7) // 8) + extra, "big")
    return identifier + bytes([0x80 | len(octets)]) + octets + contents


def _der(identifier: bytes, contents: bytes) -> bytes:
    size = len(contents)
    if size < 0x80:
        return identifier + bytes([size]) + contents
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return identifier + bytes([0x80 | len(octets)]) + octets + contents
