"""Permits and filings under a license (许可 / 备案, 一网展示).

Admins and the enterprise record and change them, verifiers read them; a permit past its last
day reads ``expired`` without anyone changing it, and one ending within 30 days carries a
notice: in the API, on the check page, in the license PDF's annex and in the verification
report (``enterprise.permits_now`` and the ``permit_expiring`` notice).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import text

from helpers import OTHER_USCC, USCC, Api, require_tool
from pdfs import simple_pdf

P = f"/v1/enterprises/{USCC}/permits"


def _today() -> date:
    """Beijing's today, the day permits are written in."""
    return datetime.now(UTC).astimezone(timezone(timedelta(hours=8))).date()


def _permit(**changes: Any) -> dict[str, Any]:
    data = {
        "type": "许可",
        "name": "食品经营许可证",
        "number": "JY11101080012345",
        "issuing_authority": "北京市海淀区市场监督管理局",
        "scope": "预包装食品销售（含冷藏冷冻食品）",
        "valid_from": "2024-01-01",
        "valid_to": (_today() + timedelta(days=400)).isoformat(),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _add(api: Api, who: str = "own", **changes: Any) -> dict[str, Any]:
    r = api.client.post(P, headers=api.headers(who), json=_permit(**changes))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _revision(api: Api) -> int:
    with api.container.engine.connect() as conn:
        return int(conn.execute(text("SELECT revision FROM registry_revision")).scalar_one())


def test_the_enterprise_records_a_permit_and_a_verifier_reads_it(api: Api) -> None:
    before = _revision(api)
    permit = _add(api)
    assert permit["type"] == "permit" and permit["type_label"] == "许可"
    assert permit["status"] == "valid" and permit["expiring"] is False
    assert permit["uscc"] == USCC and permit["document"] is None
    assert _revision(api) == before + 1  # caches of the registry see the change
    filing = _add(
        api,
        "admin",
        type="filing",
        name="ICP备案",
        number="京ICP备12025439号",
        issuing_authority="北京市通信管理局",
        scope=None,
        valid_to=None,
    )
    assert filing["valid_to"] is None and filing["days_left"] is None

    listed = api.client.get(P, headers=api.headers("verifier")).json()
    assert [p["id"] for p in listed] == [permit["id"], filing["id"]]
    one = api.client.get(f"{P}/{permit['id']}", headers=api.headers("verifier")).json()
    assert one == listed[0]
    # another enterprise neither reads nor writes them
    assert api.client.get(P, headers=api.headers("other")).status_code == 403
    r = api.client.post(P, headers=api.headers("other"), json=_permit(number="X-1"))
    assert r.status_code == 403
    r = api.client.post(P, headers=api.headers("verifier"), json=_permit(number="X-2"))
    assert r.status_code == 403
    entries = api.client.get("/v1/audit", headers=api.headers("own")).json()["entries"]
    assert [e["action"] for e in entries].count("permit.add") == 2


def test_bad_permits_are_refused_and_change_nothing(api: Api) -> None:
    _add(api)
    before = api.client.get(P, headers=api.headers("own")).json()
    for body, code in (
        (_permit(number="A-1", valid_from="2025-01-01", valid_to="2024-01-01"), "invalid_request"),
        (_permit(number="A-2", type="license"), "invalid_request"),
        (_permit(number="A-3", status="lost"), "invalid_request"),
        (_permit(), "permit_exists"),  # same type and number
        ({**_permit(number="A-4"), "colour": "red"}, "invalid_request"),
    ):
        r = api.client.post(P, headers=api.headers("own"), json=body)
        assert r.status_code in (409, 422) and r.json()["code"] == code, (body, r.text)
    assert api.client.get(P, headers=api.headers("own")).json() == before
    r = api.client.get(f"{P}/pmt_nope", headers=api.headers("own"))
    assert r.status_code == 404 and r.json()["code"] == "permit_not_found"
    r = api.client.get("/v1/enterprises/914403001922038216/permits", headers=api.headers("admin"))
    assert r.status_code == 404 and r.json()["code"] == "enterprise_not_found"


def test_status_changes_and_a_revoked_permit_stays_revoked(api: Api) -> None:
    permit = _add(api)
    url = f"{P}/{permit['id']}"
    r = api.client.patch(
        url, headers=api.headers("admin"), json={"status": "暂停", "reason": "整改"}
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert r.json()["status_reason"] == "整改"
    r = api.client.patch(
        url, headers=api.headers("own"), json={"status": "valid", "scope": "新范围"}
    )
    assert r.json()["status"] == "valid" and r.json()["scope"] == "新范围"
    r = api.client.patch(url, headers=api.headers("own"), json={"valid_to": "2000-01-01"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_permit"
    r = api.client.patch(url, headers=api.headers("admin"), json={"status": "revoked"})
    assert r.json()["status"] == "revoked"
    r = api.client.patch(url, headers=api.headers("admin"), json={"status": "valid"})
    assert r.status_code == 409 and r.json()["code"] == "permit_revoked"
    assert api.client.get(url, headers=api.headers("own")).json()["status"] == "revoked"
    r = api.client.patch(url, headers=api.headers("verifier"), json={"status": "valid"})
    assert r.status_code == 403


def test_a_permit_past_its_end_reads_expired_and_one_ending_soon_is_a_notice(
    api: Api,
) -> None:
    today = _today()
    old = _add(
        api,
        number="OLD-1",
        valid_from="2019-01-01",
        valid_to=(today - timedelta(days=1)).isoformat(),
    )
    assert old["status"] == "expired" and old["recorded_status"] == "valid"
    assert old["status_label"] == "过期" and old["expiring"] is False
    soon = _add(api, number="SOON-1", valid_to=(today + timedelta(days=10)).isoformat())
    assert soon["status"] == "valid" and soon["expiring"] is True and soon["days_left"] == 10
    last = _add(api, number="LAST-1", valid_to=today.isoformat())
    assert last["status"] == "valid" and last["days_left"] == 0  # valid through its last day

    # the verification report of a document the enterprise sealed
    signed = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({})},
    )
    assert signed.status_code == 200, signed.text
    report = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("c.pdf", signed.content, "application/pdf")},
    ).json()
    assert report["valid"] is True  # notices never change the verdict
    (seal,) = [s for s in report["signatures"] if s["type"] == "signature"]
    now = {p["number"]: p for p in seal["enterprise"]["permits_now"]}
    assert now["OLD-1"]["status"] == "expired"
    assert now["SOON-1"]["status"] == "valid" and now["SOON-1"]["expiring"] is True
    expiring = [n for n in report["notices"] if n["code"] == "permit_expiring"]
    assert len(expiring) == 2 and all(n["uscc"] == USCC for n in expiring)
    assert any("SOON-1" in n["message"] for n in expiring)
    # the human report shows the notice beside the verdict
    page = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("c.pdf", signed.content, "application/pdf")},
        data={"format": "html"},
    ).text
    assert "许可或备案将于" in page

    # the check page
    page = api.client.get(f"/check/{USCC}").text
    assert "过期" in page and "将于 10 天后到期" in page and "OLD-1" in page


def test_permits_are_in_the_license_pdf_annex(api: Api, tmp_path: Path) -> None:
    _add(api, number="OLD-2", valid_from="2019-01-01", valid_to="2020-12-31")
    _add(api, number="NOW-2")
    r = api.client.get(f"/v1/enterprises/{USCC}/license.pdf", headers=api.headers("own"))
    path = tmp_path / "license.pdf"
    path.write_bytes(r.content)
    require_tool("pdftotext")
    out = subprocess.run(
        ["pdftotext", "-layout", "-f", "2", str(path), "-"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "许可与备案信息" in out and "食品经营许可证" in out
    old_line = next(line for line in out.splitlines() if "OLD-2" in line)
    now_line = next(line for line in out.splitlines() if "NOW-2" in line)
    assert "过期" in old_line and "有效" in now_line


def test_a_copy_of_the_permit_is_kept_as_it_was_sent(api: Api) -> None:
    permit = _add(api)
    url = f"{P}/{permit['id']}/document"
    r = api.client.get(url, headers=api.headers("verifier"))
    assert r.status_code == 404 and r.json()["code"] == "permit_document_not_found"
    r = api.client.put(url, headers=api.headers("own"), content=b"not a pdf")
    assert r.status_code == 422 and r.json()["code"] == "invalid_pdf"
    pdf = simple_pdf()
    r = api.client.put(
        url, headers=api.headers("own"), files={"file": ("许可证.pdf", pdf, "application/pdf")}
    )
    assert r.status_code == 200, r.text
    assert r.json()["document"]["filename"] == "许可证.pdf"
    r = api.client.get(url, headers=api.headers("verifier"))
    assert r.content == pdf and r.headers["content-type"] == "application/pdf"
    # a later upload becomes the document; the earlier one stays stored
    second = simple_pdf(2)
    api.client.put(url, headers=api.headers("admin"), content=second)
    assert api.client.get(url, headers=api.headers("own")).content == second
    with api.container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM permit_documents")).scalar_one() == 2
    # a stored copy that no longer matches its digest is not handed out
    with api.container.engine.begin() as conn:
        conn.execute(text("UPDATE permit_documents SET content = :c"), {"c": b"%PDF-1.4 x %%EOF"})
    r = api.client.get(url, headers=api.headers("own"))
    assert r.status_code >= 400 and r.json()["code"] == "permit_document_corrupt"


def test_no_permit_under_a_license_that_is_not_active(api: Api) -> None:
    admin = api.headers("admin")
    api.client.post(
        f"/v1/enterprises/{OTHER_USCC}/status", headers=admin, json={"status": "cancelled"}
    )
    r = api.client.post(f"/v1/enterprises/{OTHER_USCC}/permits", headers=admin, json=_permit())
    assert r.status_code == 409 and r.json()["code"] == "license_not_active"


def test_the_answers_match_their_declared_models(api: Api) -> None:
    from api.answers import CheckCodeAnswer, PermitAnswer

    body = _add(api)
    for model, answer in (
        (PermitAnswer, body),
        (
            CheckCodeAnswer,
            api.client.post(
                f"/v1/enterprises/{USCC}/license-qr", headers=api.headers("own")
            ).json(),
        ),
    ):
        parsed = model.model_validate(answer)
        assert not parsed.model_extra, model.__name__  # the model names every key
        assert parsed.model_dump(mode="json") == answer
