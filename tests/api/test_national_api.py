"""National signatures over HTTP: ``POST /v1/ses/sign`` and ``/v1/ses/verify`` (GB/T 38540
``SES_Signature``), and OFD documents through ``/v1/sign`` and ``/v1/verify`` (GB/T 33190 §18),
with the registered enterprise's real SM2 seals, the built-in SM2 TSA and our OCSP responder.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from helpers import USCC, Api
from keystore.sm2 import sm3
from ofds import simple_ofd, unzip_ofd, zip_ofd
from seals.esl import parse_seseal
from signer.ses import verify_ses_signature

E = f"/v1/enterprises/{USCC}"
CONTRACT = "本合同一式两份，甲乙双方各执一份。".encode()


def _ses_sign(api: Api, **data: str) -> Any:
    return api.client.post(
        "/v1/ses/sign",
        headers=api.headers("own"),
        files={"file": ("contract-2026-001.txt", CONTRACT, "text/plain")},
        data=data,
    )


def _ses_verify(api: Api, der: bytes, data: bytes | None = None, **fields: str) -> Any:
    files: dict[str, Any] = {"signature": ("s.ses", der, "application/octet-stream")}
    if data is not None:
        files["file"] = ("data", data, "application/octet-stream")
    r = api.client.post("/v1/ses/verify", headers=api.headers("verifier"), files=files, data=fields)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_ses_signature_is_made_archived_and_verified(api: Api) -> None:
    r = _ses_sign(api, kind="contract")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-eseal-data-sm3"] == sm3(CONTRACT).hex()
    der = r.content
    # the seal inside is the seal's own seal data, as GET .../esl serves it
    esl = api.client.get(f"{E}/seals/contract/esl", headers=api.headers("own")).content
    checked = verify_ses_signature(der, data=CONTRACT)
    assert checked.valid and checked.seal.der == esl
    assert checked.property_info == "contract-2026-001.txt"
    assert checked.timestamp is not None  # B-T by default: the SM2 TSA's token

    report = _ses_verify(api, der, CONTRACT, expect_uscc=USCC)
    assert report["format"] == "ses" and report["valid"] is True, report
    (entry,) = report["signatures"]
    assert (entry["intact"], entry["trusted"], entry["algorithm"]) == (True, True, "sm2")
    assert entry["time_source"] == "timestamp" and entry["timestamp"]["valid"] is True
    assert entry["enterprise"]["uscc"] == USCC and entry["seal"]["kind"] == "contract"
    assert entry["national_seal"]["es_id"] == parse_seseal(esl).es_id
    assert entry["national_seal"]["seal_type"] == 2

    # archived like a sealed PDF, as an SES record
    record = api.client.get(
        f"/v1/archives/{r.headers['x-eseal-archive-id']}", headers=api.headers("own")
    ).json()
    assert record["format"] == "ses" and record["sha256"] == r.headers["x-eseal-sha256"]


def test_changed_data_and_another_enterprise_are_caught(api: Api) -> None:
    der = _ses_sign(api, kind="contract").content
    report = _ses_verify(api, der, CONTRACT + b" ")
    assert report["valid"] is False
    codes = [p["code"] for p in report["signatures"][0]["problems"]]
    assert "digest_mismatch" in codes
    report = _ses_verify(api, der, CONTRACT, expect_uscc="91110000600037341L")
    assert report["valid"] is False
    assert "expected_enterprise_missing" in [p["code"] for p in report["problems"]]


def test_a_hash_is_signed_and_bad_requests_change_nothing(api: Api) -> None:
    digest = sm3(CONTRACT).hex()
    r = api.client.post(
        "/v1/ses/sign",
        headers=api.headers("own"),
        data={"hash": digest, "property_info": "urn:contract:1", "kind": "finance"},
    )
    assert r.status_code == 200, r.text
    assert _ses_verify(api, r.content, hash=digest)["valid"] is True
    before = api.client.get("/v1/archives", headers=api.headers("own")).json()
    for data, code in (
        ({"hash": "abc"}, "invalid_hash"),
        ({}, "invalid_upload"),
        ({"hash": digest, "property_info": "合同"}, "invalid_property_info"),
        ({"hash": digest, "kind": "nope"}, "unknown_seal_kind"),
        ({"hash": digest, "options": json.dumps({"level": "B-LTA"})}, "level_not_supported"),
    ):
        r = api.client.post("/v1/ses/sign", headers=api.headers("own"), data=data)
        assert r.status_code in (409, 422), (data, r.text)
        assert r.json()["code"] == code, (data, r.text)
    assert api.client.get("/v1/archives", headers=api.headers("own")).json() == before
    r = api.client.post(
        "/v1/ses/verify",
        headers=api.headers("verifier"),
        files={"signature": ("s", b"\x30\x03\x02\x01\x04", "application/octet-stream")},
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_ses_signature", r.text


def _sign_ofd(api: Api, ofd: bytes, **options: Any) -> Any:
    return api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.ofd", ofd, "application/octet-stream")},
        data={"options": json.dumps(options)},
    )


def _verify(api: Api, data: bytes) -> Any:
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("d", data, "application/octet-stream")},
        data={"expect_uscc": USCC},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_an_ofd_is_sealed_in_turn_and_verified(api: Api) -> None:
    r = _sign_ofd(api, simple_ofd(2), seals=[{"kind": "contract", "page": 1, "x": 150, "y": 60}])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ofd"
    once = r.content
    report = _verify(api, once)
    assert report["format"] == "ofd" and report["valid"] is True, report
    (entry,) = report["signatures"]
    assert entry["page"] == 1 and entry["trusted"] is True
    assert {ref["status"] for ref in entry["references"]} == {"ok"}
    assert entry["enterprise"]["uscc"] == USCC

    # a second seal after the first (continue mode): both hold
    r = _sign_ofd(api, once, seals=[{"kind": "official"}], cross_page=True)
    assert r.status_code == 200, r.text
    report = _verify(api, r.content)
    assert report["valid"] is True, report
    kinds = [e["seal"]["kind"] for e in report["signatures"]]
    assert kinds == ["contract", "official", "official"]  # the cross-page seal: the first kind

    # a changed page breaks every seal that protects it
    files = unzip_ofd(r.content)
    page = next(n for n in files if n.endswith("Content.xml"))
    files[page] = files[page].replace("合同".encode(), "合伙".encode(), 1)
    report = _verify(api, zip_ofd(files))
    assert report["valid"] is False
    assert all(e["integrity"] == "broken" for e in report["signatures"])
    assert any(ref["status"] == "changed" for e in report["signatures"] for ref in e["references"])


def test_ofd_requests_that_do_not_apply_are_refused(api: Api) -> None:
    for options, code in (
        ({"certify": True}, "not_supported_for_ofd"),
        ({"level": "B-LT"}, "level_not_supported"),
        ({"seals": [{"kind": "contract", "keyword": "不存在的词"}]}, "keyword_not_found"),
    ):
        r = _sign_ofd(api, simple_ofd(1), **options)
        assert r.status_code in (409, 422), (options, r.text)
        assert r.json()["code"] == code, (options, r.text)
    r = _sign_ofd(api, zip_ofd({"hello.txt": b"hi"}))
    assert r.status_code == 422 and r.json()["code"] == "invalid_ofd", r.text


def test_the_cli_signs_and_verifies_ses_and_ofd(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = api.container.settings
    monkeypatch.setenv("ESEAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ESEAL_PUBLIC_URL", settings.public_url)
    data = tmp_path / "contract.txt"
    data.write_bytes(CONTRACT)
    sig = tmp_path / "contract.ses"
    assert main(["ses", "sign", str(data), "-o", str(sig), "--uscc", USCC]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["data_sm3"] == sm3(CONTRACT).hex() and shown["property_info"] == "contract.txt"
    assert main(["ses", "verify", str(sig), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "ses"
    data.write_bytes(CONTRACT + b"!")
    assert main(["ses", "verify", str(sig), "--data", str(data)]) == 1
    assert "digest_mismatch" in capsys.readouterr().out
    assert main(["ses", "verify", str(data)]) == 2  # not an SES_Signature
    assert json.loads(capsys.readouterr().err)["code"] == "invalid_ses_signature"

    doc, sealed = tmp_path / "c.ofd", tmp_path / "sealed.ofd"
    doc.write_bytes(simple_ofd(2))
    args = ["sign", str(doc), "-o", str(sealed), "--uscc", USCC, "--seal", "contract"]
    assert main([*args, "--page", "2", "--x", "150", "--y", "200"]) == 0
    capsys.readouterr()
    assert main(["verify", str(sealed), "--expect-uscc", USCC, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "ofd" and report["signatures"][0]["page"] == 2


def test_the_report_page_shows_an_ofd_report(api: Api) -> None:
    sealed = _sign_ofd(api, simple_ofd(1), seals=[{"kind": "contract"}]).content
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("d.ofd", sealed, "application/ofd")},
        data={"format": "html"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "合同专用章" in r.text and USCC in r.text


def _bad_ofds() -> dict[str, bytes]:
    files = unzip_ofd(simple_ofd())
    bomb = dict(files)
    bomb["Doc_0/Res/bomb.bin"] = b"\0" * (64 * 1024 * 1024)
    xxe = dict(files)
    xxe["Doc_0/Document.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + files["Doc_0/Document.xml"].split(b"?>", 1)[1]
    )
    no_document = dict(files)
    del no_document["Doc_0/Document.xml"]
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w") as z:
        for name, body in [*files.items(), ("../evil.xml", b"<x/>")]:
            z.writestr(name, body)
    return {
        "bomb": zip_ofd(bomb),
        "xxe": zip_ofd(xxe),
        "no document": zip_ofd(no_document),
        "traversal": traversal.getvalue(),
        "broken zip": zip_ofd(files)[:-40],
    }


def test_bad_ofds_are_refused_and_nothing_is_archived(api: Api) -> None:
    before = api.client.get("/v1/archives", headers=api.headers("own")).json()
    for what, data in _bad_ofds().items():
        r = _sign_ofd(api, data, seals=[{"kind": "contract"}])
        assert r.status_code == 422 and r.json()["code"] == "invalid_ofd", (what, r.text)
        r = api.client.post(
            "/v1/verify",
            headers=api.headers("verifier"),
            files={"file": ("d.ofd", data, "application/ofd")},
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_ofd", (what, r.text)
    assert api.client.get("/v1/archives", headers=api.headers("own")).json() == before


def test_a_seal_that_needs_approval_is_not_used_for_an_ses_signature(api: Api) -> None:
    api.container.api_keys.create(role="approver", uscc=USCC, name="法务", actor="test")
    r = api.client.put(
        f"{E}/seal-policies",
        headers=api.headers("admin"),
        json={"policies": [{"kind": "finance", "approval": "required", "quorum": 1}]},
    )
    assert r.status_code == 200, r.text
    r = api.client.post(
        "/v1/ses/sign",
        headers=api.headers("own"),
        data={"hash": sm3(CONTRACT).hex(), "kind": "finance"},
    )
    assert r.status_code == 409 and r.json()["code"] == "approval_required", r.text
    assert _ses_sign(api, kind="contract").status_code == 200  # a seal without a policy
