"""Bouncy Castle on the SM2 seal maker and on SM2 services after a rotation.

* the seal maker's (制章者) chain (SM2 root → SM2 seal CA → seal maker) validates as PKIX and
  what the maker signs verifies as SM3withSM2 with the default user id;
* a token the SM2 TSA made before its rotation validates with the retired certificate, one
  made after with the new one (and not with the old), and the new OCSP responder's answer says
  good for both TSA certificates.

``SmCheck.java`` and ``TspCheck.java`` are the programs the other interop tests use.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from interop.smcheck import SmCheck
from interop.tspcheck import TspCheck, compile_tspcheck

from keystore import sm2
from keystore.masterkey import MasterKey
from keystore.pki import InternalPki
from keystore.sm2_ocsp import ocsp_response
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore
from keystore.tsa import Sm2TsaKey, TimeStampAuthority, TimeStampResp

pytestmark = pytest.mark.slow

URL = "https://eseal.example.cn"
DATA = "合同专用章 — timestamped data".encode()
SEAL_INFO = "SES_SealInfo DER: ES v4 合同专用章".encode()


@pytest.fixture(scope="module")
def tsp_check(tmp_path_factory: pytest.TempPathFactory) -> TspCheck:
    return compile_tspcheck(tmp_path_factory.mktemp("tspcheck"))


def _store(tmp_path: Path) -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    return store


def _pki(tmp_path: Path) -> Sm2Pki:
    pki = Sm2Pki(_store(tmp_path), tmp_path / "sm2", URL)
    pki.ensure()
    return pki


def _pem(path: Path, cert: asn1_x509.Certificate) -> Path:
    path.write_bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))
    return path


def test_bouncy_castle_validates_the_seal_maker_chain_and_signature(
    tmp_path: Path, bouncy_castle: SmCheck
) -> None:
    pki = _pki(tmp_path)
    maker = pki.seal_maker()
    root = _pem(tmp_path / "root.pem", pki.certificate("root"))
    issuing = _pem(tmp_path / "issuing.pem", maker.chain[0])
    leaf = _pem(tmp_path / "maker.pem", maker.certificate)
    done = bouncy_castle("chain", root, issuing, leaf)
    assert done.returncode == 0 and done.stdout.strip() == "chain OK: SM3WITHSM2", done.stdout
    # under the wrong CA it does not
    assert bouncy_castle("chain", root, root, leaf).returncode == 1

    pub = tmp_path / "pub.der"
    pub.write_bytes(maker.certificate.public_key.dump())
    (tmp_path / "msg.bin").write_bytes(SEAL_INFO)
    (tmp_path / "msg.sig").write_bytes(maker.signer.sign(SEAL_INFO))
    done = bouncy_castle("sig", pub, tmp_path / "msg.bin", tmp_path / "msg.sig")
    assert done.returncode == 0 and done.stdout.strip() == "signature OK", done.stdout

    # after a rotation the new seal maker's chain validates as well
    rotated = _pem(tmp_path / "maker2.pem", pki.rotate("maker"))
    done = bouncy_castle("chain", root, issuing, rotated)
    assert done.returncode == 0, done.stdout


def _tsa(tmp_path: Path, pki: Sm2Pki) -> TimeStampAuthority:
    ecdsa = InternalPki(_store(tmp_path), tmp_path / "pki", URL)
    if not ecdsa.exists:
        ecdsa.create()
    ecdsa.load()
    signer = ecdsa.tsa_signer()
    return TimeStampAuthority(
        signer,
        signer.signing_cert,
        ecdsa.chain(),
        sm2=Sm2TsaKey(pki.service_signer("tsa"), pki.certificate("tsa"), pki.chain()),
    )


async def _reply(tsa: TimeStampAuthority, path: Path) -> Path:
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "cert_req": True,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sm3"},
                "hashed_message": sm2.sm3(DATA),
            },
        }
    )
    response = await tsa.respond(request.dump())
    assert TimeStampResp.load(response)["status"]["status"].native == "granted"
    path.write_bytes(response)
    return path


async def test_bouncy_castle_after_a_tsa_and_responder_rotation(
    tmp_path: Path, tsp_check: TspCheck
) -> None:
    pki = _pki(tmp_path)
    data = tmp_path / "data.bin"
    data.write_bytes(DATA)
    old_tsa = pki.certificate("tsa")
    before = await _reply(_tsa(tmp_path, pki), tmp_path / "before.tsr")
    pki.rotate("tsa")
    pki.rotate("ocsp")
    pki = _pki(tmp_path)  # a restarted server
    new_tsa = pki.certificate("tsa")
    after = await _reply(_tsa(tmp_path, pki), tmp_path / "after.tsr")

    directory = tmp_path / "sm2"
    retired = directory / f"tsa-{old_tsa.serial_number:x}.pem"
    issuing, root = directory / "issuing.pem", directory / "root.pem"

    def check(reply: Path, tsa_pem: Path) -> str:
        done = tsp_check("tsp", reply, data, tsa_pem, issuing, root)
        return done.stdout

    assert check(before, retired).startswith("token OK: digest 1.2.156.10197.1.401")
    assert check(after, directory / "tsa.pem").startswith("token OK: digest 1.2.156.10197.1.401")
    # each token is bound to its own certificate (ESSCertIDv2, signature)
    assert check(before, directory / "tsa.pem").startswith("FAIL")
    assert check(after, retired).startswith("FAIL")

    # the new responder answers good for both TSA certificates; Bouncy Castle checks its
    # certificate's path to the SM2 root, its OCSPSigning EKU and the SM2 signature
    ca = pki.certificate("issuing")
    key = bytes(ca["tbs_certificate"]["subject_public_key_info"]["public_key"])
    cert_id = {
        "hash_algorithm": {"algorithm": "sha256"},
        "issuer_name_hash": hashlib.sha256(ca.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha256(key).digest(),
    }
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [
                    {"req_cert": {**cert_id, "serial_number": cert.serial_number}}
                    for cert in (old_tsa, new_tsa)
                ]
            }
        }
    )
    answer = tmp_path / "ocsp.der"
    answer.write_bytes(ocsp_response(pki, request.dump(), lambda serial: None))
    done = tsp_check("ocsp", answer, issuing, root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[:2] == [
        f"status {old_tsa.serial_number:x} good",
        f"status {new_tsa.serial_number:x} good",
    ]
    responder_key_id = hashlib.sha1(
        bytes(pki.certificate("ocsp")["tbs_certificate"]["subject_public_key_info"]["public_key"]),
        usedforsecurity=False,
    ).hexdigest()
    assert f"responder key id {responder_key_id}" in done.stdout
    assert pki.retired("ocsp")[0].serial_number != pki.certificate("ocsp").serial_number
