"""The seal and license a sealing request uses are read once per registry revision, and a
status change made anywhere stops the very next request (seals/registry_cache.py).

A server keeps what it looked up (the license's status, the seal with its image) while the
registry's revision stays the same; every status change raises the revision in its own
transaction, whichever process makes it.  Here the change is made by another service on the
same data dir (as another worker or the CLI would), and then, with ``eseal serve --workers 2``,
by one worker while the next request lands on the other.  No sleep, no expiry.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from balanced_server import Served, serve

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, Api
from pdfs import simple_pdf
from seals.images import render_seal
from seals.kinds import SealKind
from seals.license import LicenseStatus

OPTIONS = {"seals": [{"kind": "contract"}], "level": "B-B"}


def _sign(api: Api, kind: str = "contract") -> httpx.Response:
    return api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": kind}], "level": "B-B"})},
    )


@contextmanager
def _another_process(settings: Settings) -> Iterator[Container]:
    """Another service on the same data dir and database (as another worker or the CLI)."""
    other = build(settings)
    try:
        yield other
    finally:
        other.close()


def test_a_license_suspended_elsewhere_blocks_the_next_request_and_resuming_frees_it(
    api: Api, settings: Settings
) -> None:
    assert _sign(api).status_code == 200  # the license and the seal are now cached
    assert _sign(api).status_code == 200
    with _another_process(settings) as other:
        other.seals.change_status(USCC, LicenseStatus.SUSPENDED, "停业整顿")
        refused = _sign(api)
        assert refused.status_code == 409
        assert refused.json()["code"] == "license_not_active"
        other.seals.change_status(USCC, LicenseStatus.ACTIVE, "恢复营业")
        assert _sign(api).status_code == 200


def test_a_seal_suspended_elsewhere_is_refused_at_once_and_the_others_still_seal(
    api: Api, settings: Settings
) -> None:
    for kind in ("contract", "official"):
        assert _sign(api, kind).status_code == 200
    with _another_process(settings) as other:
        other.seals.suspend_seal(USCC, SealKind.CONTRACT, "保管人休假")
        refused = _sign(api, "contract")
        assert refused.status_code == 409
        assert refused.json()["code"] == "seal_suspended"
        assert _sign(api, "official").status_code == 200
        other.seals.resume_seal(USCC, SealKind.CONTRACT, "回来了")
    assert _sign(api, "contract").status_code == 200


def test_a_seal_reissued_elsewhere_signs_with_its_new_certificate_next(
    api: Api, settings: Settings
) -> None:
    assert _sign(api).status_code == 200
    with _another_process(settings) as other:
        new = other.seals.reissue_seal(USCC, SealKind.CONTRACT, "换新")
    sealed = _sign(api)
    assert sealed.status_code == 200
    report = api.client.post(
        "/v1/verify",
        headers=api.headers("own"),
        files={"file": ("s.pdf", sealed.content, "application/pdf")},
    ).json()
    assert report["valid"] is True
    (signature,) = report["signatures"]
    assert int(signature["certificate"]["serial"], 16) == new.serial
    assert signature["seal"]["version"] == 2


def test_an_image_replaced_elsewhere_is_the_one_the_next_seal_carries(
    api: Api, settings: Settings
) -> None:
    assert _sign(api).status_code == 200
    scan = render_seal(
        SealKind.CONTRACT, name="北京示例科技有限公司", uscc=USCC, legal_representative="", dpi=300
    )
    with _another_process(settings) as other:
        replaced = other.seals.replace_image(USCC, SealKind.CONTRACT, scan)
    seal, _ = api.container.seals.signer_for(USCC, SealKind.CONTRACT)
    assert seal.image_sha256 == replaced.image_sha256
    assert hashlib.sha256(seal.image_png).hexdigest() == replaced.image_sha256


# -- two worker processes -----------------------------------------------------------------------


def _post_sign(served: Served, conn: Any, token: str, kind: str = "contract") -> tuple[int, Any]:
    """Seal on the keep-alive connection ``conn`` (http.client): status and JSON or PDF."""
    request = httpx.Request(
        "POST",
        f"http://127.0.0.1:{served.port}/v1/sign",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({**OPTIONS, "seals": [{"kind": kind}]})},
    )
    conn.request("POST", "/v1/sign", body=request.read(), headers=dict(request.headers))
    response = conn.getresponse()
    body = response.read()
    return response.status, (json.loads(body) if response.status != 200 else body)


def _post_json(conn: Any, path: str, token: str, payload: dict[str, Any]) -> int:
    conn.request(
        "POST",
        path,
        body=json.dumps(payload),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    response.read()
    return int(response.status)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_with_two_workers_a_suspension_through_one_blocks_the_next_request_on_the_other(
    _registered_template: Any, tmp_path: Path
) -> None:
    tokens = _registered_template.tokens
    with serve(_registered_template.data_dir, tmp_path) as served:
        first, second = served.connect(), served.connect()
        try:
            assert served.holder(first) != served.holder(second)  # one on each worker
            # both workers seal, and so have the license and the seal cached
            assert _post_sign(served, first, tokens["own"])[0] == 200
            assert _post_sign(served, second, tokens["own"])[0] == 200

            status_path = f"/v1/enterprises/{USCC}/status"
            assert _post_json(first, status_path, tokens["admin"], {"status": "suspended"}) == 200
            status, problem = _post_sign(served, second, tokens["own"])
            assert (status, problem["code"]) == (409, "license_not_active")
            status, problem = _post_sign(served, first, tokens["own"])
            assert (status, problem["code"]) == (409, "license_not_active")

            assert _post_json(second, status_path, tokens["admin"], {"status": "active"}) == 200
            assert _post_sign(served, first, tokens["own"])[0] == 200

            seal_path = f"/v1/enterprises/{USCC}/seals/contract/suspend"
            assert _post_json(second, seal_path, tokens["admin"], {"reason": "休假"}) == 200
            status, problem = _post_sign(served, first, tokens["own"])
            assert (status, problem["code"]) == (409, "seal_suspended")
            assert _post_sign(served, first, tokens["own"], "official")[0] == 200
            # still one connection on each worker: the refusals came from both
            assert served.holder(first) != served.holder(second)
        finally:
            first.close()
            second.close()
