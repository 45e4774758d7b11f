"""POST /v1/sign and /v1/verify with the document as the body (api/raw_body.py): the same
answers, archive, audit and idempotency as the multipart form, and clear refusals."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text

from helpers import OTHER_USCC, USCC, Api
from ofds import simple_ofd
from pdfs import simple_pdf

PROBLEM = "application/problem+json"
OPTIONS = {"seals": [{"kind": "contract"}], "document_type": "contract", "reference": "HT-9"}


def _counts(api: Api) -> tuple[int, int]:
    """Rows in the archive and entries in the audit log."""
    with api.container.engine.connect() as conn:
        archived = conn.execute(text("SELECT count(*) FROM archives")).scalar_one()
        audited = conn.execute(text("SELECT count(*) FROM audit")).scalar_one()
    return int(archived), int(audited)


def _raw_sign(
    api: Api,
    body: bytes | Iterator[bytes],
    *,
    query: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    content_type: str = "application/pdf",
    **headers: str | bytes,
) -> httpx.Response:
    """Seal with the document as the body; ``options`` in the Eseal-Options header."""
    sent: dict[str, str | bytes] = {**api.headers("own"), "Content-Type": content_type, **headers}
    if options is not None:
        sent["Eseal-Options"] = json.dumps(options, ensure_ascii=False)
    url = "/v1/sign" + (f"?{urlencode(query)}" if query else "")
    return api.client.post(url, content=body, headers=sent)


def _form_sign(api: Api, pdf: bytes, options: dict[str, Any], **headers: str) -> httpx.Response:
    return api.client.post(
        "/v1/sign",
        headers={**api.headers("own"), **headers},
        files={"file": ("c.pdf", pdf, "application/pdf")},
        data={"options": json.dumps(options)},
    )


def _verify(
    api: Api,
    body: bytes,
    *,
    query: dict[str, str] | None = None,
    header: dict[str, str] | None = None,
    content_type: str = "application/pdf",
) -> httpx.Response:
    sent = {**api.headers("verifier"), "Content-Type": content_type}
    if header is not None:
        sent["Eseal-Options"] = json.dumps(header)
    url = "/v1/verify" + (f"?{urlencode(query)}" if query else "")
    return api.client.post(url, content=body, headers=sent)


def _form_verify(api: Api, data: bytes, **fields: str) -> httpx.Response:
    return api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", data, "application/pdf")},
        data=fields,
    )


def _seal_uses(api: Api, archive_id: str) -> list[dict[str, Any]]:
    entries = api.client.get("/v1/audit", headers=api.headers("admin")).json()["entries"]
    return [e for e in entries if e["action"] == "seal.use" and e["archive_id"] == archive_id]


def _problem(r: httpx.Response, status: int, code: str) -> None:
    assert (r.status_code, r.headers["content-type"]) == (status, PROBLEM), r.text
    assert r.json()["code"] == code, r.text


def test_a_raw_pdf_is_sealed_archived_and_audited_as_a_form_upload_is(api: Api) -> None:
    pdf = simple_pdf(2)
    before = _counts(api)
    raw = _raw_sign(api, pdf, options=OPTIONS)
    assert raw.status_code == 200, raw.text
    assert raw.headers["content-type"] == "application/pdf"
    assert raw.headers["x-eseal-sha256"] == hashlib.sha256(raw.content).hexdigest()
    archive_id = raw.headers["x-eseal-archive-id"]
    form = _form_sign(api, pdf, OPTIONS)
    assert form.status_code == 200, form.text
    assert _counts(api)[0] == before[0] + 2  # one archive row each

    # the archive holds what was answered, under the same metadata as the form's
    record = api.client.get(f"/v1/archives/{archive_id}", headers=api.headers("own")).json()
    other = api.client.get(
        f"/v1/archives/{form.headers['x-eseal-archive-id']}", headers=api.headers("own")
    ).json()
    assert record["sha256"] == raw.headers["x-eseal-sha256"]
    for key in ("reference", "document_type", "level", "uscc", "seals"):
        assert record[key] == other[key], key
    stored = api.client.get(f"/v1/archives/{archive_id}/file", headers=api.headers("own"))
    assert stored.content == raw.content
    # the seal use is audited, with the SHA-256 of the body as it was sent (hashed as read)
    (use,) = _seal_uses(api, archive_id)
    assert use["seal_kind"] == "contract" and use["document_sha256"] == record["sha256"]
    assert use["detail"]["input_sha256"] == hashlib.sha256(pdf).hexdigest()

    # both validate, and the raw verification says what the form's does
    reports = [
        _verify(api, raw.content, query={"expect_uscc": USCC}),
        _form_verify(api, raw.content, expect_uscc=USCC),
    ]
    assert [r.status_code for r in reports] == [200, 200]
    as_raw, as_form = (r.json() for r in reports)
    assert as_raw["valid"] is True and as_raw["expect_uscc"] == USCC
    assert as_raw["signatures"][0]["seal"]["kind"] == "contract"
    assert as_raw["file"] == as_form["file"]
    assert as_raw["signatures"] == as_form["signatures"]
    assert as_raw["valid"] == as_form["valid"]
    form_report = _form_verify(api, form.content).json()
    assert form_report["valid"] is True


def test_options_in_the_query_and_another_enterprises_expectation(api: Api) -> None:
    r = _raw_sign(api, simple_pdf(1), query={"options": json.dumps(OPTIONS)})
    assert r.status_code == 200, r.text
    v = _verify(api, r.content, header={"expect_uscc": OTHER_USCC})
    assert v.status_code == 200 and v.json()["valid"] is False  # still 200, as the form
    page = _verify(api, r.content, query={"format": "html"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert USCC in page.text


def test_the_header_may_carry_utf8_or_escaped_json(api: Api) -> None:
    options = {**OPTIONS, "reference": "合同-甲方"}
    for header in (
        json.dumps(options, ensure_ascii=False).encode(),  # the bytes as curl sends them
        json.dumps(options).encode(),  # \\uXXXX escapes
    ):
        r = _raw_sign(api, simple_pdf(1), **{"Eseal-Options": header})
        assert r.status_code == 200, r.text
        archive_id = r.headers["x-eseal-archive-id"]
        record = api.client.get(f"/v1/archives/{archive_id}", headers=api.headers("own")).json()
        assert record["reference"] == "合同-甲方"


def test_the_amount_in_the_query_meets_the_seal_policy(api: Api) -> None:
    """A contract seal that needs approval from 100 000 yuan: the raw body's amount (query)
    decides as the form's field does; above it, the request waits (202), nothing sealed."""
    api.container.api_keys.create(role="approver", uscc=USCC, name="审批人", actor="test")
    condition = {"document_types": ["contract"], "min_amount": "100000"}
    policy = {"kind": "contract", "approval": "required", "condition": condition}
    r = api.client.put(
        f"/v1/enterprises/{USCC}/seal-policies",
        headers=api.headers("admin"),
        json={"policies": [policy]},
    )
    assert r.status_code == 200, r.text
    pdf = simple_pdf(1)
    below = _raw_sign(api, pdf, query={"amount": "99999.99"}, options=OPTIONS)
    assert below.status_code == 200, below.text
    before = _counts(api)
    above = _raw_sign(api, pdf, query={"amount": "250000.00"}, options=OPTIONS)
    assert above.status_code == 202, above.text
    assert above.json()["amount"] == "250000.00" and above.json()["status"] == "pending"
    assert above.headers["location"] == f"/v1/approvals/{above.json()['id']}"
    assert _counts(api)[0] == before[0]  # nothing archived while it waits


def test_an_ofd_body_is_sealed_and_verified(api: Api) -> None:
    options = {"seals": [{"kind": "contract", "page": 1, "x": 150, "y": 60}]}
    r = _raw_sign(api, simple_ofd(1), options=options, content_type="application/ofd")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ofd"
    v = _verify(api, r.content, content_type="application/octet-stream")
    assert v.status_code == 200 and v.json()["format"] == "ofd" and v.json()["valid"] is True


def test_an_octet_stream_body_is_judged_by_its_content(api: Api) -> None:
    r = _raw_sign(api, simple_pdf(1), options=OPTIONS, content_type="application/octet-stream")
    assert r.status_code == 200, r.text
    before = _counts(api)
    r = _raw_sign(api, b"GIF89a not a document", content_type="application/octet-stream")
    _problem(r, 415, "unsupported_media_type")
    assert _counts(api) == before


def test_a_retry_with_the_idempotency_key_is_answered_as_before_in_either_form(api: Api) -> None:
    pdf = simple_pdf(1)
    first = _raw_sign(api, pdf, options=OPTIONS, **{"Idempotency-Key": "raw-1"})
    assert first.status_code == 200, first.text
    counts = _counts(api)
    again = _raw_sign(
        api, pdf, query={"options": json.dumps(OPTIONS)}, **{"Idempotency-Key": "raw-1"}
    )
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["x-eseal-archive-id"] == first.headers["x-eseal-archive-id"]
    # the same request as a form is the same request
    form = _form_sign(api, pdf, OPTIONS, **{"Idempotency-Key": "raw-1"})
    assert form.status_code == 200 and form.headers["idempotent-replayed"] == "true"
    assert form.content == first.content
    assert _counts(api) == counts  # nothing sealed, archived or audited twice
    other = _raw_sign(api, simple_pdf(2), options=OPTIONS, **{"Idempotency-Key": "raw-1"})
    _problem(other, 409, "idempotency_conflict")


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        ({"headers": {"Eseal-Options": '{"seals": [{"kind": "contract"}'}}, 422, "invalid_options"),
        ({"headers": {"Eseal-Options": '["contract"]'}}, 422, "invalid_options"),
        ({"headers": {"Eseal-Options": '{"seal": "contract"}'}}, 422, "invalid_options"),
        ({"query": {"seal": "contract"}}, 422, "invalid_options"),
        ({"query": {"options": '{"level": "B-XL"}'}}, 422, "invalid_options"),
        ({"query": {"options": '{"seals": [{"kind": "stamp"}]}'}}, 422, "unknown_seal_kind"),
        (
            {"query": {"options": "{}"}, "headers": {"Eseal-Options": "{}"}},
            400,
            "ambiguous_options",
        ),
    ],
    ids=[
        "bad-json-header",
        "header-not-an-object",
        "unknown-option",
        "unknown-query-parameter",
        "bad-level",
        "unknown-kind",
        "query-and-header",
    ],
)
def test_bad_options_are_refused_and_nothing_is_sealed(
    api: Api, request_args: dict[str, Any], status: int, code: str
) -> None:
    before = _counts(api)
    r = _raw_sign(
        api,
        simple_pdf(1),
        query=request_args.get("query"),
        **request_args.get("headers", {}),
    )
    _problem(r, status, code)
    assert _counts(api) == before


def test_bad_verification_options_are_refused(api: Api) -> None:
    pdf = simple_pdf(1)
    _problem(_verify(api, pdf, query={"expect": USCC}), 422, "invalid_options")
    _problem(_verify(api, pdf, header={"expect": USCC}), 422, "invalid_options")
    sent = {**api.headers("verifier"), "Content-Type": "application/pdf", "Eseal-Options": "{"}
    _problem(api.client.post("/v1/verify", content=pdf, headers=sent), 422, "invalid_options")
    r = _verify(api, pdf, query={"format": "html"}, header={"expect_uscc": USCC})
    _problem(r, 400, "ambiguous_options")
    _problem(_verify(api, pdf, query={"expect_uscc": "123"}), 422, "invalid_uscc")


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b"%PDF-1.7\n"
    sent = 0
    while sent < total:
        yield b"0" * size
        sent += size


def test_an_oversized_body_is_413_and_nothing_is_archived(api: Api) -> None:
    """The test app's limit is 2 MB: refused as it streams in (no length declared), and
    at once when the declared length is over the limit."""
    before = _counts(api)
    streamed = _raw_sign(api, _chunks(3 * 1024 * 1024), options=OPTIONS)
    _problem(streamed, 413, "file_too_large")
    declared = _raw_sign(api, b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024), options=OPTIONS)
    _problem(declared, 413, "file_too_large")
    verified = _verify(api, b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
    _problem(verified, 413, "file_too_large")
    assert _counts(api) == before
    assert api.client.get("/v1/archives", headers=api.headers("own")).json()["items"] == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json", "application/zip", "image/png", None]
)
def test_other_body_types_are_415(api: Api, content_type: str | None) -> None:
    before = _counts(api)
    headers = {**api.headers("own")}
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = api.client.post("/v1/sign", content=simple_pdf(1), headers=headers)
    _problem(r, 415, "unsupported_media_type")
    headers = {
        **api.headers("verifier"),
        **{k: v for k, v in headers.items() if k != "Authorization"},
    }
    _problem(
        api.client.post("/v1/verify", content=simple_pdf(1), headers=headers),
        415,
        "unsupported_media_type",
    )
    assert _counts(api) == before


def test_an_empty_body_is_refused_as_an_empty_file_is(api: Api) -> None:
    before = _counts(api)
    raw = _raw_sign(api, b"", options=OPTIONS)
    form = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", b"", "application/pdf")},
        data={"options": json.dumps(OPTIONS)},
    )
    assert raw.status_code == form.status_code == 422, (raw.text, form.text)
    assert raw.json()["code"] == form.json()["code"] == "invalid_pdf"
    for content_type in ("application/pdf", "application/octet-stream"):
        _problem(_verify(api, b"", content_type=content_type), 422, "invalid_pdf")
    assert _counts(api) == before


def test_the_openapi_document_shows_both_ways(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path in ("/v1/sign", "/v1/verify"):
        op = spec["paths"][path]["post"]
        content = op["requestBody"]["content"]
        assert set(content) >= {"multipart/form-data", "application/pdf", "application/ofd"}
        assert "Eseal-Options" in {p["name"] for p in op["parameters"] if p["in"] == "header"}
        assert "415" in op["responses"]
    sign = spec["paths"]["/v1/sign"]["post"]
    example = next(p for p in sign["parameters"] if p["name"] == "options")["example"]
    assert json.loads(example)["seals"][0]["kind"] == "contract"
