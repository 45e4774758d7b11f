"""Choosing and configuring the archive from settings (no server needed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from storage.archive import (
    ArchiveMisconfigured,
    LocalObjectStore,
    S3Config,
    archive_from_settings,
    s3_config_from_settings,
)
from storage.archive.s3 import parse_endpoint

pytest_plugins = ["archive_fixtures"]


def settings(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = dict(
        data_dir=Path("data"),
        s3_endpoint=None,
        s3_access_key=None,
        s3_secret_key=None,
        s3_bucket="eseal-archive",
        s3_secure=True,
        archive_retention_days=None,
        archive_retention_mode="GOVERNANCE",
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_local_directory_by_default(sqlite_engine: Engine, tmp_path: Path) -> None:
    assert s3_config_from_settings(settings()) is None
    archive = archive_from_settings(settings(data_dir=tmp_path), sqlite_engine)
    assert isinstance(archive.store, LocalObjectStore)
    assert archive.store.root == tmp_path / "archive"
    chosen = archive_from_settings(settings(archive_dir=tmp_path / "elsewhere"), sqlite_engine)
    assert isinstance(chosen.store, LocalObjectStore)
    assert chosen.store.root == tmp_path / "elsewhere"


def test_s3_settings() -> None:
    config = s3_config_from_settings(
        settings(
            s3_endpoint="minio:9000",
            s3_access_key=SecretStr("ak"),
            s3_secret_key=SecretStr("very-secret"),
            s3_bucket="legal",
            s3_secure=False,
            archive_retention_days=3650,
            archive_retention_mode="compliance",
        )
    )
    assert config == S3Config(
        endpoint="minio:9000",
        access_key="ak",
        secret_key="very-secret",
        bucket="legal",
        secure=False,
        retention_days=3650,
        retention_mode="COMPLIANCE",
    )
    assert "very-secret" not in repr(config)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(archive_retention_days=30), "needs the S3 archive"),
        (dict(s3_endpoint="minio:9000"), "ACCESS_KEY"),
        (
            dict(
                s3_endpoint="minio:9000",
                s3_access_key="a",
                s3_secret_key="b",
                archive_retention_mode="FOREVER",
            ),
            "GOVERNANCE or COMPLIANCE",
        ),
    ],
)
def test_bad_settings_are_refused(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ArchiveMisconfigured, match=message):
        s3_config_from_settings(settings(**kw))


def test_endpoint_forms() -> None:
    assert parse_endpoint("minio:9000", True) == ("minio:9000", True)
    assert parse_endpoint("http://minio:9000/", True) == ("minio:9000", False)
    assert parse_endpoint("HTTPS://s3.example.cn", False) == ("s3.example.cn", True)
    with pytest.raises(ValueError, match="path"):
        parse_endpoint("https://s3.example.cn/bucket", True)
    with pytest.raises(ValueError):
        S3Config(endpoint="x:1", access_key="a", secret_key="b", retention_days=0)
