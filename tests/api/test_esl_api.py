"""``GET /v1/enterprises/{uscc}/seals/{kind}/esl``: the seal's GB/T 38540 seal data, for every
signed-in caller as the image and certificate are; ``eseal seal esl`` writes the same file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import main
from helpers import OTHER_USCC, USCC, Api, license_data
from seals.certificates import pem_der
from seals.esl import SEAL_TYPES, check_maker_signature, parse_seseal
from seals.images import render_seal
from seals.issuance import IssuanceSettings
from seals.kinds import SealKind
from seals.license import parse_license
from seals.service import SealService
from storage.repository import SqlEnterpriseRepository

E = f"/v1/enterprises/{USCC}"
#: registered in a test by a service that issues no SM2 keys
NO_SM2_USCC = "914403001922038216"


def _esl(api: Api, path: str, who: str | None = "own") -> bytes:
    r = api.client.get(path, headers=api.headers(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    return r.content


def test_every_signed_in_caller_downloads_the_seal_data(api: Api) -> None:
    seal = api.client.get(f"{E}/seals/contract", headers=api.headers("own")).json()
    for who in ("admin", "own", "other", "verifier"):
        r = api.client.get(f"{E}/seals/contract/esl", headers=api.headers(who))
        assert r.status_code == 200, (who, r.text)
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"] == (
            f'attachment; filename="{USCC}-contract-v1.esl"'
        )
        assert r.headers["x-eseal-esl-id"] == f"{USCC}20001"
        # what the seal record describes
        assert seal["esl"] == {
            "es_id": f"{USCC}20001",
            "version": 4,
            "sha256": hashlib.sha256(r.content).hexdigest(),
        }
        parsed = parse_seseal(r.content)
        assert check_maker_signature(parsed)
        assert parsed.certificates == (pem_der(seal["sm2"]["certificate"]),)
        assert parsed.seal_type == SEAL_TYPES[SealKind.CONTRACT]
    # the picture is the image the image route serves
    image = api.client.get(f"{E}/seals/contract/image", headers=api.headers("verifier")).content
    assert parse_seseal(_esl(api, f"{E}/seals/contract/esl")).picture_data == image
    # another enterprise's seal data, as its image, is public material for signed-in callers
    other = parse_seseal(_esl(api, f"/v1/enterprises/{OTHER_USCC}/seals/legal_rep/esl"))
    assert other.name == "李娜之印" and other.es_id == f"{OTHER_USCC}50001"


def test_no_token_no_seal_data(api: Api) -> None:
    r = api.client.get(f"{E}/seals/contract/esl")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"{E}/seals/stamp/esl", 422, "unknown_seal_kind"),
        ("/v1/enterprises/91110000600037341N/seals/contract/esl", 422, "invalid_uscc"),
        (f"/v1/enterprises/{NO_SM2_USCC}/seals/contract/esl", 404, "enterprise_not_found"),
    ],
)
def test_what_is_not_there_is_a_problem(api: Api, path: str, status: int, code: str) -> None:
    r = api.client.get(path, headers=api.headers("admin"))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def test_a_seal_without_sm2_has_no_seal_data(api: Api) -> None:
    c = api.container
    # an enterprise registered by a server with ESEAL_SEAL_ALGORITHMS=ec-p256
    plain = SealService(
        SqlEnterpriseRepository(c.engine),
        c.seal_keys,
        c.pki,
        IssuanceSettings(sm2=False),
        sm2_pki=c.sm2_pki,
    )
    plain.register(parse_license(license_data(uscc=NO_SM2_USCC, name="深圳测试科技有限公司")))
    path = f"/v1/enterprises/{NO_SM2_USCC}/seals/contract"
    assert api.client.get(path, headers=api.headers("admin")).json()["esl"] is None
    r = api.client.get(f"{path}/esl", headers=api.headers("admin"))
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "algorithm_not_available"


def test_a_seal_issued_before_seal_data_has_none_until_reissued(api: Api) -> None:
    with api.container.engine.begin() as conn:  # as migration 0009 leaves an older seal
        conn.execute(
            text("UPDATE seals SET esl = NULL, esl_id = NULL, esl_version = NULL WHERE kind = :k"),
            {"k": "finance"},
        )
    r = api.client.get(f"{E}/seals/finance/esl", headers=api.headers("own"))
    assert r.status_code == 409 and r.json()["code"] == "esl_not_available"
    assert "re-issue" in r.json()["detail"]
    r = api.client.post(f"{E}/seals/finance/reissue", headers=api.headers("admin"), json={})
    assert r.status_code == 200 and r.json()["esl"]["es_id"] == f"{USCC}30002"
    r = api.client.get(f"{E}/seals/finance/esl", headers=api.headers("own"))
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="{USCC}-finance-v2.esl"'
    assert parse_seseal(r.content).es_id == f"{USCC}30002"


def test_an_image_upload_remakes_the_seal_data(api: Api) -> None:
    before = _esl(api, f"{E}/seals/official/esl")
    scan = render_seal(
        SealKind.OFFICIAL,
        name="北京字节跳动网络技术有限公司",
        uscc=USCC,
        legal_representative="",
        dpi=300,
    )
    r = api.client.put(
        f"{E}/seals/official/image",
        headers={**api.headers("own"), "content-type": "image/png"},
        content=scan,
    )
    assert r.status_code == 200, r.text
    after = _esl(api, f"{E}/seals/official/esl", "verifier")
    assert after != before
    assert r.json()["esl"]["sha256"] == hashlib.sha256(after).hexdigest()
    parsed = parse_seseal(after)
    image = api.client.get(f"{E}/seals/official/image", headers=api.headers("own")).content
    assert parsed.picture_data == image != parse_seseal(before).picture_data
    assert parsed.es_id == parse_seseal(before).es_id == f"{USCC}10001"
    assert check_maker_signature(parsed)


def test_cli_writes_the_seal_data(
    api: Api,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = api.container.settings
    monkeypatch.setenv("ESEAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ESEAL_PUBLIC_URL", settings.public_url)
    out = tmp_path / "SEAL.esl"
    assert main(["seal", "esl", USCC, "invoice", "-o", str(out)]) == 0
    shown = json.loads(capsys.readouterr().out)
    served = _esl(api, f"{E}/seals/invoice/esl")
    assert out.read_bytes() == served
    assert shown == {
        "uscc": USCC,
        "kind": "invoice",
        "version": 1,
        "es_id": f"{USCC}40001",
        "type": 4,
        "ses_version": 4,
        "sha256": hashlib.sha256(served).hexdigest(),
        "output": str(out),
    }
    # a seal that has none: the problem on stderr, exit 1, no file
    with api.container.engine.begin() as conn:
        conn.execute(text("UPDATE seals SET esl = NULL WHERE kind = 'finance'"))
    missing = tmp_path / "none.esl"
    assert main(["seal", "esl", USCC, "finance", "-o", str(missing)]) == 1
    assert json.loads(capsys.readouterr().err)["code"] == "esl_not_available"
    assert not missing.exists()
