"""The centre's signed registry feed (issue 19): batches of changes for front systems.

A batch is one JSON object, sent as its canonical bytes (keys sorted, no insignificant
whitespace, UTF-8) with a detached signature of the centre's feed key
(:mod:`keystore.feed_key`) in the ``Eseal-Feed-Signature`` header (base64 of DER
ECDSA-with-SHA256 over exactly the body).  What it signs:

``feed`` (the format, ``eseal-registry-feed/1``), ``after`` (the cursor asked for), ``next``
(the cursor to ask with next), ``sequence`` (= ``next``: grows with every batch that carries
changes, never goes back), ``more`` (another batch is ready at once), ``issued_at`` (the
centre's time: a front accepts only batches newer than the last it accepted), ``nonce`` (the
front's random challenge, echoed, so an old batch cannot answer a new request), ``pki`` (the
CA certificates of both hierarchies, the registration authority's seal certificates and the
current CRLs) and ``changes`` (:mod:`storage.feed`: each changed record's current state).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import serialization

from keystore.feed_key import FeedKey
from keystore.pki import InternalPki
from keystore.sm2_pki import Sm2Pki
from signer.revocation import InternalRevocation
from storage.feed import FeedLog

__all__ = ["FEED_FORMAT", "SIGNATURE_HEADER", "FeedPublisher", "SignedBatch", "canonical"]

FEED_FORMAT = "eseal-registry-feed/1"
SIGNATURE_HEADER = "Eseal-Feed-Signature"


def canonical(value: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class SignedBatch:
    body: bytes
    signature: str


class FeedPublisher:
    def __init__(
        self,
        log: FeedLog,
        key: FeedKey,
        pki: InternalPki,
        sm2_pki: Sm2Pki,
        revocation: InternalRevocation,
    ) -> None:
        self._log = log
        self._key = key
        self._pki = pki
        self._sm2_pki = sm2_pki
        self._revocation = revocation

    @property
    def certificate_pem(self) -> str:
        return self._key.certificate_pem

    def batch(self, after: int, limit: int, nonce: str | None) -> SignedBatch:
        rows = self._log.batch(after, limit)
        body = canonical(
            {
                "feed": FEED_FORMAT,
                "after": rows.after,
                "next": rows.next,
                "sequence": rows.next,
                "more": rows.more,
                "issued_at": datetime.now(UTC).isoformat(),
                "nonce": nonce,
                "pki": self._pki_record(),
                "changes": rows.changes,
            }
        )
        signature = base64.b64encode(self._key.sign(body)).decode()
        return SignedBatch(body, signature)

    def _pki_record(self) -> dict[str, Any]:
        def pem(cert: Any) -> str:
            return str(cert.public_bytes(serialization.Encoding.PEM).decode())

        def der(crl: Any) -> str:
            return base64.b64encode(crl.dump()).decode()

        record: dict[str, Any] = {
            "root": pem(self._pki.root),
            "issuing": pem(self._pki.issuing),
            "authority": [pem(c) for c in self._pki.authority_certificates()],
            "sm2_root": asn1_pem.armor(
                "CERTIFICATE", self._sm2_pki.certificate("root").dump()
            ).decode(),
            "sm2_issuing": asn1_pem.armor(
                "CERTIFICATE", self._sm2_pki.certificate("issuing").dump()
            ).decode(),
            "crl": {
                "issuing": der(self._revocation.issuing_crl()),
                "root": der(self._revocation.root_crl()),
            },
        }
        return record
