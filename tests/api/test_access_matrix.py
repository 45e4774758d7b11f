"""Every route × every role × own and other enterprise: the status, the body, nothing changed.

Roles: no token, admin, an enterprise key of the enterprise in the path ("own"), an
enterprise key of another enterprise ("other"), a verifier, an approver key of the enterprise
in the path ("approver", 用印审批).  A refused request must leave
the audit log, the license and the seals exactly as they were.  An allowed request must get
the answer that role is meant to get: its status and what the body says (whose records,
which document, which state), not merely "not 401/403".
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from sqlalchemy import text

from helpers import OTHER_USCC, ROOT, USCC, Api, license_data
from invoices import invoice, invoice_xml
from pdfs import simple_pdf

ROLES = (None, "admin", "own", "other", "verifier", "approver")
PDF = simple_pdf(1)
NEW_USCC = "914403001922038216"
#: the enterprise each enterprise key belongs to
ENTERPRISE_OF = {"own": USCC, "other": OTHER_USCC, "approver": USCC}

Check = Callable[[Api, str | None, httpx.Response], None]


def _files(pdf: bytes = PDF, **data: str) -> dict[str, Any]:
    return {"files": {"file": ("d.pdf", pdf, "application/pdf")}, "data": data}


@dataclass(frozen=True)
class Answer:
    """What an allowed caller gets: the status, the media type, and a check of the body."""

    status: int
    media: str = "application/json"
    check: Check = lambda api, who, r: None


def _problem(code: str) -> Check:
    """An allowed caller whose request is refused for what it holds, not for who it is."""

    def check(api: Api, who: str | None, r: httpx.Response) -> None:
        assert r.json()["code"] == code

    return check


def _license(status: str) -> Check:
    def check(api: Api, who: str | None, r: httpx.Response) -> None:
        body = r.json()
        assert body["uscc"] == USCC and body["status"] == status
        assert body["status_history"][-1]["status"] == status

    return check


def _seal(status: str, version: int) -> Check:
    def check(api: Api, who: str | None, r: httpx.Response) -> None:
        body = r.json()
        assert (body["uscc"], body["kind"], body["status"], body["version"]) == (
            USCC,
            "contract",
            status,
            version,
        )
        assert body["certificate"].startswith("-----BEGIN CERTIFICATE-----")

    return check


def _registered(api: Api, who: str | None, r: httpx.Response) -> None:
    body = r.json()
    assert body["license"]["uscc"] == NEW_USCC
    assert [s["status"] for s in body["seals"]] == ["active"] * 5


def _seals(api: Api, who: str | None, r: httpx.Response) -> None:
    seals = r.json()
    assert [s["kind"] for s in seals] == ["official", "contract", "finance", "invoice", "legal_rep"]
    assert {s["uscc"] for s in seals} == {USCC}


def _png(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n")


def _chain(count: int) -> Check:
    def check(api: Api, who: str | None, r: httpx.Response) -> None:
        assert r.text.count("-----BEGIN CERTIFICATE-----") == count

    return check


def _signed(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.content.startswith(b"%PDF") and r.content != PDF
    assert r.headers["x-eseal-sha256"] == hashlib.sha256(r.content).hexdigest()
    record = api.client.get(
        f"/v1/archives/{r.headers['x-eseal-archive-id']}", headers=api.headers(who)
    ).json()
    assert record["uscc"] == ENTERPRISE_OF[str(who)]  # sealed with the caller's own seals


def _report(api: Api, who: str | None, r: httpx.Response) -> None:
    report = r.json()
    assert report["file"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert report["valid"] is False and report["signatures"] == []  # PDF is not sealed


def _visible(who: str | None) -> set[str]:
    """The enterprises whose archive and audit entries ``who`` may read."""
    return {USCC, OTHER_USCC} if who == "admin" else {ENTERPRISE_OF[str(who)]}


def _archives(api: Api, who: str | None, r: httpx.Response) -> None:
    assert {i["uscc"] for i in r.json()["items"]} == _visible(who)


def _export(api: Api, who: str | None, r: httpx.Response) -> None:
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("manifest.json"))
    assert {f["uscc"] for f in manifest["files"]} == _visible(who)


def _audit(api: Api, who: str | None, r: httpx.Response) -> None:
    usccs = {e["uscc"] for e in r.json()["entries"]}
    if who == "admin":
        assert _visible(who) <= usccs
    else:
        assert usccs == _visible(who)


def _chain_ok(api: Api, who: str | None, r: httpx.Response) -> None:
    body = r.json()
    assert body["ok"] is True and body["entries"] > 0 and body["first_broken"] is None


def _new_key(api: Api, who: str | None, r: httpx.Response) -> None:
    body = r.json()
    assert body["role"] == "admin" and body["name"] == "x" and body["token"].startswith("esk_")
    assert (
        api.client.get(
            "/v1/audit/verify", headers={"Authorization": f"Bearer {body['token']}"}
        ).status_code
        == 200
    )  # the token works


def _tsa_refusal(api: Api, who: str | None, r: httpx.Response) -> None:
    # a refusal carries no token (which asn1crypto's TimeStampResp insists on): its status only
    status = asn1_tsp.PKIStatusInfo.load(asn1_core.Sequence.load(r.content)[0].dump())
    assert status["status"].native == "rejection"


def _crl(api: Api, who: str | None, r: httpx.Response) -> None:
    issuing = pem.unarmor((api.container.settings.pki_dir / "issuing.pem").read_bytes())[2]
    crl = asn1_crl.CertificateList.load(r.content)
    assert crl.issuer == asn1_x509.Certificate.load(issuing).subject


def _ocsp_refusal(api: Api, who: str | None, r: httpx.Response) -> None:
    assert asn1_ocsp.OCSPResponse.load(r.content)["response_status"].native == "malformed_request"


def _healthy(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.json() == {"status": "ok"}


def _metrics(api: Api, who: str | None, r: httpx.Response) -> None:
    assert "# TYPE eseal_http_requests_total counter" in r.text


def _policies(uscc: str) -> Check:
    def check(api: Api, who: str | None, r: httpx.Response) -> None:
        body = r.json()
        assert body["uscc"] == uscc and len(body["policies"]) == 5

    return check


def _batch_of(who: str) -> Check:
    """A queued batch of ``who``'s own enterprise, waited for until its workers are done
    (so that nothing changes behind the next caller's back)."""

    def check(api: Api, caller: str | None, r: httpx.Response) -> None:
        from batch_helpers import wait_done

        body = r.json()
        assert body["uscc"] == ENTERPRISE_OF[str(caller)] and body["total"] == 1
        assert wait_done(api, body["id"], str(caller))["counts"]["done"] == 1

    return check


def _approvals(api: Api, who: str | None, r: httpx.Response) -> None:
    assert {a["uscc"] for a in r.json()["items"]} <= _visible(who)


_NO_SUCH_APPROVAL = Answer(404, "application/problem+json", _problem("approval_not_found"))


def _finished_batch(api: Api) -> dict[str, str]:
    from batch_helpers import post_batch, wait_done

    r = post_batch(api, [("c.pdf", PDF)], options={})
    assert r.status_code == 202, r.text
    return {"batch": wait_done(api, r.json()["id"])["id"]}


def _batch(api: Api, who: str | None, r: httpx.Response) -> None:
    body = r.json()
    assert body["uscc"] == USCC and body["status"] == "done"
    assert [f["status"] for f in body["files"]] == ["done"]


def _batch_zip(api: Api, who: str | None, r: httpx.Response) -> None:
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(zf.namelist()) == ["c.pdf", "results.json"]
    assert json.loads(zf.read("results.json"))["batch"]["uscc"] == USCC


def _webhook(api: Api, who: str | None, r: httpx.Response) -> None:
    body = r.json()
    assert body["uscc"] == ENTERPRISE_OF.get(str(who)) and body["secret"].startswith("whsec_")


def _webhooks(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.json() == []  # none made yet, whoever asks


def _license_pdf(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.content.startswith(b"%PDF") and b"/ByteRange" in r.content
    assert r.headers["x-eseal-sha256"] == hashlib.sha256(r.content).hexdigest()


def _check_code(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.json()["url"].startswith(f"http://127.0.0.1:8000/check/{USCC}?")


#: each request records a permit of its own number (one type and number per enterprise)
_NUMBERS = itertools.count(1)
_PERMIT = {
    "type": "permit",
    "name": "食品经营许可证",
    "number": "JY1",
    "issuing_authority": "北京市海淀区市场监督管理局",
    "valid_from": "2024-01-01",
}


def _permit(api: Api, who: str | None, r: httpx.Response) -> None:
    body = r.json()
    assert (body["uscc"], body["status"]) == (USCC, "valid") and body["number"].startswith("JY")


def _permits(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.json() == []


_NO_PERMIT = Answer(404, "application/problem+json", _problem("permit_not_found"))


def _same(answer: Answer, *roles: str | None) -> dict[str | None, Answer]:
    return dict.fromkeys(roles, answer)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    request: Callable[[], dict[str, Any]]
    #: the roles allowed, and what each gets; every other role gets 401 or 403
    allowed: dict[str | None, Answer]
    #: documents sealed for both enterprises first, so that whose records come back shows
    sealed_first: bool = False
    #: made before the roles ask: the values of the path's ``{placeholders}``
    prepare: Callable[[Api], dict[str, str]] | None = None


E = f"/v1/enterprises/{USCC}"
EVERYONE = ROLES
SIGNED_IN = ("admin", "own", "other", "verifier", "approver")
#: the roles of an enterprise's own keys and the admin's: who reads approval requests
APPROVAL_READERS = ("admin", "own", "other", "approver")
NO_APPROVAL = f"/v1/approvals/{'0' * 26}"
ROUTES: list[Route] = [
    Route(
        "POST",
        "/v1/enterprises",
        lambda: {"json": license_data(uscc=NEW_USCC, name="深圳测试科技有限公司")},
        {"admin": Answer(201, check=_registered)},
    ),
    Route("GET", E, dict, _same(Answer(200, check=_license("active")), "admin", "own", "verifier")),
    Route(
        "POST",
        f"{E}/status",
        lambda: {"json": {"status": "suspended"}},
        {"admin": Answer(200, check=_license("suspended"))},
    ),
    Route("GET", f"{E}/seals", dict, _same(Answer(200, check=_seals), "admin", "own")),
    Route(
        "GET",
        f"{E}/seals/contract",
        dict,
        _same(Answer(200, check=_seal("active", 1)), "admin", "own"),
    ),
    Route(
        "GET", f"{E}/seals/contract/image", dict, _same(Answer(200, "image/png", _png), *SIGNED_IN)
    ),
    Route(
        "GET",
        f"{E}/seals/contract/certificate",
        dict,
        _same(Answer(200, "application/pem-certificate-chain", _chain(3)), *SIGNED_IN),
    ),
    Route(
        "PUT",
        f"{E}/seals/contract/image",
        lambda: {"content": b"not an image"},
        _same(Answer(422, "application/problem+json", _problem("invalid_image")), "admin", "own"),
    ),
    Route(
        "POST",
        f"{E}/seals/contract/revoke",
        lambda: {"json": {}},
        {"admin": Answer(200, check=_seal("revoked", 1))},
    ),
    Route(
        "POST",
        f"{E}/seals/contract/reissue",
        lambda: {"json": {}},
        {"admin": Answer(200, check=_seal("active", 2))},
    ),
    Route(
        "POST",
        f"{E}/seals/contract/suspend",
        lambda: {"json": {}},
        {"admin": Answer(200, check=_seal("suspended", 1))},
    ),
    Route(
        "POST",
        "/v1/sign",
        lambda: _files(options="{}"),
        _same(Answer(200, "application/pdf", _signed), "own", "other"),
    ),
    Route(
        "POST",
        "/v1/batches",
        lambda: {"files": [("file", ("c.pdf", PDF, "application/pdf"))]},
        {who: Answer(202, check=_batch_of(who)) for who in ("own", "other")},
    ),
    Route(
        "GET",
        "/v1/batches/{batch}",
        dict,
        _same(Answer(200, check=_batch), "admin", "own"),
        prepare=_finished_batch,
    ),
    Route(
        "GET",
        "/v1/batches/{batch}/result.zip",
        dict,
        _same(Answer(200, "application/zip", _batch_zip), "admin", "own"),
        prepare=_finished_batch,
    ),
    Route(
        "POST",
        "/v1/extend",
        lambda: _files(),
        _same(Answer(422, "application/problem+json", _problem("no_signatures")), "own", "other"),
    ),
    Route("POST", "/v1/verify", lambda: _files(), _same(Answer(200, check=_report), *SIGNED_IN)),
    Route(
        "POST",
        "/v1/invoices/check",
        lambda: {"files": {"xml": ("i.xml", invoice_xml(invoice()), "application/xml")}},
        _same(Answer(200), "admin", "own", "other", "verifier"),
    ),
    Route(
        "GET",
        "/v1/archives",
        dict,
        _same(Answer(200, check=_archives), "admin", "own", "other"),
        sealed_first=True,
    ),
    Route(
        "POST",
        "/v1/archives/export",
        lambda: {"json": {"from": "2000-01-01"}},
        _same(Answer(200, "application/zip", _export), "admin", "own", "other"),
        sealed_first=True,
    ),
    Route(
        "GET",
        "/v1/audit",
        dict,
        _same(Answer(200, check=_audit), "admin", "own", "other"),
        sealed_first=True,
    ),
    Route(
        "GET",
        "/v1/audit/verify",
        dict,
        _same(Answer(200, check=_chain_ok), "admin", "own", "other"),
    ),
    Route(
        "POST",
        "/v1/api-keys",
        lambda: {"json": {"role": "admin", "name": "x"}},
        {"admin": Answer(201, check=_new_key)},
    ),
    Route(
        "DELETE",
        "/v1/api-keys/nosuchkey",
        dict,
        {"admin": Answer(404, "application/problem+json", _problem("api_key_not_found"))},
    ),
    Route(
        "GET",
        f"{E}/seal-policies",
        dict,
        _same(Answer(200, check=_policies(USCC)), "admin", "own", "approver"),
    ),
    Route(
        "PUT",
        f"{E}/seal-policies",
        lambda: {"json": {"policies": []}},
        {"admin": Answer(200, check=_policies(USCC))},
    ),
    Route("GET", "/v1/approvals", dict, _same(Answer(200, check=_approvals), *APPROVAL_READERS)),
    *(
        Route(
            "GET",
            f"{NO_APPROVAL}{tail}",
            dict,
            _same(_NO_SUCH_APPROVAL, *APPROVAL_READERS),
        )
        for tail in ("", "/original", "/preview", "/document")
    ),
    *(
        Route(
            "POST",
            f"{NO_APPROVAL}/{verb}",
            lambda: {"json": {"comment": "x"}},
            {"approver": _NO_SUCH_APPROVAL},
        )
        for verb in ("approve", "reject")
    ),
    Route(
        "POST",
        f"{NO_APPROVAL}/seal",
        dict,
        _same(_NO_SUCH_APPROVAL, "own", "other", "approver"),
    ),
    Route(
        "POST",
        "/v1/webhooks",
        lambda: {"json": {"url": "https://93.184.215.14/hooks", "events": ["*"]}},
        _same(Answer(201, check=_webhook), "admin", "own", "other"),
    ),
    Route(
        "GET", "/v1/webhooks", dict, _same(Answer(200, check=_webhooks), "admin", "own", "other")
    ),
    *(
        Route(
            method,
            f"/v1/webhooks/nosuchhook{path}",
            dict,
            _same(
                Answer(404, "application/problem+json", _problem("webhook_not_found")),
                "admin",
                "own",
                "other",
            ),
        )
        for method, path in (
            ("GET", ""),
            ("DELETE", ""),
            ("POST", "/rotate-secret"),
            ("GET", "/deliveries"),
            ("GET", "/deliveries/1"),
            ("POST", "/deliveries/1/redeliver"),
        )
    ),
    Route(
        "POST",
        "/v1/tsa",
        lambda: {"content": b"garbage", "headers": {"Content-Type": "application/timestamp-query"}},
        _same(Answer(200, "application/timestamp-reply", _tsa_refusal), *SIGNED_IN),
    ),
    Route(
        "GET",
        "/v1/pki/ca",
        dict,
        _same(Answer(200, "application/pem-certificate-chain", _chain(2)), *EVERYONE),
    ),
    Route("GET", "/v1/pki/crl", dict, _same(Answer(200, "application/pkix-crl", _crl), *EVERYONE)),
    Route(
        "POST",
        "/v1/pki/ocsp",
        lambda: {"content": b"garbage"},
        _same(Answer(200, "application/ocsp-response", _ocsp_refusal), *EVERYONE),
    ),
    # logging in with the license: the suite's verifier key has no access form, so it is a
    # verifier but not a relying party (tests/api/test_login.py runs the whole flow)
    Route(
        "POST",
        "/v1/auth/challenges",
        lambda: {"json": {"nonce": "n0nce-of-the-matrix-test", "purpose": "登录"}},
        {
            "verifier": Answer(
                403, "application/problem+json", _problem("relying_party_not_registered")
            )
        },
    ),
    Route(
        "GET",
        "/v1/auth/challenges/nosuchchallenge",
        dict,
        _same(
            Answer(404, "application/problem+json", _problem("challenge_not_found")),
            "admin",
            "own",
            "other",
            "verifier",
        ),
    ),
    Route(
        "POST",
        "/v1/auth/challenges/nosuchchallenge/confirm",
        dict,
        _same(
            Answer(404, "application/problem+json", _problem("challenge_not_found")),
            "own",
            "other",
        ),
    ),
    Route(
        "POST",
        "/v1/auth/assertions/verify",
        lambda: {"json": {"assertion": "not.an.assertion"}},
        {
            "verifier": Answer(
                403, "application/problem+json", _problem("relying_party_not_registered")
            )
        },
    ),
    Route("GET", "/healthz", dict, _same(Answer(200, check=_healthy), *EVERYONE)),
    Route(
        "GET",
        f"{E}/license.pdf",
        dict,
        _same(Answer(200, "application/pdf", _license_pdf), "admin", "own", "verifier"),
    ),
    Route(
        "POST",
        f"{E}/license-qr",
        dict,
        _same(Answer(201, check=_check_code), "admin", "own"),
    ),
    Route(
        "POST",
        f"{E}/permits",
        lambda: {"json": {**_PERMIT, "number": f"JY{next(_NUMBERS)}"}},
        _same(Answer(201, check=_permit), "admin", "own"),
    ),
    Route(
        "GET", f"{E}/permits", dict, _same(Answer(200, check=_permits), "admin", "own", "verifier")
    ),
    Route(
        "GET",
        f"{E}/permits/pmt_none",
        dict,
        _same(_NO_PERMIT, "admin", "own", "verifier"),
    ),
    Route(
        "PATCH",
        f"{E}/permits/pmt_none",
        lambda: {"json": {"status": "suspended"}},
        _same(_NO_PERMIT, "admin", "own"),
    ),
    Route(
        "PUT",
        f"{E}/permits/pmt_none/document",
        lambda: {"content": PDF},
        _same(_NO_PERMIT, "admin", "own"),
    ),
    Route(
        "GET",
        f"{E}/permits/pmt_none/document",
        dict,
        _same(_NO_PERMIT, "admin", "own", "verifier"),
    ),
    Route("GET", "/metrics", dict, _same(Answer(200, "text/plain", _metrics), *EVERYONE)),
]


# -- front systems (issue 19): the registry feed and the filings of access forms ---------


def _feed_batch(api: Api, who: str | None, r: httpx.Response) -> None:
    batch = json.loads(r.content)
    assert batch["after"] == 0 and r.headers["eseal-feed-signature"]
    assert {c["key"] for c in batch["changes"] if c["kind"] == "license"} >= {USCC, OTHER_USCC}


def _filed(api: Api, who: str | None, r: httpx.Response) -> None:
    assert r.json()["role"] == "verifier" and "token" not in r.json()


_FORM = json.loads((ROOT / "examples" / "access-form.json").read_text(encoding="utf-8"))

# a verifier key of a relying party (no front_system in its access form) is refused like the
# roles that may not use the routes at all
ROUTES += [
    Route("GET", "/v1/registry/feed", dict, _same(Answer(200, check=_feed_batch), "admin")),
    Route(
        "GET",
        "/v1/registry/feed/certificate",
        dict,
        _same(Answer(200, "application/x-pem-file"), *EVERYONE),
    ),
    Route(
        "POST",
        "/v1/access-forms",
        lambda: {"json": {"front_key_id": "k1", "name": "税务局", "access_form": _FORM}},
        _same(Answer(201, check=_filed), "admin"),
    ),
]


def _state(api: Api) -> tuple[Any, ...]:
    with api.container.engine.connect() as conn:
        audit = conn.execute(text("SELECT count(*), max(hash) FROM audit")).one()
        seals = conn.execute(
            text(
                "SELECT kind, version, status, image_sha256 FROM seals ORDER BY uscc, kind, version"
            )
        ).all()
        ent = conn.execute(text("SELECT uscc, status FROM enterprises ORDER BY uscc")).all()
        keys = conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
        hooks = conn.execute(text("SELECT count(*) FROM webhook_subscriptions")).scalar_one()
        permits = conn.execute(text("SELECT id, status FROM permits ORDER BY id")).all()
    return tuple(audit), tuple(seals), tuple(ent), keys, hooks, tuple(permits)


def _seal_for_both(api: Api) -> None:
    for who in ("own", "other"):
        r = api.client.post("/v1/sign", headers=api.headers(who), **_files(options="{}"))
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
def test_route_by_role(api: Api, route: Route) -> None:
    _, api.tokens["approver"] = api.container.api_keys.create(
        role="approver", uscc=USCC, name="approver", actor="test"
    )
    if route.sealed_first:
        _seal_for_both(api)
    path = route.path.format(**route.prepare(api)) if route.prepare else route.path
    for who in ROLES:
        before = _state(api)
        args = route.request()
        headers = {**args.pop("headers", {}), **api.headers(who)}
        r = api.client.request(route.method, path, headers=headers, **args)
        answer = route.allowed.get(who)
        if answer is not None:
            assert r.status_code == answer.status, (who, r.status_code, r.text[:500])
            assert r.headers["content-type"].startswith(answer.media), (who, r.headers)
            answer.check(api, who, r)
            if answer.status >= 400:
                assert _state(api) == before, f"{route.method} {route.path} refused changed state"
        else:
            assert r.status_code == (401 if who is None else 403), (who, r.status_code, r.text)
            assert r.json()["code"] == ("unauthorized" if who is None else "forbidden")
            assert _state(api) == before, (
                f"{route.method} {route.path} refused for {who} changed state"
            )


def test_an_enterprise_reads_only_its_own_audit(api: Api) -> None:
    r = api.client.post(
        "/v1/sign",
        headers=api.headers("other"),
        files={"file": ("d.pdf", PDF, "application/pdf")},
        data={"options": json.dumps({})},
    )
    assert r.status_code == 200
    entries = api.client.get("/v1/audit", headers=api.headers("own")).json()["entries"]
    assert entries and all(e["uscc"] == USCC for e in entries)


def test_bad_tokens_are_one_opaque_error(api: Api) -> None:
    for header in ("Bearer esk_nope_nope", "Bearer garbage", "Basic abc", "Bearer "):
        r = api.client.get(E, headers={"Authorization": header})
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert "esk_nope" not in r.text
