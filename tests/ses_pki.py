"""The real SM2 PKI, seal certificates and SM2 TSA that the national seal tests share
(imported as ``ses_pki``: ``tests/`` is on ``sys.path``).

``SesWorld`` holds an :class:`~keystore.sm2_pki.Sm2Pki` with its seal maker, an in-process
:class:`~keystore.tsa.TimeStampAuthority` with the SM2 TSA key, and makes seal certificates
and SESeals.  Times are computed when a test asks, never at import.
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

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from PIL import Image

from keystore import sm2
from keystore.masterkey import MasterKey
from keystore.pki import InternalPki, SealSubject
from keystore.sm2_pki import SealMaker, Sm2Pki
from keystore.soft import SoftKeyStore
from keystore.tsa import Sm2TsaKey, TimeStampAuthority, TimeStampResp
from seals.esl import make_seseal

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
