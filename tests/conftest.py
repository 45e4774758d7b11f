"""Fixtures shared by the whole suite: an initialised eseal data dir on the embedded defaults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.container import Container, build, initialise
from api.settings import Settings
from helpers import settings_on_copy


@pytest.fixture(scope="session")
def _initialised_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir with master key and PKI, copied for each test (PKI creation is slow-ish)."""
    path = tmp_path_factory.mktemp("template") / "data"
    initialise(Settings(data_dir=path))
    return path


@pytest.fixture
def settings(tmp_path: Path, _initialised_template: Path) -> Settings:
    return settings_on_copy(_initialised_template, tmp_path)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    c = build(settings)
    yield c
    c.close()
