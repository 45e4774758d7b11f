"""Fixtures for the key store tests: a fresh SoftHSM2 token and a throwaway CA."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from helpers import require_tool, unavailable

# where distributions install the SoftHSM2 module; SOFTHSM2_MODULE overrides
_SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

USER_PIN = "eseal-pin-73915"
SO_PIN = "eseal-so-pin-48210"


@dataclass(frozen=True)
class SoftHsm:
    module: str
    token_label: str  #: the token the tests use
    spare_label: str  #: a second token that no test logs in to with the right PIN
    user_pin: str
    so_pin: str


def _find_module() -> str | None:
    override = os.environ.get("SOFTHSM2_MODULE")
    if override:
        return override if os.path.exists(override) else None
    return next((path for path in _SOFTHSM_MODULES if os.path.exists(path)), None)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """Two fresh SoftHSM2 tokens in a temporary directory.

    SOFTHSM2_CONF is set for the whole process before any test loads the module (SoftHSM2
    reads it once, in C_Initialize).
    """
    module = _find_module()
    if module is None:
        unavailable("the SoftHSM2 module is not installed (Debian/Ubuntu package: softhsm2)")
    require_tool("softhsm2-util")
    util = shutil.which("softhsm2-util")
    assert util is not None

    import pkcs11

    loaded = getattr(pkcs11, "_loaded", {})
    if module in loaded or os.path.realpath(module) in loaded:
        pytest.fail("the SoftHSM2 module was loaded before the token fixture set SOFTHSM2_CONF")

    root = tmp_path_factory.mktemp("softhsm")
    tokens = root / "tokens"
    tokens.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    hsm = SoftHsm(
        module=module,
        token_label="eseal-test",
        spare_label="eseal-spare",
        user_pin=USER_PIN,
        so_pin=SO_PIN,
    )
    credentials = ("--so-pin", SO_PIN, "--pin", USER_PIN)
    for label in (hsm.token_label, hsm.spare_label):
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, *credentials],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
    yield hsm
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@dataclass(frozen=True)
class ThrowawayCa:
    certificate: asn1_x509.Certificate
    issue: Callable[[asn1_keys.PublicKeyInfo, str], asn1_x509.Certificate]


@pytest.fixture(scope="session")
def throwaway_ca() -> ThrowawayCa:
    """A root CA in memory that issues seal-like certificates for any public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.COMMON_NAME, "eseal test root"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )

    def issue(public: asn1_keys.PublicKeyInfo, common_name: str) -> asn1_x509.Certificate:
        subject_key = serialization.load_der_public_key(public.dump())
        assert isinstance(subject_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "测试有限公司"),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    ]
                )
            )
            .issuer_name(name)
            .public_key(subject_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    return ThrowawayCa(
        certificate=asn1_x509.Certificate.load(ca_cert.public_bytes(serialization.Encoding.DER)),
        issue=issue,
    )
