"""The license's date fields hold real dates: over the domain, HTTP and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from helpers import ROOT, USCC, license_data
from seals.errors import InvalidLicense
from seals.license import License, parse_license


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("established", "2008-13-45"),
        ("established", "2023-02-29"),  # not a leap year
        ("approved", "2024-06-31"),
        ("approved", "2024/06/18"),
        ("approved", "20240618"),
        ("established", "二〇一二年三月九日"),
        ("business_term", "2012-03-09 至 2042-02-30"),
        ("business_term", "2012-13-09至长期"),
        ("business_term", "2042-03-08 至 2012-03-09"),
    ],
)
def test_a_field_that_holds_a_date_must_hold_a_real_one(field: str, value: str) -> None:
    with pytest.raises(InvalidLicense) as caught:
        parse_license(license_data(**{field: value}))
    assert caught.value.code == "invalid_license"
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("established", "2012-03-09"),
        ("approved", "2024-02-29"),  # a leap day
        ("business_term", "2012-03-09 至 2042-03-08"),
        ("business_term", "2010-05-20至长期"),
        ("business_term", "长期"),
    ],
)
def test_real_dates_are_kept_as_written(field: str, value: str) -> None:
    assert getattr(parse_license(license_data(**{field: value})), field) == value


def test_faces_stored_before_the_check_still_load() -> None:
    """The repository reads stored faces with ``model_validate`` and no date check."""
    face = license_data(established="2012年3月9日")
    assert License.model_validate(face).established == "2012年3月9日"


def test_http_registration_refuses_an_impossible_date(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        _, token = app.state.container.api_keys.create(
            role="admin", uscc=None, name="admin", actor="test"
        )
        auth = {"Authorization": f"Bearer {token}"}
        r = client.post(
            "/v1/enterprises", headers=auth, json=license_data(established="2008-13-45")
        )
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["code"] == "invalid_license"
        assert "established" in problem["detail"] and "2008-13-45" in problem["detail"]
        # nothing was registered
        assert client.get(f"/v1/enterprises/{USCC}", headers=auth).status_code == 404
        ok = client.post("/v1/enterprises", headers=auth, json=license_data())
        assert ok.status_code == 201, ok.text


@pytest.mark.slow
def test_cli_registration_refuses_an_impossible_date(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "license.json"
    path.write_text(
        json.dumps(license_data(approved="2024-02-30"), ensure_ascii=False), encoding="utf-8"
    )
    env = {**os.environ, "ESEAL_DATA_DIR": str(settings.data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", "enterprise", "register", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    problem = json.loads(r.stderr)
    assert problem["code"] == "invalid_license" and problem["status"] == 422
    assert "approved" in problem["detail"]
    shown = subprocess.run(
        [sys.executable, "-m", "api.cli", "enterprise", "show", USCC],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert shown.returncode == 1 and json.loads(shown.stderr)["code"] == "enterprise_not_found"
