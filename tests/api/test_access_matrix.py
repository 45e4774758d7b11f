"""Every route × every role × own and other enterprise: the status, and nothing changed.

Roles: no token, admin, an enterprise key of the enterprise in the path ("own"), an
enterprise key of another enterprise ("other"), a verifier.  A refused request must leave
the audit log, the license and the seals exactly as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from helpers import USCC, Api, license_data
from pdfs import simple_pdf

ROLES = (None, "admin", "own", "other", "verifier")
PDF = simple_pdf(1)


def _files(pdf: bytes = PDF, **data: str) -> dict[str, Any]:
    return {"files": {"file": ("d.pdf", pdf, "application/pdf")}, "data": data}


# (method, path, request kwargs, roles allowed)
E = f"/v1/enterprises/{USCC}"
ROUTES: list[tuple[str, str, Callable[[], dict[str, Any]], set[str | None]]] = [
    ("POST", "/v1/enterprises",
     lambda: {"json": license_data(uscc="914403001922038216", name="深圳测试科技有限公司")},
     {"admin"}),
    ("GET", E, dict, {"admin", "own", "verifier"}),
    ("POST", f"{E}/status", lambda: {"json": {"status": "suspended"}}, {"admin"}),
    ("GET", f"{E}/seals", dict, {"admin", "own"}),
    ("GET", f"{E}/seals/contract", dict, {"admin", "own"}),
    ("GET", f"{E}/seals/contract/image", dict, {"admin", "own", "other", "verifier"}),
    ("GET", f"{E}/seals/contract/certificate", dict, {"admin", "own", "other", "verifier"}),
    ("PUT", f"{E}/seals/contract/image", lambda: {"content": b"not an image"}, {"admin", "own"}),
    ("POST", f"{E}/seals/contract/revoke", lambda: {"json": {}}, {"admin"}),
    ("POST", f"{E}/seals/contract/reissue", lambda: {"json": {}}, {"admin"}),
    ("POST", f"{E}/seals/contract/suspend", lambda: {"json": {}}, {"admin"}),
    ("POST", "/v1/sign", lambda: _files(options="{}"), {"own", "other"}),
    ("POST", "/v1/extend", lambda: _files(), {"own", "other"}),
    ("POST", "/v1/verify", lambda: _files(), {"admin", "own", "other", "verifier"}),
    ("GET", "/v1/archives", dict, {"admin", "own", "other"}),
    ("POST", "/v1/archives/export", lambda: {"json": {"reference": "none"}},
     {"admin", "own", "other"}),
    ("GET", "/v1/audit", dict, {"admin", "own", "other"}),
    ("GET", "/v1/audit/verify", dict, {"admin", "own", "other"}),
    ("POST", "/v1/api-keys", lambda: {"json": {"role": "admin", "name": "x"}}, {"admin"}),
    ("DELETE", "/v1/api-keys/nosuchkey", dict, {"admin"}),
    ("POST", "/v1/tsa", lambda: {"content": b"garbage",
                                 "headers": {"Content-Type": "application/timestamp-query"}},
     {"admin", "own", "other", "verifier"}),
    ("GET", "/v1/pki/ca", dict, set(ROLES)),
    ("GET", "/v1/pki/crl", dict, set(ROLES)),
    ("POST", "/v1/pki/ocsp", lambda: {"content": b"garbage"}, set(ROLES)),
    ("GET", "/healthz", dict, set(ROLES)),
    ("GET", "/metrics", dict, set(ROLES)),
]


def _state(api: Api) -> tuple[Any, ...]:
    with api.container.engine.connect() as conn:
        audit = conn.execute(text("SELECT count(*), max(hash) FROM audit")).one()
        seals = conn.execute(text("SELECT kind, version, status, image_sha256 FROM seals "
                                  "ORDER BY uscc, kind, version")).all()
        ent = conn.execute(text("SELECT uscc, status FROM enterprises ORDER BY uscc")).all()
        keys = conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
    return tuple(audit), tuple(seals), tuple(ent), keys


@pytest.mark.parametrize(("method", "path", "kwargs", "allowed"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_route_by_role(api: Api, method: str, path: str,
                       kwargs: Callable[[], dict[str, Any]], allowed: set[str | None]) -> None:
    for who in ROLES:
        before = _state(api)
        args = kwargs()
        headers = {**args.pop("headers", {}), **api.headers(who)}
        r = api.client.request(method, path, headers=headers, **args)
        if who in allowed:
            assert r.status_code not in (401, 403), (who, r.status_code, r.text)
        else:
            assert r.status_code == (401 if who is None else 403), (who, r.status_code, r.text)
            assert r.json()["code"] in ("unauthorized", "forbidden")
            assert _state(api) == before, f"{method} {path} refused for {who} changed state"


def test_an_enterprise_reads_only_its_own_audit(api: Api) -> None:
    r = api.client.post("/v1/sign", headers=api.headers("other"),
                        files={"file": ("d.pdf", PDF, "application/pdf")},
                        data={"options": json.dumps({})})
    assert r.status_code == 200
    entries = api.client.get("/v1/audit", headers=api.headers("own")).json()["entries"]
    assert entries and all(e["uscc"] == USCC for e in entries)


def test_bad_tokens_are_one_opaque_error(api: Api) -> None:
    for header in ("Bearer esk_nope_nope", "Bearer garbage", "Basic abc", "Bearer "):
        r = api.client.get(E, headers={"Authorization": header})
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert "esk_nope" not in r.text
