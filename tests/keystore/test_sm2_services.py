"""The SM2 PKI as a service: made once (at init or on an older data dir's start), crash-safe.

OCSP answers signed with SM2 and the SM2 time-stamping authority are checked further down
and, by Bouncy Castle and OpenSSL, in ``tests/interop/test_sm2_tsp.py``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from helpers import require_tool
from keystore import sm2
from keystore.base import KeyAlgorithm
from keystore.errors import MasterKeyError
from keystore.masterkey import MasterKey
from keystore.pki import CertStatus, InternalPki
from keystore.sm2_ocsp import is_for_sm2_ca, ocsp_response
from keystore.sm2_pki import ROLES, SCOPE, Sm2Pki, verify_certificate_signature
from keystore.soft import SoftKeyStore
from keystore.tsa import (
    DEFAULT_TSA_POLICY,
    SM2_TSA_POLICY,
    Sm2TsaKey,
    TimeStampAuthority,
    TimeStampResp,
)

MASTER = bytes(range(32))
URL = "https://eseal.example.cn"


def _store(tmp_path: Path, key: bytes = MASTER) -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(key))
    store.initialise()
    return store


def _pem_files(directory: Path) -> dict[str, bytes]:
    return {role: (directory / f"{role}.pem").read_bytes() for role in ROLES}


def test_ensure_creates_once_then_loads_the_same_pki(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = Sm2Pki(store, tmp_path / "pki" / "sm2", URL)
    assert first.ensure() is True
    made = _pem_files(tmp_path / "pki" / "sm2")

    # a restart: a new store object and a new PKI object over the same directories
    again = Sm2Pki(_store(tmp_path), tmp_path / "pki" / "sm2", URL)
    assert again.ensure() is False
    assert _pem_files(tmp_path / "pki" / "sm2") == made
    assert again.certificate("tsa").dump() == first.certificate("tsa").dump()
    # the loaded keys are the certified ones: the seal CA still signs what the root accepts
    verify_certificate_signature(again.certificate("ocsp"), again.certificate("issuing"))
    assert (
        again.service_signer("ocsp").public_key.spki_der()
        == again.certificate("ocsp")["tbs_certificate"]["subject_public_key_info"].dump()
    )


def test_ensure_after_a_crash_before_the_manifest_starts_over(tmp_path: Path) -> None:
    store = _store(tmp_path)
    directory = tmp_path / "sm2"
    # an interrupted creation: two keys made and a PEM written, no sm2-pki.json
    store.generate(SCOPE, "root", KeyAlgorithm.SM2)
    store.generate(SCOPE, "issuing", KeyAlgorithm.SM2)
    directory.mkdir()
    (directory / "root.pem").write_bytes(b"half a certificate")

    pki = Sm2Pki(store, directory, URL)
    assert not pki.exists
    assert pki.ensure() is True
    manifest = json.loads((directory / "sm2-pki.json").read_text())
    assert sorted(manifest["keys"]) == sorted(ROLES)
    assert (directory / "root.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    verify_certificate_signature(pki.certificate("issuing"), pki.certificate("root"))
    assert not list(directory.glob(".*.tmp"))
    # and a restart loads what was made
    assert Sm2Pki(_store(tmp_path), directory, URL).ensure() is False


def test_ensure_from_two_threads_makes_one_pki(tmp_path: Path) -> None:
    _store(tmp_path)
    results: list[bool] = []
    errors: list[BaseException] = []

    def start() -> None:  # as two server processes starting at once: own store objects
        try:
            store = SoftKeyStore(tmp_path / "keys", MasterKey(MASTER))
            results.append(Sm2Pki(store, tmp_path / "sm2", URL).ensure())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [False, True]


def test_ensure_with_the_wrong_master_key_fails_and_keeps_the_pki(tmp_path: Path) -> None:
    directory = tmp_path / "sm2"
    Sm2Pki(_store(tmp_path), directory, URL).ensure()
    made = _pem_files(directory)
    wrong = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(32)))
    with pytest.raises(MasterKeyError):
        Sm2Pki(wrong, directory, URL).ensure()
    assert _pem_files(directory) == made


# -- OCSP answers signed with SM2 -------------------------------------------------------------


def _ocsp_request(
    pki: Sm2Pki,
    *serials: int,
    hash_name: str = "sha1",
    ca: asn1_x509.Certificate | None = None,
    nonce: bytes | None = None,
) -> bytes:
    issuer = ca or pki.certificate("issuing")
    digest = {
        "sha1": lambda d: hashlib.sha1(d, usedforsecurity=False).digest(),
        "sha256": lambda d: hashlib.sha256(d).digest(),
        "sm3": sm2.sm3,
    }[hash_name]
    cert_id = {
        "hash_algorithm": {"algorithm": hash_name},
        "issuer_name_hash": digest(issuer.subject.dump()),
        "issuer_key_hash": digest(
            bytes(issuer["tbs_certificate"]["subject_public_key_info"]["public_key"])
        ),
    }
    tbs: dict[str, object] = {
        "request_list": [{"req_cert": {**cert_id, "serial_number": s}} for s in serials]
    }
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": nonce}]
    return bytes(asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump())


def _basic(response_der: bytes) -> asn1_ocsp.BasicOCSPResponse:
    response = asn1_ocsp.OCSPResponse.load(response_der)
    assert response["response_status"].native == "successful"
    return response["response_bytes"]["response"].parsed


@pytest.fixture
def sm2_pki(tmp_path: Path) -> Sm2Pki:
    pki = Sm2Pki(_store(tmp_path), tmp_path / "sm2", URL)
    pki.ensure()
    return pki


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sm3"])
def test_ocsp_answers_are_signed_by_the_sm2_responder(sm2_pki: Sm2Pki, hash_name: str) -> None:
    tsa_serial = sm2_pki.certificate("tsa").serial_number
    revoked_at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    statuses = {7: CertStatus(), 8: CertStatus(revoked_at, x509.ReasonFlags.key_compromise)}
    request = _ocsp_request(
        sm2_pki, tsa_serial, 7, 8, 9, hash_name=hash_name, nonce=bytes(range(16))
    )
    assert is_for_sm2_ca(sm2_pki, request)
    basic = _basic(ocsp_response(sm2_pki, request, statuses.get))

    assert basic["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    responder = basic["certs"][0]
    assert responder.dump() == sm2_pki.certificate("ocsp").dump()
    sm2.Sm2PublicKey.from_spki(responder.public_key).verify(
        bytes(basic["signature"]), basic["tbs_response_data"].dump()
    )
    verify_certificate_signature(responder, sm2_pki.certificate("issuing"))

    data = basic["tbs_response_data"]
    assert data["responder_id"].name == "by_key"
    answers = {r["cert_id"]["serial_number"].native: r for r in data["responses"]}
    assert [r["cert_status"].name for r in answers.values()] == [
        "good",
        "good",
        "revoked",
        "unknown",
    ]
    revoked = answers[8]["cert_status"].chosen
    assert revoked["revocation_time"].native == revoked_at
    assert revoked["revocation_reason"].native == "key_compromise"
    for answer in answers.values():
        assert answer["cert_id"]["hash_algorithm"]["algorithm"].native == hash_name
        assert answer["next_update"].native - answer["this_update"].native == timedelta(days=1)
    # the nonce comes back as the request had it: OCTET STRING of 16 bytes (RFC 8954)
    assert data["response_extensions"][0]["extn_value"].contents == b"\x04\x10" + bytes(range(16))


def test_ocsp_bad_and_foreign_requests(sm2_pki: Sm2Pki, tmp_path: Path) -> None:
    def status(der: bytes) -> str:
        return str(asn1_ocsp.OCSPResponse.load(der)["response_status"].native)

    assert (
        status(ocsp_response(sm2_pki, b"\x30\x03\x02\x01\x01", lambda s: None))
        == "malformed_request"
    )
    assert status(ocsp_response(sm2_pki, b"", lambda s: None)) == "malformed_request"
    # a CertID of another CA (here the SM2 root) is not this responder's
    root = sm2_pki.certificate("root")
    foreign = _ocsp_request(sm2_pki, 5, ca=root)
    assert not is_for_sm2_ca(sm2_pki, foreign)
    assert status(ocsp_response(sm2_pki, foreign, lambda s: None)) == "unauthorized"
    # ... nor is a request that mixes the SM2 seal CA's CertIDs with another CA's
    mixed_list = asn1_ocsp.OCSPRequest.load(_ocsp_request(sm2_pki, 5))
    mixed_list["tbs_request"]["request_list"].append(
        asn1_ocsp.OCSPRequest.load(foreign)["tbs_request"]["request_list"][0]
    )
    mixed = bytes(asn1_ocsp.OCSPRequest.load(mixed_list.dump(force=True)).dump())
    assert is_for_sm2_ca(sm2_pki, mixed)
    assert status(ocsp_response(sm2_pki, mixed, lambda s: None)) == "unauthorized"


def test_openssl_reads_the_sm2_ocsp_answer_and_verifies_its_signature(
    sm2_pki: Sm2Pki, tmp_path: Path
) -> None:
    require_tool("openssl")
    directory = tmp_path / "sm2"
    request = tmp_path / "req.der"
    # OpenSSL makes the request (SHA-256 CertIDs, with a nonce), eseal answers
    made = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(directory / "issuing.pem"),
            "-sha256",
            "-cert",
            str(directory / "tsa.pem"),
            "-serial",
            "12345",
            "-reqout",
            str(request),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    response = tmp_path / "resp.der"
    response.write_bytes(ocsp_response(sm2_pki, request.read_bytes(), lambda s: None))
    shown = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-respin",
            str(response),
            "-reqin",
            str(request),
            "-resp_text",
            "-noverify",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Signature Algorithm: SM2-with-SM3" in shown.stdout
    assert shown.stdout.count("Cert Status: good") == 1
    assert shown.stdout.count("Cert Status: unknown") == 1
    assert "WARNING" not in shown.stderr  # the nonce matched
    basic = _basic(response.read_bytes())
    (tmp_path / "tbs.der").write_bytes(basic["tbs_response_data"].dump())
    (tmp_path / "tbs.sig").write_bytes(bytes(basic["signature"]))
    (tmp_path / "pub.der").write_bytes(sm2_pki.certificate("ocsp").public_key.dump())
    verified = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            str(tmp_path / "pub.der"),
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-in",
            str(tmp_path / "tbs.der"),
            "-sigfile",
            str(tmp_path / "tbs.sig"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Signature Verified Successfully" in verified.stdout, verified.stderr


# -- the SM2 time-stamping authority --------------------------------------------------------


@pytest.fixture
def tsa(tmp_path: Path, sm2_pki: Sm2Pki) -> TimeStampAuthority:
    store = _store(tmp_path)
    ecdsa = InternalPki(store, tmp_path / "pki", URL)
    ecdsa.create()
    signer = ecdsa.tsa_signer()
    return TimeStampAuthority(
        signer,
        signer.signing_cert,
        ecdsa.chain(),
        sm2=Sm2TsaKey(sm2_pki.service_signer("tsa"), sm2_pki.certificate("tsa"), sm2_pki.chain()),
    )


def _ts_request(algorithm: str, digest: bytes, *, policy: str | None = None) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "cert_req": True,
        "nonce": 0x5EA1,
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
    }
    if policy is not None:
        fields["req_policy"] = policy
    return bytes(tsp.TimeStampReq(fields).dump())


def _token(response: bytes) -> tuple[cms.SignedData, tsp.TSTInfo]:
    resp = TimeStampResp.load(response)
    assert resp["status"]["status"].native == "granted", resp["status"].native
    signed = resp["time_stamp_token"]["content"]
    return signed, signed["encap_content_info"]["content"].parsed


DATA = "电子印章 timestamped data".encode()


async def test_sm3_imprint_gets_an_sm2_token(tsa: TimeStampAuthority, sm2_pki: Sm2Pki) -> None:
    signed, info = _token(await tsa.respond(_ts_request("sm3", sm2.sm3(DATA))))
    assert info["policy"].dotted == SM2_TSA_POLICY
    assert info["message_imprint"]["hashed_message"].native == sm2.sm3(DATA)
    assert info["nonce"].native == 0x5EA1
    assert info["tsa"].chosen == sm2_pki.certificate("tsa").subject
    assert [d["algorithm"].dotted for d in signed["digest_algorithms"]] == [sm2.OID_SM3]
    signer_info = signed["signer_infos"][0]
    assert signer_info["digest_algorithm"]["algorithm"].dotted == sm2.OID_SM3
    assert signer_info["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    assert signer_info["signature_algorithm"]["parameters"].native is None
    tsa_cert = sm2_pki.certificate("tsa")
    assert signer_info["sid"].chosen["serial_number"].native == tsa_cert.serial_number
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["message_digest"].native == sm2.sm3(
        signed["encap_content_info"]["content"].contents
    )
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["hash_algorithm"]["algorithm"].dotted == sm2.OID_SM3
    assert ess["cert_hash"].native == sm2.sm3(tsa_cert.dump())
    # SM3(Z || DER(signedAttrs)) with the default user id, by the SM2 TSA key
    sm2.Sm2PublicKey.from_spki(tsa_cert.public_key).verify(
        bytes(signer_info["signature"]), signer_info["signed_attrs"].untag().dump()
    )
    # certReq: the SM2 TSA certificate and the SM2 chain, not the ECDSA ones
    assert {c.chosen.dump() for c in signed["certificates"]} == {
        tsa_cert.dump(),
        *(c.dump() for c in sm2_pki.chain()),
    }


async def test_the_request_chooses_the_token(tsa: TimeStampAuthority) -> None:
    sha = hashlib.sha256(DATA).digest()
    # the SM2 policy asks for SM2 whatever the imprint
    signed, info = _token(await tsa.respond(_ts_request("sha256", sha, policy=SM2_TSA_POLICY)))
    assert info["policy"].dotted == SM2_TSA_POLICY
    assert (
        signed["signer_infos"][0]["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    )
    # SHA-256 without a policy: the ECDSA token, as before
    signed, info = _token(await tsa.respond(_ts_request("sha256", sha)))
    assert info["policy"].dotted == DEFAULT_TSA_POLICY
    assert signed["signer_infos"][0]["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    # SM3 under the international policy named explicitly: the ECDSA token with an SM3 imprint
    signed, info = _token(
        await tsa.respond(_ts_request("sm3", sm2.sm3(DATA), policy=DEFAULT_TSA_POLICY))
    )
    assert info["policy"].dotted == DEFAULT_TSA_POLICY
    assert signed["signer_infos"][0]["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"


async def test_sm2_requests_are_checked_like_the_others(tsa: TimeStampAuthority) -> None:
    def failure(response: bytes) -> set[str]:
        status = TimeStampResp.load(response)["status"]
        assert status["status"].native == "rejection"
        return set(status["fail_info"].native)

    assert failure(await tsa.respond(_ts_request("sm3", b"\x00" * 31))) == {"bad_data_format"}
    assert failure(await tsa.respond(_ts_request("sha1", b"\x00" * 20, policy=SM2_TSA_POLICY))) == {
        "bad_alg"
    }
    assert failure(await tsa.respond(_ts_request("sm3", b"\x00" * 32, policy="1.2.3.4"))) == {
        "unaccepted_policy"
    }


async def test_without_an_sm2_key_the_sm2_policy_is_refused(tsa: TimeStampAuthority) -> None:
    plain = TimeStampAuthority(tsa.signer, tsa.certificate, tsa.chain)
    status = TimeStampResp.load(
        await plain.respond(_ts_request("sha256", b"\x00" * 32, policy=SM2_TSA_POLICY))
    )["status"]
    assert set(status["fail_info"].native) == {"unaccepted_policy"}
    _, info = _token(await plain.respond(_ts_request("sm3", b"\x00" * 32)))
    assert info["policy"].dotted == DEFAULT_TSA_POLICY


def test_sm2_key_must_match_its_certificate(tsa: TimeStampAuthority, sm2_pki: Sm2Pki) -> None:
    assert tsa.sm2 is not None
    with pytest.raises(ValueError, match="bound to the SM2 TSA certificate"):
        TimeStampAuthority(
            tsa.signer,
            tsa.certificate,
            tsa.chain,
            sm2=Sm2TsaKey(sm2_pki.service_signer("ocsp"), sm2_pki.certificate("tsa")),
        )
    with pytest.raises(ValueError, match="timeStamping"):
        TimeStampAuthority(
            tsa.signer,
            tsa.certificate,
            tsa.chain,
            sm2=Sm2TsaKey(sm2_pki.service_signer("ocsp"), sm2_pki.certificate("ocsp")),
        )
