"""The SM2 hierarchy over HTTP and the CLI: /v1/pki/*?algorithm=sm2, eseal pki --algorithm sm2.

Signatures are checked here by eseal's own SM2 code and by OpenSSL 3 (``pkeyutl`` over the TBS
bytes with the default user id: ``openssl crl -verify`` cannot take one, see
tests/keystore/test_sm2.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from api.container import build
from api.settings import Settings
from helpers import READY_TIMEOUT_S, ROOT, Api, require_tool
from keystore import sm2
from keystore.sm2_pki import SCOPE, SUBDIR, verify_certificate_signature, verify_crl_signature
from keystore.tsa import TimeStampResp

DISTID = "distid:1234567812345678"


def _pem_chain(text: str) -> list[asn1_x509.Certificate]:
    return [
        asn1_x509.Certificate.load(der)
        for _, _, der in asn1_pem.unarmor(text.encode(), multiple=True)
    ]


def _openssl_verifies_tbs(
    tmp_path: Path, issuer: asn1_x509.Certificate, tbs: bytes, signature: bytes
) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    pub = tmp_path / "issuer-pub.der"
    pub.write_bytes(issuer["tbs_certificate"]["subject_public_key_info"].dump())
    (tmp_path / "tbs.der").write_bytes(tbs)
    (tmp_path / "tbs.sig").write_bytes(signature)
    return subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            str(pub),
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            DISTID,
            "-in",
            str(tmp_path / "tbs.der"),
            "-sigfile",
            str(tmp_path / "tbs.sig"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_ca_chain_of_either_hierarchy(api: Api) -> None:
    default = api.client.get("/v1/pki/ca")
    ecdsa = api.client.get("/v1/pki/ca", params={"algorithm": "ec-p256"})
    assert default.status_code == ecdsa.status_code == 200
    assert default.text == ecdsa.text == api.container.pki.chain_pem()

    r = api.client.get("/v1/pki/ca", params={"algorithm": "sm2"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pem-certificate-chain"
    issuing, root = _pem_chain(r.text)
    assert issuing.subject.native["common_name"] == "eseal SM2 Seal CA"
    assert root.subject.native["common_name"] == "eseal SM2 Root CA"
    for cert in (issuing, root):
        assert cert["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
        assert sm2.is_sm2_spki(cert["tbs_certificate"]["subject_public_key_info"])
    verify_certificate_signature(issuing, root)
    verify_certificate_signature(root, root)

    der = api.client.get("/v1/pki/issuing-ca.cer", params={"algorithm": "sm2"})
    assert der.status_code == 200 and der.content == issuing.dump()


def test_sm2_crls_are_signed_by_the_sm2_cas(api: Api, tmp_path: Path) -> None:
    issuing, root = _pem_chain(api.client.get("/v1/pki/ca?algorithm=sm2").text)
    r = api.client.get("/v1/pki/crl", params={"algorithm": "sm2"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pkix-crl"
    crl = asn1_crl.CertificateList.load(r.content)
    assert crl["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    assert crl.issuer == issuing.subject
    assert crl["tbs_cert_list"]["revoked_certificates"].native in (None, [])
    verify_crl_signature(crl, issuing)
    done = _openssl_verifies_tbs(
        tmp_path, issuing, crl["tbs_cert_list"].dump(), bytes(crl["signature"])
    )
    assert "Signature Verified Successfully" in done.stdout, done.stdout + done.stderr

    root_crl = asn1_crl.CertificateList.load(
        api.client.get("/v1/pki/root-crl?algorithm=sm2").content
    )
    assert root_crl.issuer == root.subject
    verify_crl_signature(root_crl, root)

    # the CRL distribution point of the SM2 seal CA's certificates names this URL
    tsa = api.container.sm2_pki.certificate("tsa")
    assert (
        tsa.crl_distribution_points[0]["distribution_point"]
        .native[0]
        .endswith("/v1/pki/crl?algorithm=sm2")
    )

    # the default is still the ECDSA seal CA's CRL
    ecdsa = asn1_crl.CertificateList.load(api.client.get("/v1/pki/crl").content)
    assert ecdsa["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"


@pytest.mark.parametrize(
    "path", ["/v1/pki/ca", "/v1/pki/crl", "/v1/pki/root-crl", "/v1/pki/issuing-ca.cer"]
)
@pytest.mark.parametrize("value", ["rsa-2048", "SM2", "", "sm2 "])
def test_unknown_algorithm_is_422(api: Api, path: str, value: str) -> None:
    r = api.client.get(path, params={"algorithm": value})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_algorithm"


def test_an_older_data_dir_gets_the_sm2_pki_at_start(settings: Settings) -> None:
    # a data dir of a release before the SM2 PKI: no pki/sm2, no pki-sm2 keys
    shutil.rmtree(settings.pki_dir / SUBDIR)
    shutil.rmtree(settings.keys_dir / SCOPE)
    before = {p.name: p.read_bytes() for p in settings.pki_dir.iterdir() if p.is_file()}
    c = build(settings)
    try:
        verify_certificate_signature(
            c.sm2_pki.certificate("issuing"), c.sm2_pki.certificate("root")
        )
        chain = c.sm2_pki.chain_pem()
    finally:
        c.close()
    # the ECDSA PKI is untouched, and the next start loads the same SM2 PKI
    assert {p.name: p.read_bytes() for p in settings.pki_dir.iterdir() if p.is_file()} == before
    again = build(settings)
    try:
        assert again.sm2_pki.chain_pem() == chain
    finally:
        again.close()


def _eseal(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESEAL_DATA_DIR": str(data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_cli_init_makes_the_sm2_pki_and_pki_commands_take_the_algorithm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = _eseal(data, "init")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pki_created"] is True
    assert (data / "pki" / SUBDIR / "sm2-pki.json").is_file()

    r = _eseal(data, "pki", "ca", "--algorithm", "sm2")
    assert r.returncode == 0, r.stderr
    issuing, root = _pem_chain(r.stdout)
    assert root.subject.native["common_name"] == "eseal SM2 Root CA"
    verify_certificate_signature(issuing, root)
    assert (data / "pki" / SUBDIR / "root.pem").read_bytes() == asn1_pem.armor(
        "CERTIFICATE", root.dump()
    )

    r = _eseal(data, "pki", "ca")
    assert r.returncode == 0 and "SM2" not in "".join(
        c.subject.native["common_name"] for c in _pem_chain(r.stdout)
    )

    out = tmp_path / "sm2.crl"
    r = _eseal(data, "pki", "crl", "--algorithm", "sm2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    verify_crl_signature(asn1_crl.CertificateList.load(out.read_bytes()), issuing)

    r = _eseal(data, "pki", "ca", "--algorithm", "rsa")
    assert r.returncode == 2 and "invalid choice: 'rsa'" in r.stderr


def _ocsp_request(issuer: asn1_x509.Certificate, serial: int) -> bytes:
    spki_key = bytes(issuer["tbs_certificate"]["subject_public_key_info"]["public_key"])
    return bytes(
        asn1_ocsp.OCSPRequest(
            {
                "tbs_request": {
                    "request_list": [
                        {
                            "req_cert": {
                                "hash_algorithm": {"algorithm": "sha256"},
                                "issuer_name_hash": hashlib.sha256(issuer.subject.dump()).digest(),
                                "issuer_key_hash": hashlib.sha256(spki_key).digest(),
                                "serial_number": serial,
                            }
                        }
                    ]
                }
            }
        ).dump()
    )


def _post_ocsp(api: Api, body: bytes, query: str = "") -> asn1_ocsp.BasicOCSPResponse:
    r = api.client.post(
        f"/v1/pki/ocsp{query}", content=body, headers={"content-type": "application/ocsp-request"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
    response = asn1_ocsp.OCSPResponse.load(r.content)
    assert response["response_status"].native == "successful"
    return response["response_bytes"]["response"].parsed


def test_ocsp_picks_the_hierarchy_from_the_request(api: Api) -> None:
    sm2_pki = api.container.sm2_pki
    sm2_ca = sm2_pki.certificate("issuing")
    for query in ("", "?algorithm=sm2", "?algorithm=ec-p256"):  # the CertID decides
        basic = _post_ocsp(
            api, _ocsp_request(sm2_ca, sm2_pki.certificate("tsa").serial_number), query
        )
        assert basic["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
        assert basic["certs"][0].dump() == sm2_pki.certificate("ocsp").dump()
        sm2.Sm2PublicKey.from_spki(basic["certs"][0].public_key).verify(
            bytes(basic["signature"]), basic["tbs_response_data"].dump()
        )
        assert basic["tbs_response_data"]["responses"][0]["cert_status"].name == "good"
    # no seal has an SM2 certificate yet: any other serial of the SM2 seal CA is unknown
    basic = _post_ocsp(api, _ocsp_request(sm2_ca, 0x1234))
    assert basic["tbs_response_data"]["responses"][0]["cert_status"].name == "unknown"

    # a certificate of the ECDSA seal CA still gets the ECDSA responder
    ecdsa_ca = asn1_x509.Certificate.load(
        api.container.pki.issuing.public_bytes(serialization.Encoding.DER)
    )
    tsa_serial = api.container.pki.certificate("tsa").serial_number
    basic = _post_ocsp(api, _ocsp_request(ecdsa_ca, tsa_serial))
    assert basic["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    assert basic["tbs_response_data"]["responses"][0]["cert_status"].name == "good"

    r = api.client.post("/v1/pki/ocsp?algorithm=gost", content=_ocsp_request(sm2_ca, 1))
    assert r.status_code == 422 and r.json()["code"] == "invalid_algorithm"
    r = api.client.post("/v1/pki/ocsp", content=b"not DER")
    assert asn1_ocsp.OCSPResponse.load(r.content)["response_status"].native == "malformed_request"


def test_tsa_over_http_answers_sm3_imprints_with_an_sm2_token(api: Api) -> None:
    query = tsp.TimeStampReq(
        {
            "version": "v1",
            "cert_req": True,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sm3"},
                "hashed_message": sm2.sm3(b"contract"),
            },
        }
    )
    r = api.client.post(
        "/v1/tsa",
        content=query.dump(),
        headers={**api.headers("own"), "content-type": "application/timestamp-query"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/timestamp-reply"
    token = TimeStampResp.load(r.content)["time_stamp_token"]["content"]
    signer_info = token["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    tsa_cert = api.container.sm2_pki.certificate("tsa")
    sm2.Sm2PublicKey.from_spki(tsa_cert.public_key).verify(
        bytes(signer_info["signature"]), signer_info["signed_attrs"].untag().dump()
    )
    assert tsa_cert.dump() in {c.chosen.dump() for c in token["certificates"]}
