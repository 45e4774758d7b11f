"""``POST /v1/invoices/check`` over HTTP with the real app: who may ask, the verdict a client
reads, and a coded 4xx (never a 500) for every bad upload."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.answers import InvoiceCheckAnswer
from helpers import Api
from invoices import invoice, invoice_ofd, invoice_xml, replace
from pdfs import simple_pdf

URL = "/v1/invoices/check"
INV = invoice()
OFD = invoice_ofd(INV)
XML = invoice_xml(INV)


def _files(ofd: bytes | None = OFD, xml: bytes | None = XML) -> dict[str, Any]:
    files = {}
    if ofd is not None:
        files["ofd"] = ("dzfp_25442000000123456789.ofd", ofd, "application/ofd")
    if xml is not None:
        files["xml"] = ("dzfp_25442000000123456789.xml", xml, "application/xml")
    return {"files": files}


def _post(api: Api, who: str | None = "verifier", **kwargs: Any) -> httpx.Response:
    return api.client.post(URL, headers=api.headers(who), **kwargs)


def _audit_size(api: Api) -> int:
    return len(api.client.get("/v1/audit", headers=api.headers("admin")).json()["entries"])


@pytest.mark.parametrize("who", ["admin", "own", "verifier"])
def test_a_consistent_pair_for_every_signed_in_role(api: Api, who: str) -> None:
    r = _post(api, who, **_files())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["consistent"] is True and body["problems"] == []
    assert body["sources"] == ["xml", "ofd"]
    assert body["xml"]["total_with_tax"] == body["ofd"]["total_with_tax"] == "1220.90"
    assert body["ofd"]["seller_tax_id"] == "914403001922038216"
    assert all(c["agree"] for c in body["comparisons"])
    assert body["signature_count"] == 2
    # the body is exactly the declared model: every key named, nothing dropped
    answer = InvoiceCheckAnswer.model_validate(body)
    assert answer.model_dump(mode="json") == body


def test_without_a_token_it_is_refused(api: Api) -> None:
    r = _post(api, None, **_files())
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_a_mismatch_is_a_verdict_not_an_error(api: Api) -> None:
    other = invoice_ofd(replace(INV, buyer_tax_id="9144030071526726XG"))
    r = _post(api, **_files(ofd=other))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["consistent"] is False
    assert [(p["code"], p["field"]) for p in body["problems"]] == [
        ("field_mismatch", "buyer_tax_id")
    ]
    bad = [c for c in body["comparisons"] if not c["agree"]]
    assert bad == [
        {
            "field": "buyer_tax_id",
            "xml": "91110108551385082Q",
            "ofd": "9144030071526726XG",
            "agree": False,
        }
    ]


def test_amounts_written_differently_agree(api: Api) -> None:
    ofd = invoice_ofd(INV, amount=lambda d: f"{d:,.2f}")
    xml = invoice_xml(INV, amount=lambda d: f"{d:f}".rstrip("0").rstrip("."))
    body = _post(api, **_files(ofd=ofd, xml=xml)).json()
    assert body["consistent"] is True
    assert Decimal(body["xml"]["amount_without_tax"]) == Decimal(body["ofd"]["amount_without_tax"])


@pytest.mark.parametrize("only", ["ofd", "xml"])
def test_one_file_alone(api: Api, only: str) -> None:
    files = _files(ofd=OFD if only == "ofd" else None, xml=XML if only == "xml" else None)
    r = _post(api, **files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sources"] == [only] and body["comparisons"] == []
    assert body["notices"][0]["code"] == "single_source"
    assert body[only]["number"] == "25442000000123456789"


def test_a_check_changes_nothing(api: Api) -> None:
    before = _audit_size(api)
    assert _post(api, **_files()).status_code == 200
    assert _post(api, **_files(xml=b"<nope/>")).status_code == 422
    assert _audit_size(api) == before


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE EInvoice [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    b"]><EInvoice><Header><EIid>&c;</EIid></Header></EInvoice>"
)


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        ({"files": {"pdf": ("a.pdf", simple_pdf(), "application/pdf")}}, 422, "invalid_upload"),
        ({"json": {"ofd": "x"}}, 422, "invalid_upload"),
        ({"data": {"xml": XML.decode()}}, 422, "invalid_upload"),
        (_files(ofd=simple_pdf(), xml=None), 422, "invalid_ofd"),
        (_files(ofd=XML, xml=None), 422, "invalid_ofd"),
        (_files(ofd=None, xml=simple_pdf()), 422, "invalid_invoice"),
        (_files(ofd=None, xml=b"<Invoice><No>1</No></Invoice>"), 422, "invalid_invoice"),
        (_files(ofd=None, xml=LAUGHS), 422, "invalid_invoice"),
        (_files(ofd=None, xml=b""), 422, "invalid_invoice"),
        (_files(ofd=b"", xml=XML), 422, "invalid_ofd"),
    ],
    ids=[
        "neither-file",
        "not-multipart",
        "xml-as-text-field",
        "pdf-as-ofd",
        "xml-as-ofd",
        "pdf-as-xml",
        "other-xml",
        "xml-entities",
        "empty-xml",
        "empty-ofd",
    ],
)
def test_bad_uploads_are_coded_problems(
    api: Api, request_args: dict[str, Any], status: int, code: str
) -> None:
    r = _post(api, **request_args)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def test_an_upload_over_the_limit_is_413(api: Api) -> None:
    big = XML + b"<!--" + b"x" * (3 * 1024 * 1024) + b"-->"  # the test app's limit is 2 MB
    r = _post(api, **_files(ofd=None, xml=big))
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
