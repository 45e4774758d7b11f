"""The HTTP API end to end on the embedded defaults: sealing, verifying, errors, audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from helpers import OTHER_USCC, USCC, Api, license_data, require_tool
from pdfs import simple_pdf

PROBLEM = "application/problem+json"


def sign(api: Api, who: str, pdf: bytes, options: dict | None = None, **headers: str):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/v1/sign",
        headers={**api.headers(who), **headers},
        files={"file": ("c.pdf", pdf, "application/pdf")},
        data={"options": json.dumps(options or {})},
    )


def test_sign_then_verify_round_trip(api: Api) -> None:
    r = sign(
        api,
        "own",
        simple_pdf(2),
        {
            "seals": [{"kind": "contract"}, {"kind": "legal_rep", "page": 1, "x": 300, "y": 200}],
            "document_type": "contract",
            "reference": "HT-1",
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    import hashlib

    assert r.headers["x-eseal-sha256"] == hashlib.sha256(r.content).hexdigest()
    v = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", r.content, "application/pdf")},
        data={"expect_uscc": USCC},
    )
    assert v.status_code == 200
    report = v.json()
    assert report["valid"] is True
    assert [s["seal"]["kind"] for s in report["signatures"]] == ["contract", "legal_rep"]
    html = api.client.post(
        "/v1/verify?format=html",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", r.content, "application/pdf")},
    )
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert USCC in html.text
    # another enterprise's expectation is not met, and the report still comes with 200
    v = api.client.post(
        "/v1/verify",
        headers=api.headers("admin"),
        files={"file": ("s.pdf", r.content, "application/pdf")},
        data={"expect_uscc": OTHER_USCC},
    )
    assert v.status_code == 200 and v.json()["valid"] is False


def test_extend_adds_lta(api: Api) -> None:
    r = sign(api, "own", simple_pdf(1))
    e = api.client.post(
        "/v1/extend",
        headers=api.headers("own"),
        files={"file": ("s.pdf", r.content, "application/pdf")},
        data={"level": "B-LTA"},
    )
    assert e.status_code == 200 and e.content.startswith(r.content)
    v = api.client.post(
        "/v1/verify",
        headers=api.headers("own"),
        files={"file": ("s.pdf", e.content, "application/pdf")},
    )
    assert v.json()["signatures"][0]["level"] == "B-LTA"


def _audit_count(api: Api) -> int:
    with api.container.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit")).scalar_one())


@pytest.mark.parametrize(
    ("data", "options", "status", "code"),
    [
        (b"not a pdf at all", {}, 422, "invalid_pdf"),
        (None, {"seals": [{"kind": "stamp"}]}, 422, "unknown_seal_kind"),
        (
            None,
            {"seals": [{"kind": "contract", "keyword": "不存在的词"}]},
            422,
            "keyword_not_found",
        ),
        (
            None,
            {"seals": [{"kind": "contract", "page": 9, "x": 10, "y": 10}]},
            422,
            "page_out_of_range",
        ),
        (None, {"level": "B-XL"}, 422, "invalid_options"),
        (None, {"seals": [{"kind": "contract", "x": 10}]}, 422, "invalid_options"),
        (
            None,
            {"document_type": "contract", "seals": [{"kind": "invoice"}]},
            422,
            "invoice_seal_on_contract",
        ),
    ],
)
def test_bad_sign_requests_change_nothing(
    api: Api, data: bytes | None, options: dict, status: int, code: str
) -> None:
    before = _audit_count(api)
    r = sign(api, "own", data if data is not None else simple_pdf(1), options)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == code
    assert _audit_count(api) == before


def test_oversized_upload_is_413(api: Api) -> None:
    r = sign(api, "own", b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"


def test_inactive_license_and_seal_refused(api: Api) -> None:
    r = api.client.post(
        f"/v1/enterprises/{USCC}/seals/contract/suspend",
        headers=api.headers("admin"),
        json={"reason": "audit"},
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = sign(api, "own", simple_pdf(1), {"seals": [{"kind": "contract"}]})
    assert r.status_code == 409 and r.json()["code"] == "seal_suspended"
    r = api.client.post(
        f"/v1/enterprises/{USCC}/status",
        headers=api.headers("admin"),
        json={"status": "suspended", "reason": "停业"},
    )
    assert r.status_code == 200
    r = sign(api, "own", simple_pdf(1))
    assert r.status_code == 409 and r.json()["code"] == "license_not_active"


def test_idempotency_key(api: Api) -> None:
    pdf = simple_pdf(1)
    a = sign(api, "own", pdf, {}, **{"Idempotency-Key": "k-1"})
    n = _audit_count(api)
    b = sign(api, "own", pdf, {}, **{"Idempotency-Key": "k-1"})
    assert a.status_code == b.status_code == 200
    assert a.content == b.content and b.headers["idempotent-replayed"] == "true"
    assert _audit_count(api) == n  # nothing sealed twice
    c = sign(api, "own", simple_pdf(2), {}, **{"Idempotency-Key": "k-1"})
    assert c.status_code == 409 and c.json()["code"] == "idempotency_conflict"


def test_registration_over_http(api: Api) -> None:
    new = license_data(
        uscc="914403001922038216", name="深圳测试科技有限公司", legal_representative="王伟"
    )
    r = api.client.post("/v1/enterprises", headers=api.headers("admin"), json=new)
    assert r.status_code == 201 and len(r.json()["seals"]) == 5
    r = api.client.post("/v1/enterprises", headers=api.headers("admin"), json=new)
    assert r.status_code == 409 and r.json()["code"] == "enterprise_exists"
    r = api.client.post(
        "/v1/enterprises",
        headers=api.headers("admin"),
        json=license_data(uscc="91110000600037341N"),
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_uscc"
    r = api.client.post("/v1/enterprises", headers=api.headers("admin"), content=b"{oops")
    assert r.status_code == 422 and r.json()["code"] == "invalid_license"


def test_framework_errors_are_problems(api: Api) -> None:
    r = api.client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "not_found"
    r = api.client.delete("/v1/pki/ca")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    r = api.client.post("/v1/api-keys", headers=api.headers("admin"), json={"role": "boss"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = api.client.get("/v1/enterprises/91110000600037341N", headers=api.headers("admin"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_uscc"


def test_tokens_are_shown_once_and_never_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    form = {
        "organisation_name": "示例银行股份有限公司",
        "organisation_nature": "金融机构",
        "uscc": "91110000600037341L",
        "address": "北京市西城区",
        "contact_name": "赵敏",
        "contact_department": "信息科技部",
        "contact_title": "工程师",
        "phone": "010-12345678",
        "email": "ops@example.com",
        "application_system": "对公开户系统",
        "endpoint": "bank.example.com:443",
        "business_field": "银行开户",
    }
    r = api.client.post(
        "/v1/api-keys",
        headers=api.headers("admin"),
        json={"role": "verifier", "name": "bank", "access_form": form},
    )
    assert r.status_code == 201
    token = r.json()["token"]
    assert r.json()["access_form"]["application_system"] == "对公开户系统"
    r = api.client.post(
        "/v1/api-keys",
        headers=api.headers("admin"),
        json={"role": "verifier", "name": "bank without form"},
    )
    assert r.status_code == 422
    v = api.client.get(f"/v1/enterprises/{USCC}", headers={"Authorization": f"Bearer {token}"})
    assert v.status_code == 200
    with api.container.engine.connect() as conn:
        stored = " ".join(str(row) for row in conn.execute(text("SELECT * FROM api_keys")))
    assert token.split("_")[2] not in stored
    assert token not in caplog.text
    key_id = token.split("_")[1]
    gone = api.client.delete(f"/v1/api-keys/{key_id}", headers=api.headers("admin"))
    assert gone.status_code == 204
    v = api.client.get(f"/v1/enterprises/{USCC}", headers={"Authorization": f"Bearer {token}"})
    assert v.status_code == 401 and token not in v.text


def test_audit_chain_and_tampering(api: Api) -> None:
    sign(api, "own", simple_pdf(1))
    r = api.client.get("/v1/audit", headers=api.headers("own"))
    entries = r.json()["entries"]
    assert entries and {e["uscc"] for e in entries} == {USCC}
    assert any(e["action"] == "seal.use" for e in entries)
    r = api.client.get("/v1/audit/verify", headers=api.headers("admin"))
    assert r.json()["ok"] is True and r.json()["entries"] >= 13
    use = next(e for e in entries if e["action"] == "seal.use")
    with api.container.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit SET document_sha256 = :h WHERE seq = :s"),
            {"h": "0" * 64, "s": use["seq"]},
        )
    r = api.client.get("/v1/audit/verify", headers=api.headers("admin"))
    assert r.json()["ok"] is False and r.json()["first_broken"] == use["seq"]


def test_health_readiness_metrics(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    r = api.client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
    sign(api, "own", simple_pdf(1))
    text_ = api.client.get("/metrics").text
    assert 'eseal_http_requests_total{method="POST",route="/v1/sign",status="200"}' in text_
    assert 'eseal_seals_applied_total{kind="official"} 1.0' in text_


def test_readiness_says_which_part_is_down(api: Api) -> None:
    from storage.db import make_engine

    real = api.container.engine
    api.container.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        r = api.client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] != "ok"
        assert r.json()["checks"]["keystore"] == "ok"
    finally:
        api.container.engine.dispose()
        api.container.engine = real


def test_multi_party_contract_keeps_every_seal_valid(api: Api) -> None:
    first = sign(
        api,
        "own",
        simple_pdf(1),
        {
            "document_type": "contract",
            "seals": [{"kind": "contract", "page": 1, "x": 150, "y": 150}],
        },
    )
    second = sign(
        api,
        "other",
        first.content,
        {
            "document_type": "contract",
            "seals": [{"kind": "contract", "page": 1, "x": 420, "y": 150}],
        },
    )
    assert second.status_code == 200 and second.content.startswith(first.content)
    report = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", second.content, "application/pdf")},
        data={"expect_uscc": OTHER_USCC},
    ).json()
    assert report["valid"] is True
    assert [s["enterprise"]["uscc"] for s in report["signatures"]] == [USCC, OTHER_USCC]


def test_encrypted_pdf_is_refused(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    require_tool("qpdf")
    (tmp_path / "plain.pdf").write_bytes(simple_pdf(1))
    subprocess.run(
        [
            "qpdf",
            "--encrypt",
            "user-pw",
            "owner-pw",
            "256",
            "--",
            str(tmp_path / "plain.pdf"),
            str(tmp_path / "locked.pdf"),
        ],
        check=True,
    )
    r = sign(api, "own", (tmp_path / "locked.pdf").read_bytes())
    assert r.status_code == 422 and r.json()["code"] in ("pdf_encrypted", "invalid_pdf")


def test_tsa_over_http_and_public_pki(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    require_tool("openssl")
    data = tmp_path / "doc.txt"
    data.write_bytes(b"hello")
    subprocess.run(
        [
            "openssl",
            "ts",
            "-query",
            "-data",
            str(data),
            "-sha256",
            "-cert",
            "-out",
            str(tmp_path / "q.tsq"),
        ],
        check=True,
        capture_output=True,
    )
    q = (tmp_path / "q.tsq").read_bytes()
    r = api.client.post(
        "/v1/tsa", content=q, headers={"Content-Type": "application/timestamp-query"}
    )
    assert r.status_code == 401
    r = api.client.post(
        "/v1/tsa",
        content=q,
        headers={**api.headers("verifier"), "Content-Type": "application/timestamp-query"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/timestamp-reply"
    (tmp_path / "r.tsr").write_bytes(r.content)
    pki = api.container.settings.pki_dir
    chain = tmp_path / "chain.pem"
    chain.write_bytes((pki / "tsa.pem").read_bytes() + (pki / "issuing.pem").read_bytes())
    out = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(data),
            "-in",
            str(tmp_path / "r.tsr"),
            "-CAfile",
            str(pki / "root.pem"),
            "-untrusted",
            str(chain),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr
    assert api.client.get("/v1/pki/ca").text.count("BEGIN CERTIFICATE") == 2
    assert api.client.get("/v1/pki/crl").headers["content-type"] == "application/pkix-crl"


def test_signed_documents_are_archived_listed_and_exported(api: Api) -> None:
    import io
    import zipfile

    ids = []
    for ref in ("HT-1", "HT-2", "HT-3"):
        r = sign(api, "own", simple_pdf(1), {"document_type": "contract", "reference": ref})
        assert r.status_code == 200
        ids.append(r.headers["x-eseal-archive-id"])
        record = api.client.get(f"/v1/archives/{ids[-1]}", headers=api.headers("own")).json()
        assert record["sha256"] == r.headers["x-eseal-sha256"] and record["reference"] == ref
        f = api.client.get(f"/v1/archives/{ids[-1]}/file", headers=api.headers("own"))
        assert f.content == r.content
    # the audit entry of each seal use names its archive id
    entries = api.client.get("/v1/audit", headers=api.headers("own")).json()["entries"]
    assert {e["archive_id"] for e in entries if e["action"] == "seal.use"} == set(ids)
    # cursor paging, newest first
    page = api.client.get("/v1/archives?limit=2", headers=api.headers("own")).json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    rest = api.client.get(
        f"/v1/archives?limit=2&cursor={page['next_cursor']}", headers=api.headers("own")
    ).json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert (
        api.client.get("/v1/archives?reference=HT-2", headers=api.headers("own")).json()["items"][
            0
        ]["id"]
        == ids[1]
    )
    # another enterprise sees none of it
    other = api.client.get("/v1/archives", headers=api.headers("other")).json()
    assert other["items"] == []
    r = api.client.get(f"/v1/archives/{ids[0]}", headers=api.headers("other"))
    assert r.status_code == 403
    r = api.client.get(f"/v1/archives/{ids[0]}/file", headers=api.headers("verifier"))
    assert r.status_code == 403
    # export: files, manifest, a report per file
    z = api.client.post("/v1/archives/export", headers=api.headers("own"), json={})
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert "manifest.json" in names
    assert sum(n.endswith(".pdf") for n in names) == 3
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(z.content)).read("manifest.json"))
    assert manifest
    reports = [n for n in names if n.endswith(".report.json")]
    assert len(reports) == 3
    assert sum(n.endswith(".report.html") for n in names) == 3
    report = json.loads(zipfile.ZipFile(io.BytesIO(z.content)).read(reports[0]))
    assert report["valid"] is True


def test_corrupted_archive_object_is_never_served(api: Api) -> None:
    r = sign(api, "own", simple_pdf(1))
    archive_id = r.headers["x-eseal-archive-id"]
    record = api.client.get(f"/v1/archives/{archive_id}", headers=api.headers("own")).json()
    path = api.container.settings.data_dir / "archive" / record["object_key"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    f = api.client.get(f"/v1/archives/{archive_id}/file", headers=api.headers("own"))
    assert f.status_code >= 500 and f.json()["code"] == "archive_corrupt"
    assert bytes(data) not in f.content


def test_extend_refusals_are_clear(api: Api) -> None:
    unsigned = api.client.post(
        "/v1/extend",
        headers=api.headers("own"),
        files={"file": ("d.pdf", simple_pdf(1), "application/pdf")},
    )
    assert unsigned.status_code == 422 and unsigned.json()["code"] == "no_signatures"
    # B-B: no timestamp proves the seal signed before its revocation (a B-T file whose
    # timestamp predates the revocation is extended, with the CRL: test_long_term.py)
    signed = sign(
        api, "own", simple_pdf(1), {"seals": [{"kind": "finance"}], "level": "B-B"}
    ).content
    api.client.post(
        f"/v1/enterprises/{USCC}/seals/finance/revoke",
        headers=api.headers("admin"),
        json={"reason": "lost"},
    )
    r = api.client.post(
        "/v1/extend",
        headers=api.headers("own"),
        files={"file": ("s.pdf", signed, "application/pdf")},
    )
    assert r.status_code == 409 and r.json()["code"] == "extend_refused"


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LTA"])
def test_archive_record_carries_the_signature_timestamp(api: Api, level: str) -> None:
    """The archive's timestamp_time is the genTime of the last seal's signature timestamp
    (not the B-LTA document timestamp), and there is none for B-B."""
    import io
    from datetime import datetime

    from pyhanko.pdf_utils.reader import PdfFileReader

    r = sign(
        api,
        "own",
        simple_pdf(1),
        {
            "seals": [{"kind": "contract"}, {"kind": "legal_rep", "page": 1, "x": 300, "y": 200}],
            "level": level,
        },
    )
    assert r.status_code == 200, r.text
    record = api.client.get(
        f"/v1/archives/{r.headers['x-eseal-archive-id']}", headers=api.headers("own")
    ).json()
    sigs = PdfFileReader(io.BytesIO(r.content), strict=False).embedded_regular_signatures
    assert len(sigs) == 2
    if level == "B-B":
        assert record["timestamp_time"] is None
        return
    attrs = sigs[-1].signer_info["unsigned_attrs"]
    token = next(a for a in attrs if a["type"].native == "signature_time_stamp_token")
    gen_time = (
        token["values"][0]["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    )
    assert datetime.fromisoformat(record["timestamp_time"]) == gen_time


def test_an_archive_that_cannot_be_written_is_503_not_500(api: Api) -> None:
    """A file where the archive's ``.tmp`` directory should be: sealing is refused as
    ``archive_unavailable`` (retry later) and nothing is handed out unarchived."""
    import shutil

    from storage.archive import LocalObjectStore

    store = api.container.archive.store
    assert isinstance(store, LocalObjectStore)
    shutil.rmtree(store.root / ".tmp")
    (store.root / ".tmp").write_bytes(b"not a directory")
    r = sign(api, "own", simple_pdf(1))
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "archive_unavailable"
    entries = api.client.get("/v1/audit", headers=api.headers("own")).json()["entries"]
    assert not [e for e in entries if e["action"] == "seal.use"]
