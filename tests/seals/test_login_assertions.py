"""Login assertions (seals/assertions.py) on their own: what a relying party's verifier must
refuse, and RSA seals (RS256), with a small CA made here."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from keystore.signers import LoadedKeySigner, PrivateKey
from seals.assertions import (
    AssertionAlgorithm,
    AssertionExpired,
    AssertionInvalid,
    AssertionWrongAudience,
    LoginClaims,
    NonceMismatch,
    PyhankoJwsSigner,
    make_assertion,
    verify_assertion,
)
from seals.license import LicenseStatus

USCC = "91110108551385082Q"
OTHER = "914403001922038216"


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@dataclass
class Ca:
    root: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    now: datetime

    def seal(
        self, key: PrivateKey, *, title: str = "企业法定名称章", uscc: str = USCC, days: int = 30
    ) -> x509.Certificate:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "北京示例科技有限公司"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, uscc),
                x509.NameAttribute(NameOID.TITLE, title),
                x509.NameAttribute(NameOID.COMMON_NAME, f"北京示例科技有限公司·{title}"),
            ]
        )
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - timedelta(days=1))
            .not_valid_after(self.now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )


def _ca(now: datetime, name: str = "Test Root") -> Ca:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    root = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Ca(root, key, now)


def _claims(now: datetime, serial: int, **changes: object) -> LoginClaims:
    values: dict[str, object] = {
        "issuer": "https://eseal.example",
        "uscc": USCC,
        "name": "北京示例科技有限公司",
        "license_status": LicenseStatus.ACTIVE,
        "audience": "rp-1",
        "audience_name": "示例银行 · 对公开户系统",
        "nonce": "nonce-0123456789abcdef",
        "purpose": "登录",
        "issued_at": now,
        "expires_at": now + timedelta(minutes=5),
        "token_id": "challenge-1",
        "seal_serial": format(serial, "x"),
        "seal_version": 1,
    }
    values.update(changes)
    return LoginClaims(**values)  # type: ignore[arg-type]


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ca(now: datetime) -> Ca:
    return _ca(now)


async def _token(ca: Ca, key: PrivateKey, cert: x509.Certificate, **changes: object) -> str:
    signer = PyhankoJwsSigner(LoadedKeySigner(key, _asn1(cert), [_asn1(ca.root)]), [_asn1(ca.root)])
    return await make_assertion(_claims(ca.now, cert.serial_number, **changes), signer)


def _header(token: str) -> dict[str, object]:
    part = token.split(".")[0]
    value: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64der(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _resigned(token: str, key: ec.EllipticCurvePrivateKey, header: dict[str, object] | str) -> str:
    """``token`` with another header, signed again by the seal's key: a refusal is then the
    header's doing, not a broken signature's."""
    payload = token.split(".")[1]
    text = header if isinstance(header, str) else json.dumps(header)
    signing_input = f"{_b64(text.encode())}.{payload}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


async def test_an_rsa_seal_signs_rs256(ca: Ca, now: datetime) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = await _token(ca, key, ca.seal(key))
    assert _header(token)["alg"] == "RS256"
    checked = verify_assertion(
        token, [_asn1(ca.root)], now=now, audience="rp-1", nonce="nonce-0123456789abcdef"
    )
    assert checked.algorithm is AssertionAlgorithm.RS256 and checked.claims.uscc == USCC


async def test_what_a_verifier_refuses(ca: Ca, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.seal(key)
    token = await _token(ca, key, cert)
    anchors = [_asn1(ca.root)]
    assert verify_assertion(token, anchors, now=now).algorithm is AssertionAlgorithm.ES256

    def refused(
        bad: str, error: type[Exception] = AssertionInvalid, match: str | None = None, **kw: object
    ) -> None:
        with pytest.raises(error, match=match):
            verify_assertion(bad, anchors, now=kw.pop("at", now), **kw)  # type: ignore[arg-type]

    header = _header(token)
    assert verify_assertion(_resigned(token, key, header), anchors, now=now)  # re-signing works
    refused(_resigned(token, key, {**header, "alg": "RS256"}), match="does not sign RS256")
    refused(_resigned(token, key, {**header, "alg": "none"}), match="alg")
    refused(_resigned(token, key, {**header, "typ": "JWT"}), match="typ")
    refused(_resigned(token, key, {**header, "crit": ["exp"]}), match="crit")
    refused(_resigned(token, key, {**header, "jwk": {"kty": "EC"}}), match="jwk")
    # the root in the leaf's place: trusted, but not the key that signed
    refused(_resigned(token, key, {**header, "x5c": [_b64der(ca.root)]}), match="signature")
    x5c = json.dumps(header["x5c"])
    twice = f'{{"alg":"ES256","alg":"ES256","typ":"eseal-login+jwt","x5c":{x5c}}}'
    refused(_resigned(token, key, twice), match="twice")
    refused(token.split(".")[0] + "=." + ".".join(token.split(".")[1:]), match="base64url")
    refused(token + "x")  # the signature changed
    # a root it does not trust, an expired seal certificate, another kind of seal
    with pytest.raises(AssertionInvalid):
        verify_assertion(token, [_asn1(_ca(now, "Other Root").root)], now=now)
    refused(token, at=now + timedelta(days=31))
    contract = ca.seal(key, title="合同专用章")
    refused(await _token(ca, key, contract))
    refused(await _token(ca, key, cert, uscc=OTHER))  # the claim names another enterprise
    refused(await _token(ca, key, cert, seal_serial="1"))  # not the signing certificate
    refused(await _token(ca, key, cert, issued_at=now + timedelta(hours=1)))
    # time, audience and nonce have codes of their own
    refused(token, AssertionExpired, at=now + timedelta(minutes=5))
    refused(token, AssertionWrongAudience, audience="rp-2")
    refused(token, NonceMismatch, nonce="another-nonce-0123456")
