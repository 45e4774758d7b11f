"""Bouncy Castle checks the SM2 services: OCSP answers of the SM2 responder, SM2 TSA tokens.

``TspCheck.java`` (beside this file) is compiled once per session with Bouncy Castle's provider,
PKIX and utility jars (Debian ``libbcprov-java``, ``libbcpkix-java``, ``libbcutil-java``;
``BCPROV_JAR``, ``BCPKIX_JAR``, ``BCUTIL_JAR`` override).  A missing JDK or jar skips these
tests, and fails them in CI (``helpers.unavailable``).
"""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from interop.tspcheck import TspCheck, compile_tspcheck

from helpers import require_tool
from keystore import sm2
from keystore.masterkey import MasterKey
from keystore.pki import CertStatus, InternalPki
from keystore.sm2_ocsp import ocsp_response
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore
from keystore.tsa import SM2_TSA_POLICY, Sm2TsaKey, TimeStampAuthority, TimeStampResp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tsp_check(tmp_path_factory: pytest.TempPathFactory) -> TspCheck:
    return compile_tspcheck(tmp_path_factory.mktemp("tspcheck"))


@pytest.fixture
def sm2_pki(tmp_path: Path) -> Sm2Pki:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    pki = Sm2Pki(store, tmp_path / "sm2", "https://eseal.example.cn")
    pki.ensure()
    return pki


def _cert_id(pki: Sm2Pki, serial: int) -> dict[str, object]:
    ca = pki.certificate("issuing")
    key = bytes(ca["tbs_certificate"]["subject_public_key_info"]["public_key"])
    return {
        "hash_algorithm": {"algorithm": "sha256"},
        "issuer_name_hash": hashlib.sha256(ca.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha256(key).digest(),
        "serial_number": serial,
    }


def test_bouncy_castle_verifies_the_sm2_ocsp_answer(
    sm2_pki: Sm2Pki, tmp_path: Path, tsp_check: TspCheck
) -> None:
    tsa_serial = sm2_pki.certificate("tsa").serial_number
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [
                    {"req_cert": _cert_id(sm2_pki, serial)} for serial in (tsa_serial, 0x51, 0x52)
                ]
            }
        }
    )
    statuses = {0x51: CertStatus()}
    response = tmp_path / "resp.der"
    response.write_bytes(ocsp_response(sm2_pki, request.dump(), statuses.get))
    done = tsp_check(
        "ocsp", response, tmp_path / "sm2" / "issuing.pem", tmp_path / "sm2" / "root.pem"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[:3] == [
        f"status {tsa_serial:x} good",
        "status 51 good",
        "status 52 unknown",
    ]
    assert "ocsp signature OK: 1.2.156.10197.1.501" in done.stdout

    # one flipped bit in the signature (still DER, r and s in range): Bouncy Castle refuses it
    der = bytearray(response.read_bytes())
    basic = asn1_ocsp.OCSPResponse.load(bytes(der))["response_bytes"]["response"].parsed
    signature = bytes(basic["signature"])
    der[bytes(der).index(signature) + len(signature) - 1] ^= 0x01
    response.write_bytes(bytes(der))
    done = tsp_check(
        "ocsp", response, tmp_path / "sm2" / "issuing.pem", tmp_path / "sm2" / "root.pem"
    )
    assert done.returncode == 1 and done.stdout.startswith("FAIL"), done.stdout


# -- SM2 time-stamp tokens ------------------------------------------------------------------

DATA = "合同专用章 — data to timestamp".encode()


def _tsa(tmp_path: Path, sm2_pki: Sm2Pki, sm2_key: Sm2TsaKey | None = None) -> TimeStampAuthority:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    ecdsa = InternalPki(store, tmp_path / "pki", "https://eseal.example.cn")
    ecdsa.create()
    signer = ecdsa.tsa_signer()
    return TimeStampAuthority(
        signer,
        signer.signing_cert,
        ecdsa.chain(),
        sm2=sm2_key
        or Sm2TsaKey(sm2_pki.service_signer("tsa"), sm2_pki.certificate("tsa"), sm2_pki.chain()),
    )


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


async def _openssl_query_and_reply(
    tmp_path: Path, tsa: TimeStampAuthority, *, cert_req: bool = True
) -> Path:
    data = tmp_path / "data.bin"
    data.write_bytes(DATA)
    query = tmp_path / "query.tsq"
    made = _openssl(
        "ts", "-query", "-data", data, "-sm3", *(["-cert"] if cert_req else []), "-out", query
    )
    assert made.returncode == 0, made.stderr
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(await tsa.respond(query.read_bytes()))
    return reply


async def test_bouncy_castle_validates_the_sm2_token(
    sm2_pki: Sm2Pki, tmp_path: Path, tsp_check: TspCheck
) -> None:
    reply = await _openssl_query_and_reply(tmp_path, _tsa(tmp_path, sm2_pki))
    sm2_dir = tmp_path / "sm2"
    done = tsp_check(
        "tsp",
        reply,
        tmp_path / "data.bin",
        sm2_dir / "tsa.pem",
        sm2_dir / "issuing.pem",
        sm2_dir / "root.pem",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(
        "token OK: digest 1.2.156.10197.1.401, signature 1.2.156.10197.1.501"
    ), done.stdout

    # other data, or one flipped bit in the signature: Bouncy Castle refuses the token
    (tmp_path / "other.bin").write_bytes(DATA + b".")
    done = tsp_check(
        "tsp",
        reply,
        tmp_path / "other.bin",
        sm2_dir / "tsa.pem",
        sm2_dir / "issuing.pem",
        sm2_dir / "root.pem",
    )
    assert done.returncode == 1 and "not the SM3 digest" in done.stdout
    der = bytearray(reply.read_bytes())
    signature = bytes(
        TimeStampResp.load(bytes(der))["time_stamp_token"]["content"]["signer_infos"][0][
            "signature"
        ]
    )
    der[bytes(der).index(signature) + len(signature) - 1] ^= 0x01
    reply.write_bytes(bytes(der))
    done = tsp_check(
        "tsp",
        reply,
        tmp_path / "data.bin",
        sm2_dir / "tsa.pem",
        sm2_dir / "issuing.pem",
        sm2_dir / "root.pem",
    )
    assert done.returncode == 1 and done.stdout.startswith("FAIL"), done.stdout


async def test_openssl_reads_the_sm2_token_and_verifies_its_signature(
    sm2_pki: Sm2Pki, tmp_path: Path
) -> None:
    reply = await _openssl_query_and_reply(tmp_path, _tsa(tmp_path, sm2_pki))
    text = _openssl("ts", "-reply", "-in", reply, "-text")
    assert "Status: Granted." in text.stdout
    assert "Hash Algorithm: sm3" in text.stdout
    assert f"Policy OID: {SM2_TSA_POLICY}" in text.stdout
    assert "TSA: DirName:/C=CN/O=eseal/CN=eseal SM2 TSA" in text.stdout
    # the token's signature: SM3(Z || DER(signedAttrs)) with the default id, as GM/T 0009 says
    signer_info = TimeStampResp.load(reply.read_bytes())["time_stamp_token"]["content"][
        "signer_infos"
    ][0]
    (tmp_path / "attrs.der").write_bytes(signer_info["signed_attrs"].untag().dump())
    (tmp_path / "attrs.sig").write_bytes(bytes(signer_info["signature"]))
    (tmp_path / "tsa-pub.der").write_bytes(sm2_pki.certificate("tsa").public_key.dump())
    verified = _openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        tmp_path / "tsa-pub.der",
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:1234567812345678",
        "-in",
        tmp_path / "attrs.der",
        "-sigfile",
        tmp_path / "attrs.sig",
    )
    assert "Signature Verified Successfully" in verified.stdout, verified.stderr


class _WithoutZ(sm2.Sm2Signer):
    """Signs SM3(message) with no Z at all: what OpenSSL 3.0's PKCS7 code verifies."""

    def __init__(self, key: sm2.Sm2PrivateKey) -> None:
        self._raw = key

    @property
    def public_key(self) -> sm2.Sm2PublicKey:
        return self._raw.public

    def sign(
        self,
        message: bytes,
        *,
        user_id: bytes = sm2.DEFAULT_USER_ID,
        digest_algorithm: str = sm2.NAME_SM3,
    ) -> bytes:
        return self._raw.sign_digest(sm2.sm3(message))


def _self_signed_tsa(key: sm2.Sm2PrivateKey) -> asn1_x509.Certificate:
    name = asn1_x509.Name.build({"country_name": "CN", "common_name": "test SM2 TSA"})
    now = datetime.now(UTC).replace(microsecond=0)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": 0x7357,
            "signature": {"algorithm": "sm2_sm3"},
            "issuer": name,
            "subject": name,
            "subject_public_key_info": key.public.spki(),
            "validity": {
                "not_before": asn1_x509.Time(name="utc_time", value=now - timedelta(days=1)),
                "not_after": asn1_x509.Time(name="utc_time", value=now + timedelta(days=30)),
            },
            "extensions": [
                {"extn_id": "extended_key_usage", "critical": True, "extn_value": ["time_stamping"]}
            ],
        }
    )
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sm2_sm3"},
            "signature_value": key.sign(tbs.dump()),
        }
    )


async def test_openssl_ts_verify_checks_everything_but_the_sm2_user_id(
    sm2_pki: Sm2Pki, tmp_path: Path
) -> None:
    """OpenSSL 3.0's ``ts -verify`` (PKCS7 code) verifies SM2 over SM3(signedAttrs) without Z.

    So it refuses our standard token ("signature failure"), and accepts the same token signed
    without Z: everything else (imprint, ESSCertIDv2 with SM3, TSTInfo, EKU) passes OpenSSL.
    The TSA certificate is the (partial-chain) anchor: OpenSSL 3.0 cannot verify the SM2 chain
    either (it uses an empty user id there; tests/keystore/test_sm2.py).
    """
    key = sm2.Sm2PrivateKey.generate()
    cert = _self_signed_tsa(key)
    anchor = tmp_path / "tsa.pem"
    anchor.write_bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))

    def verify(reply: Path) -> subprocess.CompletedProcess[str]:
        return _openssl(
            "ts",
            "-verify",
            "-data",
            tmp_path / "data.bin",
            "-in",
            reply,
            "-CAfile",
            anchor,
            "-partial_chain",
            "-untrusted",
            anchor,
        )

    standard = _tsa(tmp_path / "a", sm2_pki, Sm2TsaKey(sm2.Sm2Signer(key), cert))
    reply = await _openssl_query_and_reply(tmp_path, standard, cert_req=False)
    done = verify(reply)
    assert done.returncode == 1 and "signature failure" in done.stderr, done.stdout

    without_z = _tsa(tmp_path / "b", sm2_pki, Sm2TsaKey(_WithoutZ(key), cert))
    reply = await _openssl_query_and_reply(tmp_path, without_z, cert_req=False)
    done = verify(reply)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
