"""Notices and ``expect_uscc`` over HTTP and in ``eseal verify``: what a bank's system and a
clerk see when the enterprise's license ended after it sealed, and when the expected
enterprise is malformed or absent from the document."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.report_html import render_report
from helpers import OTHER_USCC, ROOT, USCC, Api
from pdfs import simple_pdf
from seals.license import LicenseStatus

PROBLEM = "application/problem+json"
BEIJING = timezone(timedelta(hours=8))


def seal(api: Api) -> bytes:
    r = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(1), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": "contract"}], "level": "B-T"})},
    )
    assert r.status_code == 200, r.text
    return r.content


def verify(api: Api, pdf: bytes, expect: str | None = None, fmt: str = "json"):  # type: ignore[no-untyped-def]
    data = {"format": fmt}
    if expect is not None:
        data["expect_uscc"] = expect
    return api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", pdf, "application/pdf")},
        data=data,
    )


def wait_past_timestamp(report: dict) -> None:
    stamped = max(datetime.fromisoformat(s["timestamp"]["time"]) for s in report["signatures"])
    wait = (stamped + timedelta(seconds=1.05) - datetime.now(UTC)).total_seconds()
    if wait > 0:
        asyncio.run(asyncio.sleep(wait))


def test_cancelled_license_is_a_notice_in_json_and_html(api: Api) -> None:
    pdf = seal(api)
    before = verify(api, pdf, USCC).json()
    assert before["notices"] == []
    wait_past_timestamp(before)
    r = api.client.post(
        f"/v1/enterprises/{USCC}/status",
        headers=api.headers("admin"),
        json={"status": "cancelled", "reason": "注销登记"},
    )
    assert r.status_code == 200, r.text
    cancelled_at = datetime.fromisoformat(r.json()["status_history"][-1]["at"])

    report = verify(api, pdf, USCC).json()
    assert report["valid"] is True and report["problems"] == []
    codes = [n["code"] for n in report["notices"]]
    assert codes == ["license_cancelled_since_signing", "seal_revoked_since_signing"]
    assert report["notices"][0]["since"] == cancelled_at.isoformat()
    assert report["notices"][1]["reason"] == "cessation_of_operation"

    page = verify(api, pdf, USCC, fmt="html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    day = cancelled_at.astimezone(BEIJING).strftime("%Y-%m-%d")
    text = page.text
    # the headline says it, in amber, beside the green verdict
    assert f"签章有效：签章时营业执照存续；该企业营业执照已于 {day} 注销" in text
    assert 'class="overall good noticed"' in text
    assert '<span class="verdict big good">有效</span>' in text
    # the summary table marks the seal
    assert '<tr class="noticed">' in text and "执照已注销" in text and "印章已撤销" in text
    assert "停止经营" in text  # the reason, in Chinese


def test_expect_uscc_is_normalised(api: Api) -> None:
    pdf = seal(api)
    spaced = "  " + " ".join(USCC[i : i + 6] for i in range(0, 18, 6)).lower() + "\t"
    r = verify(api, pdf, spaced)
    assert r.status_code == 200
    assert r.json()["valid"] is True and r.json()["expect_uscc"] == USCC


@pytest.mark.parametrize(
    "bad", ["91110000600037341N", "9111000060003IOZSV", "1234", "911101085513850820X"]
)
def test_malformed_expect_uscc_is_422(api: Api, bad: str) -> None:
    pdf = seal(api)
    for fmt in ("json", "html"):
        r = verify(api, pdf, bad, fmt)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        problem = r.json()
        assert problem["code"] == "invalid_uscc" and problem["status"] == 422
        assert problem["detail"]


def test_a_well_formed_uscc_without_a_seal_says_so(api: Api) -> None:
    pdf = seal(api)
    report = verify(api, pdf, OTHER_USCC).json()
    assert report["valid"] is False
    assert [p["code"] for p in report["problems"]] == ["expected_enterprise_missing"]
    assert "carries no seal" in report["problems"][0]["message"]
    page = render_report(report, lambda _: None)
    assert f"文件中没有 {OTHER_USCC} 的签章。" in page
    assert "不能确认文件自签章后未被改动" not in page  # it was not changed, and it says so
    html = verify(api, pdf, OTHER_USCC, fmt="html").text
    assert f"文件中没有 {OTHER_USCC} 的签章。" in html


def test_page_carries_the_notice_texts(api: Api) -> None:
    page = api.client.get("/").text
    blob = page.split('id="notice-text">', 1)[1].split("</script>", 1)[0]
    tables = json.loads(blob)
    cancelled = tables["notices"]["license_cancelled_since_signing"]
    assert cancelled == "{enterprise}营业执照已于 {date} 注销"
    assert tables["marks"]["seal_superseded"] and tables["reasons"]["key_compromise"]


@pytest.mark.slow
def test_cli_verify_expect_uscc(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pdf = tmp_path / "sealed.pdf"
    pdf.write_bytes(seal(api))
    env = {**os.environ, "ESEAL_DATA_DIR": str(api.container.settings.data_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", "verify", str(pdf), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    bad = cli("--expect-uscc", "91110000600037341N")
    assert bad.returncode == 2 and bad.stdout == ""
    assert json.loads(bad.stderr)["code"] == "invalid_uscc"
    good = cli("--expect-uscc", USCC.lower()[:9] + " " + USCC.lower()[9:], "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["expect_uscc"] == USCC
    absent = cli("--expect-uscc", OTHER_USCC)
    assert absent.returncode == 1
    assert f"carries no seal of the enterprise {OTHER_USCC}" in absent.stdout


@pytest.mark.slow
def test_cli_prints_notices(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sealed = seal(api)
    wait_past_timestamp(verify(api, sealed).json())
    api.container.seals.change_status(USCC, LicenseStatus.SUSPENDED, "检查")
    pdf = tmp_path / "sealed.pdf"
    pdf.write_bytes(sealed)
    env = {**os.environ, "ESEAL_DATA_DIR": str(api.container.settings.data_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", str(pdf)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("VALID")
    assert "NOTICE license_suspended_now since " in out.stdout
