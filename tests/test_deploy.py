"""The compose deployment is valid (Debian's docker-compose validates without an engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import ROOT


@pytest.fixture
def compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing (scripts/dev.sh installs it)")
        pytest.skip("docker-compose is not installed")
    return found


@pytest.mark.slow
def test_compose_config_is_valid(compose: str, tmp_path: Path) -> None:
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    shutil.copy(tmp_path / "deploy" / "eseal.env.example", tmp_path / "deploy" / "eseal.env")
    out = subprocess.run([compose, "config"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    services = config["services"]
    assert {"api-1", "api-2", "proxy", "postgres", "minio"} <= set(services)
    for name in ("api-1", "api-2"):
        env = services[name]["environment"]
        assert env["ESEAL_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["ESEAL_S3_ENDPOINT"] == "minio:9000"
    assert all("healthcheck" in services[s] for s in ("proxy", "postgres", "minio"))


def test_no_real_secrets_in_the_repository() -> None:
    example = (ROOT / "deploy" / "eseal.env.example").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            value = line.split("=", 1)[1]
            assert value.startswith("REPLACE") or value.startswith("http") or value.isdigit()
    assert "deploy/eseal.env" in (ROOT / ".gitignore").read_text()


@pytest.mark.slow
def test_the_front_profile_runs_a_front_system_with_its_own_database(
    compose: str, tmp_path: Path
) -> None:
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    shutil.copy(tmp_path / "deploy" / "eseal.env.example", tmp_path / "deploy" / "eseal.env")
    out = subprocess.run(
        [compose, "--profile", "front", "config"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    front = services["front"]
    assert front["environment"]["ESEAL_MODE"] == "front"
    assert "@front-postgres:5432/" in front["environment"]["ESEAL_DATABASE_URL"]
    assert "--mode" in front["command"] and "front" in front["command"]
    assert "healthcheck" in services["front-postgres"]
    # started only with --profile front
    assert front["profiles"] == ["front"] == services["front-postgres"]["profiles"]
