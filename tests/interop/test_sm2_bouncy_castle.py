"""Bouncy Castle verifies what eseal signs with SM2: signatures, the certificate chain, CRLs."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from keystore import sm2
from keystore.base import KeyAlgorithm
from keystore.masterkey import MasterKey
from keystore.pki import RevokedCert, SealSubject
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore

pytestmark = pytest.mark.slow

MESSAGE = "合同专用章 signed attributes".encode()
#: the ``bouncy_castle`` fixture of tests/interop/conftest.py
SmCheck = Callable[..., subprocess.CompletedProcess[str]]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _cert(path: Path, cert: asn1_x509.Certificate) -> Path:
    return _write(path, bytes(asn1_pem.armor("CERTIFICATE", cert.dump())))


def test_bouncy_castle_verifies_our_signature_and_rejects_another_user_id(
    tmp_path: Path, bouncy_castle: SmCheck
) -> None:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    signer = store.sm2_signer(store.generate("scope", "seal", KeyAlgorithm.SM2))
    pub = _write(tmp_path / "pub.der", signer.public_key.spki_der())
    msg = _write(tmp_path / "msg.bin", MESSAGE)
    good = _write(tmp_path / "good.sig", signer.sign(MESSAGE))
    done = bouncy_castle("sig", pub, msg, good)
    assert done.returncode == 0 and done.stdout.strip() == "signature OK", done.stdout
    other_id = _write(tmp_path / "other.sig", signer.sign(MESSAGE, user_id=b"ALICE123@YAHOO.COM"))
    done = bouncy_castle("sig", pub, msg, other_id)
    assert done.returncode == 1 and "does not verify" in done.stdout


def test_bouncy_castle_validates_the_chain_and_the_crl(
    tmp_path: Path, bouncy_castle: SmCheck
) -> None:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    ca = Sm2Pki(store, tmp_path / "pki-sm2", "https://eseal.example.cn")
    ca.create()
    ref = store.generate("91110108551385082Q", "contract", KeyAlgorithm.SM2)
    now = datetime.now(UTC)
    seal = ca.issue_seal_certificate(
        store.public_key(ref),
        SealSubject("北京测试科技有限公司", "91110108551385082Q", "合同专用章"),
        not_before=now,
        not_after=now + timedelta(days=365),
    )
    root = _cert(tmp_path / "root.pem", ca.certificate("root"))
    issuing = _cert(tmp_path / "issuing.pem", ca.certificate("issuing"))
    for leaf in (seal, ca.certificate("tsa"), ca.certificate("ocsp")):
        done = bouncy_castle("chain", root, issuing, _cert(tmp_path / "leaf.pem", leaf))
        assert done.returncode == 0, done.stdout
        assert done.stdout.strip() == "chain OK: SM3WITHSM2"
    # a seal certificate presented under the wrong CA does not validate
    done = bouncy_castle("chain", root, root, _cert(tmp_path / "leaf.pem", seal))
    assert done.returncode == 1

    crl = _write(
        tmp_path / "crl.der",
        ca.crl([RevokedCert(seal.serial_number, now, x509.ReasonFlags.superseded)]),
    )
    done = bouncy_castle("crl", issuing, crl)
    assert done.returncode == 0 and done.stdout.strip() == "crl OK: 1 revoked", done.stdout
    assert bouncy_castle("crl", root, crl).returncode == 1
    # and the signature algorithm BC read is the national one
    assert seal["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
