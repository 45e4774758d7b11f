"""A seal's PAdES CMS, joined from cached encodings, is the CMS pyHanko builds, byte for byte.

pyHanko's own ``Signer.async_sign`` is the reference.  With an RSA key (PKCS#1 v1.5 signatures
are deterministic) the two containers must be identical, with and without a timestamp token
(the reference gets the very token the fast path got, replayed); with ECDSA, identical but for
the signature value.  Requests that are not plain PAdES signatures go to pyHanko.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.ades.api import CAdESSignedAttrSpec, GenericCommitment
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.sign.timestamps import TimeStamper

from keystore.signers import LoadedKeySigner
from keystore.tsa import TimeStampAuthority

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _cert(
    cn: str,
    key: PrivateKey,
    issuer: tuple[x509.Certificate, PrivateKey] | None,
    *,
    ca: bool,
    tsa: bool = False,
) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class Pki:
    def __init__(self, kind: str) -> None:
        root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _cert("root", root_key, None, ca=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("seal CA", ca_key, (self.root, root_key), ca=True)
        self.key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.seal = _cert("合同专用章", self.key, (self.ca, ca_key), ca=False)
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        self.tsa_cert = _cert("TSA", tsa_key, (self.ca, ca_key), ca=False, tsa=True)
        chain = [_asn1(self.ca), _asn1(self.root)]
        self.tsa = TimeStampAuthority(
            LoadedKeySigner(tsa_key, _asn1(self.tsa_cert), chain), _asn1(self.tsa_cert), chain
        )
        self.kind = kind

    def signer(self) -> LoadedKeySigner:
        return LoadedKeySigner(self.key, _asn1(self.seal), [_asn1(self.ca), _asn1(self.root)])


@pytest.fixture(scope="module", params=["rsa", "ec"])
def pki(request: pytest.FixtureRequest) -> Pki:
    return Pki(request.param)


class Replay(TimeStamper):
    """Hands out the tokens another timestamper gave, in order: the reference signature gets
    the very token the fast one got."""

    def __init__(self, inner: TimeStamper | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.tokens: list[cms.ContentInfo] = []

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        if self.inner is not None:
            token = await self.inner.async_timestamp(message_digest, md_algorithm)
            self.tokens.append(token)
            return token
        return self.tokens.pop(0)


def _parts(der: bytes) -> list[bytes]:
    """Every element as encoded but the signature value (ECDSA signatures vary in length)."""
    signed_data = cms.ContentInfo.load(der)["content"]
    info = signed_data["signer_infos"][0]
    parts = [signed_data[k].dump() for k in signed_data if k != "signer_infos"]
    return parts + [info[k].dump() for k in info if k != "signature"]


@pytest.mark.parametrize("digest_algorithm", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("timestamped", [False, True])
async def test_the_fast_cms_is_pyhankos(pki: Pki, digest_algorithm: str, timestamped: bool) -> None:
    digest = bytes(range(64))[: {"sha256": 32, "sha384": 48, "sha512": 64}[digest_algorithm]]
    recorder = Replay(pki.tsa.timestamper()) if timestamped else None
    signed = await pki.signer().async_sign(
        digest, digest_algorithm, use_pades=True, timestamper=recorder
    )
    fast = signed.dump()
    replay = None
    if recorder is not None:
        replay = Replay()
        replay.tokens = list(recorder.tokens)
    reference = (
        await Signer.async_sign(
            pki.signer(), digest, digest_algorithm, use_pades=True, timestamper=replay
        )
    ).dump()
    if pki.kind == "rsa":
        assert fast == reference
    else:
        assert _parts(fast) == _parts(reference)
    info = cms.ContentInfo.load(fast)["content"]["signer_infos"][0]
    assert ("unsigned_attrs" in info and info["unsigned_attrs"].native is not None) == timestamped


async def test_other_requests_are_pyhankos(pki: Pki) -> None:
    spec = CAdESSignedAttrSpec(commitment_type=GenericCommitment.PROOF_OF_ORIGIN.asn1)
    settings = PdfCMSSignedAttributes(cades_signed_attrs=spec)
    digest = bytes(32)
    signer = pki.signer()
    dry = await signer.async_sign(digest, "sha256", dry_run=True, use_pades=True)
    assert cms.ContentInfo.load(dry.dump())["content"]["signer_infos"][0]["signature"].native
    with_attrs = await signer.async_sign(
        digest, "sha256", use_pades=True, signed_attr_settings=settings
    )
    names = {
        a["type"].native
        for a in with_attrs["content"]["signer_infos"][0]["signed_attrs"]  # type: ignore[index]
    }
    assert "commitment_type" in names
    # CAdES outside a PDF gets its signing-time: pyHanko's path, not the fast one
    generic = await signer.async_sign(digest, "sha256", use_pades=True, is_pdf_sig=False)
    generic_names = {
        a["type"].native
        for a in generic["content"]["signer_infos"][0]["signed_attrs"]  # type: ignore[index]
    }
    assert "signing_time" in generic_names
