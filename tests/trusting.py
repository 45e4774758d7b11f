"""A container with extra trust anchors (imported as ``trusting``), for tests of files that
other tools signed under other roots."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from api.container import Container, build
from api.settings import Settings
from helpers import TEST_PUBLIC_URL

__all__ = ["container_trusting"]


def container_trusting(template: Path, where: Path, bundle: Path | None) -> Iterator[Container]:
    """A container on a copy of the data dir ``template`` whose ``ESEAL_TRUST_BUNDLE`` is
    ``bundle`` (None: its own trust only), closed after use (a fixture's body)."""
    data = where / "data"
    shutil.copytree(template, data)
    c = build(Settings(data_dir=data, public_url=TEST_PUBLIC_URL, trust_bundle=bundle))
    yield c
    c.close()
