"""keystore/csr.py: PKCS#10 requests signed through the store, checked by OpenSSL and Bouncy
Castle; the chain check of an imported certificate (CA flag, validity, signatures, SM2)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from interop.smcheck import compile_smcheck

from helpers import require_tool
from keystore import csr, sm2
from keystore.base import KeyAlgorithm
from keystore.masterkey import MasterKey
from keystore.pki import SealSubject
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore

USCC = "91110108551385082Q"
NAME = "北京字节跳动网络技术有限公司"
NOW = datetime.now(UTC)


def _store(tmp_path: Path, name: str = "keys") -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / name, MasterKey(bytes(range(32))))
    store.initialise()
    return store


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _cert(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool = True,
    not_after: datetime = NOW + timedelta(days=30),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, issuer_key = issuer or (name, key)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=2))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def test_ecdsa_request_made_through_the_store_passes_openssl_req_verify(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ref = store.generate(USCC, "contract", KeyAlgorithm.EC_P256)
    key = ec.generate_private_key(ec.SECP256R1())  # a placeholder certificate for the signer
    signer = store.signer(ref, _asn1(_cert("placeholder", key)), [])
    subject = SealSubject(NAME, USCC, "合同专用章").name()

    def sign(data: bytes) -> bytes:
        import asyncio

        return asyncio.run(signer.async_sign_raw(data, "sha256"))

    pem = csr.certification_request(subject, store.public_key(ref), sign)
    (tmp_path / "req.pem").write_bytes(pem)
    checked = _openssl("req", "-in", tmp_path / "req.pem", "-verify", "-noout")
    assert checked.returncode == 0, checked.stderr
    text = _openssl("req", "-in", tmp_path / "req.pem", "-noout", "-subject", "-nameopt", "utf8")
    assert f"OU={USCC}" in text.stdout.replace(" ", "")
    assert x509.load_pem_x509_csr(pem).subject == subject


def test_sm2_request_signature_verifies_in_bouncy_castle(tmp_path: Path) -> None:
    smcheck = compile_smcheck(tmp_path / "classes")
    store = _store(tmp_path)
    ref = store.generate(USCC, "official-sm2", KeyAlgorithm.SM2)
    pem = csr.certification_request(
        SealSubject(NAME, USCC, "企业法定名称章").name(),
        store.public_key(ref),
        store.sm2_signer(ref).sign,
    )
    request = asn1_csr.CertificationRequest.load(asn1_pem.unarmor(pem)[2])
    assert request["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    info = request["certification_request_info"]
    (tmp_path / "spki.der").write_bytes(info["subject_pk_info"].dump())
    (tmp_path / "info.der").write_bytes(info.dump())
    (tmp_path / "sig.der").write_bytes(bytes(request["signature"]))
    done = smcheck("sig", tmp_path / "spki.der", tmp_path / "info.der", tmp_path / "sig.der")
    assert done.returncode == 0, done.stdout + done.stderr


def test_chain_is_followed_through_intermediates_to_an_anchor() -> None:
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("Root", root_key)
    mid = _cert("Mid", mid_key, (root.subject, root_key))
    leaf = _cert("Leaf", leaf_key, (mid.subject, mid_key), ca=False)
    noise = _cert("Noise", ec.generate_private_key(ec.SECP256R1()))
    path = csr.check_chain(_asn1(leaf), [_asn1(noise), _asn1(mid), _asn1(root)], [_asn1(root)], NOW)
    assert [c.subject.native["common_name"] for c in path] == ["Leaf", "Mid", "Root"]

    with pytest.raises(csr.ImportRefused) as refused:
        csr.check_chain(_asn1(leaf), [], [_asn1(root)], NOW)  # the intermediate is missing
    assert refused.value.code == "certificate_untrusted"

    not_ca = _cert("Mid", mid_key, (root.subject, root_key), ca=False)
    with pytest.raises(csr.ImportRefused) as refused:
        csr.check_chain(_asn1(leaf), [_asn1(not_ca)], [_asn1(root)], NOW)
    assert refused.value.code == "certificate_untrusted"

    expired = _cert("Mid", mid_key, (root.subject, root_key), not_after=NOW - timedelta(days=1))
    with pytest.raises(csr.ImportRefused) as refused:
        csr.check_chain(_asn1(leaf), [_asn1(expired)], [_asn1(root)], NOW)
    assert refused.value.code == "certificate_not_valid_now"

    with pytest.raises(csr.ImportRefused) as refused:
        csr.check_chain(_asn1(leaf), [_asn1(mid)], [], NOW)
    assert refused.value.code == "certificate_untrusted"


def test_sm2_chain_of_another_sm2_ca_is_checked_link_by_link(tmp_path: Path) -> None:
    ca_store = _store(tmp_path, "ca")
    ca = Sm2Pki(ca_store, tmp_path / "sm2", "http://ca.example", organisation="测试国密认证中心")
    ca.ensure()
    # the CA starts now (not at collection time, which NOW is): check the chain after it
    now = datetime.now(UTC) + timedelta(seconds=1)
    key = sm2.Sm2PrivateKey.generate().public.spki()
    leaf = ca.issue_seal_certificate(
        key,
        SealSubject(NAME, USCC, "合同专用章"),
        not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=10),
    )
    path = csr.check_chain(leaf, [ca.certificate("issuing")], [ca.certificate("root")], now)
    assert len(path) == 3
    csr.check_certificate_key(leaf, key)
    with pytest.raises(csr.ImportRefused) as refused:
        csr.check_certificate_key(leaf, sm2.Sm2PrivateKey.generate().public.spki())
    assert refused.value.code == "certificate_key_mismatch"

    other = Sm2Pki(_store(tmp_path, "o"), tmp_path / "o-sm2", "http://o.example", organisation="X")
    other.ensure()
    with pytest.raises(csr.ImportRefused) as refused:
        csr.check_chain(leaf, [other.certificate("issuing")], [other.certificate("root")], now)
    assert refused.value.code == "certificate_untrusted"
