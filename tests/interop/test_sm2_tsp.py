"""Bouncy Castle checks the SM2 services: OCSP answers of the SM2 responder, SM2 TSA tokens.

``TspCheck.java`` (beside this file) is compiled once per session with Bouncy Castle's provider,
PKIX and utility jars (Debian ``libbcprov-java``, ``libbcpkix-java``, ``libbcutil-java``;
``BCPROV_JAR``, ``BCPKIX_JAR``, ``BCUTIL_JAR`` override).  A missing JDK or jar skips these
tests, and fails them in CI (``helpers.unavailable``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp

from helpers import require_tool, unavailable
from keystore.masterkey import MasterKey
from keystore.pki import CertStatus
from keystore.sm2_ocsp import ocsp_response
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore

SOURCE = Path(__file__).with_name("TspCheck.java")
JARS = [Path(os.environ.get(variable, f"/usr/share/java/{name}.jar"))
        for variable, name in (("BCPROV_JAR", "bcprov"), ("BCPKIX_JAR", "bcpkix"),
                               ("BCUTIL_JAR", "bcutil"))]

TspCheck = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def tsp_check(tmp_path_factory: pytest.TempPathFactory) -> TspCheck:
    require_tool("javac", "java")
    for jar in JARS:
        if not jar.is_file():
            unavailable(f"Bouncy Castle jar {jar} not found (Debian: libbcprov-java, "
                        "libbcpkix-java, libbcutil-java)")
    classes = tmp_path_factory.mktemp("tspcheck")
    jars = os.pathsep.join(map(str, JARS))
    subprocess.run(["javac", "-cp", jars, "-d", str(classes), str(SOURCE)],
                   check=True, capture_output=True, text=True)

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["java", "-cp", f"{classes}{os.pathsep}{jars}", "TspCheck",
                               *map(str, args)], capture_output=True, text=True, check=False)

    return run


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
    return {"hash_algorithm": {"algorithm": "sha256"},
            "issuer_name_hash": hashlib.sha256(ca.subject.dump()).digest(),
            "issuer_key_hash": hashlib.sha256(key).digest(), "serial_number": serial}


def test_bouncy_castle_verifies_the_sm2_ocsp_answer(
        sm2_pki: Sm2Pki, tmp_path: Path, tsp_check: TspCheck) -> None:
    tsa_serial = sm2_pki.certificate("tsa").serial_number
    request = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [
        {"req_cert": _cert_id(sm2_pki, serial)} for serial in (tsa_serial, 0x51, 0x52)]}})
    statuses = {0x51: CertStatus()}
    response = tmp_path / "resp.der"
    response.write_bytes(ocsp_response(sm2_pki, request.dump(), statuses.get))
    done = tsp_check("ocsp", response, tmp_path / "sm2" / "issuing.pem",
                     tmp_path / "sm2" / "root.pem")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[:3] == [f"status {tsa_serial:x} good", "status 51 good",
                                            "status 52 unknown"]
    assert "ocsp signature OK: 1.2.156.10197.1.501" in done.stdout

    # one flipped bit in the signature (still DER, r and s in range): Bouncy Castle refuses it
    der = bytearray(response.read_bytes())
    basic = asn1_ocsp.OCSPResponse.load(bytes(der))["response_bytes"]["response"].parsed
    signature = bytes(basic["signature"])
    der[bytes(der).index(signature) + len(signature) - 1] ^= 0x01
    response.write_bytes(bytes(der))
    done = tsp_check("ocsp", response, tmp_path / "sm2" / "issuing.pem",
                     tmp_path / "sm2" / "root.pem")
    assert done.returncode == 1 and done.stdout.startswith("FAIL"), done.stdout
