"""SM2 seal certificates over HTTP: the seal JSON, the SM2 OCSP responder and CRL after a
revocation, and /v1/verify on a PDF sealed with a seal's SM2 key (signer/sm2_cms.py)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner

from helpers import USCC, Api
from keystore import sm2
from keystore.sm2_pki import verify_crl_signature
from pdfs import simple_pdf
from signer.sm2_cms import Sm2CmsSigner

E = f"/v1/enterprises/{USCC}"


def _cert(pem: str) -> asn1_x509.Certificate:
    _, _, der = asn1_pem.unarmor(pem.encode())
    return asn1_x509.Certificate.load(der)


def _seals(api: Api) -> dict[str, dict[str, Any]]:
    r = api.client.get(f"{E}/seals", headers=api.headers("own"))
    assert r.status_code == 200, r.text
    return {s["kind"]: s for s in r.json()}


def _ocsp(api: Api, serial: int) -> dict[str, Any]:
    issuing = _cert(api.client.get("/v1/pki/ca?algorithm=sm2").text)
    cert_id = {
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": hashlib.sha1(issuing.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha1(bytes(issuing.public_key["public_key"])).digest(),
        "serial_number": serial,
    }
    request = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}})
    r = api.client.post(
        "/v1/pki/ocsp?algorithm=sm2",
        content=request.dump(),
        headers={"content-type": "application/ocsp-request"},
    )
    assert r.status_code == 200
    basic = asn1_ocsp.OCSPResponse.load(r.content)["response_bytes"]["response"].parsed
    responder = basic["certs"][0]
    sm2.Sm2PublicKey.from_spki(responder.public_key).verify(
        bytes(basic["signature"]), basic["tbs_response_data"].dump()
    )
    (single,) = basic["tbs_response_data"]["responses"]
    out: dict[str, Any] = single.native
    return out


async def _sm2_sealed(api: Api, kind: str) -> bytes:
    c = api.container
    seal = next(s for s in c.seals.seals(USCC) if s.kind.value == kind)
    assert seal.sm2_key_ref is not None and seal.sm2_certificate_pem is not None
    signer = Sm2CmsSigner(
        c.soft_keys.sm2_signer(seal.sm2_key_ref), _cert(seal.sm2_certificate_pem), c.sm2_pki.chain()
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(simple_pdf()))
    out = await PdfSigner(
        PdfSignatureMetadata(field_name="Seal1", subfilter=SigSeedSubFilter.PADES), signer
    ).async_sign_pdf(writer)
    return bytes(out.getvalue())


def _verify(api: Api, pdf: bytes) -> dict[str, Any]:
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", pdf, "application/pdf")},
        data={"expect_uscc": USCC},
    )
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


def test_seal_json_shows_the_sm2_certificate_beside_the_unchanged_fields(api: Api) -> None:
    seals = _seals(api)
    assert list(seals) == ["official", "contract", "finance", "invoice", "legal_rep"]
    for kind, shown in seals.items():
        assert {
            "serial",
            "key_algorithm",
            "certificate",
            "chain",
            "status",
            "version",
            "image_sha256",
        } <= set(shown)
        assert shown["key_algorithm"] == "ec-p256"
        assert "BEGIN CERTIFICATE" in shown["certificate"]
        sm2_part = shown["sm2"]
        assert sm2_part["key_algorithm"] == "sm2"
        cert = _cert(sm2_part["certificate"])
        assert format(cert.serial_number, "x") == sm2_part["serial"] != shown["serial"]
        assert cert.subject.native["organizational_unit_name"] == USCC
        assert cert["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
        one = api.client.get(f"{E}/seals/{kind}", headers=api.headers("admin")).json()
        assert one["sm2"] == sm2_part


def test_revocation_over_http_reaches_the_sm2_ocsp_and_crl(api: Api) -> None:
    contract = _seals(api)["contract"]
    serial = int(contract["sm2"]["serial"], 16)
    assert _ocsp(api, serial)["cert_status"] == "good"
    r = api.client.post(
        f"{E}/seals/contract/revoke",
        headers=api.headers("admin"),
        json={"reason_code": "key_compromise", "reason": "U 盾遗失"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["sm2"] == contract["sm2"] and r.json()["status"] == "revoked"
    status = _ocsp(api, serial)["cert_status"]
    assert status["revocation_reason"] == "key_compromise"
    assert status["revocation_time"].isoformat() == r.json()["compromised_at"]

    der = api.client.get("/v1/pki/crl?algorithm=sm2").content
    crl = asn1_crl.CertificateList.load(der)
    issuing = _cert(api.client.get("/v1/pki/ca?algorithm=sm2").text)
    verify_crl_signature(crl, issuing)
    entries = {
        e["user_certificate"].native: e for e in crl["tbs_cert_list"]["revoked_certificates"]
    }
    assert set(entries) == {serial}
    assert entries[serial].crl_reason_value.native == "key_compromise"
    # the ECDSA CRL lists the ECDSA certificate of the same seal
    ecdsa = api.client.get("/v1/pki/crl").content
    assert int(contract["serial"], 16) in {
        e["user_certificate"].native
        for e in asn1_crl.CertificateList.load(ecdsa)["tbs_cert_list"]["revoked_certificates"]
    }


async def test_verify_trusts_a_pdf_sealed_with_a_seals_sm2_key(api: Api) -> None:
    pdf = await _sm2_sealed(api, "contract")
    (entry,) = _verify(api, pdf)["signatures"]
    assert entry["algorithm"] == "sm2"
    assert (entry["integrity"], entry["intact"], entry["trusted"]) == ("ok", True, True), entry
    # the verifier knows the seal from the registry by its SM2 certificate
    assert entry["seal"]["kind"] == "contract" and entry["seal"]["version"] == 1
    assert entry["revoked"]["revoked"] is False

    # revoked (no timestamp on this B-B signature): the seal's status reaches the verdict
    r = api.client.post(
        f"{E}/seals/contract/revoke",
        headers=api.headers("admin"),
        json={"reason_code": "key_compromise"},
    )
    assert r.status_code == 200, r.text
    (entry,) = _verify(api, pdf)["signatures"]
    assert entry["revoked"]["revoked"] is True
    assert entry["revoked"]["reason"] == "key_compromise"
    assert entry["valid"] is False


def _sign(api: Api, **options: Any) -> Any:
    return api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": "contract"}], **options})},
    )


def test_sealing_with_sm2_over_http_gives_a_valid_sm2_signature_with_an_sm2_timestamp(
    api: Api,
) -> None:
    contract = _seals(api)["contract"]
    for level in ("B-T", "B-LTA"):
        r = _sign(api, algorithm="sm2", level=level)
        assert r.status_code == 200, r.text
        report = _verify(api, r.content)
        assert report["valid"] is True, report
        seal = report["signatures"][0]
        assert seal["algorithm"] == "sm2" and seal["level"] == level
        # the SM2 certificate signed, not the international one of the same seal
        assert seal["certificate"]["serial"] == contract["sm2"]["serial"]
        assert seal["timestamp"]["valid"] is True
        if level == "B-LTA":
            assert report["signatures"][-1]["type"] == "document_timestamp"
            assert report["signatures"][-1]["algorithm"] == "sm2"
        archived = api.client.get(
            f"/v1/archives/{r.headers['x-eseal-archive-id']}/file", headers=api.headers("own")
        )
        assert archived.content == r.content


def test_an_algorithm_the_seal_has_no_key_for_is_refused_before_anything_is_archived(
    api: Api,
) -> None:
    before = api.client.get("/v1/archives", headers=api.headers("own")).json()
    r = _sign(api, algorithm="rsa-2048")
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "algorithm_not_available"
    r = _sign(api, algorithm="sm9")
    assert r.status_code == 422 and r.json()["code"] == "invalid_options"
    assert api.client.get("/v1/archives", headers=api.headers("own")).json() == before
