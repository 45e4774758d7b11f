"""Large documents go through sealing, archive, replay and download from temporary files."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

import pdfs
from api.app import create_app
from api.container import Container
from api.settings import Settings
from helpers import USCC, Api, license_data
from seals.license import parse_license
from signer.pdf_io import SPOOL_BYTES

pytestmark = pytest.mark.slow


@pytest.fixture
def big_api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings.model_copy(update={"max_upload_mb": 40}))
    with TestClient(app) as client:
        c: Container = app.state.container
        c.seals.register(parse_license(license_data()))
        _, token = c.api_keys.create(role="enterprise", uscc=USCC, name="own", actor="test")
        yield Api(client, c, {"own": token})


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_document_larger_than_the_memory_spool_seals_streams_and_replays(
    big_api: Api, tmp_path: Path
) -> None:
    src = tmp_path / "big.pdf"
    pdfs.make_big_pdf(src, pages=60, size_mb=12)
    data = src.read_bytes()
    assert len(data) > SPOOL_BYTES  # sealed through files on disk, not in memory
    options = {"options": json.dumps({"seals": [{"kind": "contract"}], "level": "B-T"})}
    headers = {**big_api.headers("own"), "Idempotency-Key": "big-1"}
    fds = _open_fds()

    r = big_api.client.post(
        "/v1/sign",
        headers=headers,
        data=options,
        files={"file": ("big.pdf", data, "application/pdf")},
    )
    assert r.status_code == 200, r.text
    sealed = r.content
    assert int(r.headers["content-length"]) == len(sealed)
    assert r.headers["x-eseal-sha256"] == hashlib.sha256(sealed).hexdigest()
    assert sealed.startswith(data)  # an incremental update: the original bytes untouched
    sigs = PdfFileReader(io.BytesIO(sealed), strict=False).embedded_regular_signatures
    assert len(sigs) == 1

    report = big_api.client.post(
        "/v1/verify",
        headers=big_api.headers("own"),
        files={"file": ("s.pdf", sealed, "application/pdf")},
    )
    assert report.status_code == 200 and report.json()["valid"] is True
    assert report.json()["file"]["pages"] == 60

    archive_id = r.headers["x-eseal-archive-id"]
    down = big_api.client.get(f"/v1/archives/{archive_id}/file", headers=big_api.headers("own"))
    assert down.status_code == 200 and down.content == sealed
    assert int(down.headers["content-length"]) == len(sealed)

    again = big_api.client.post(
        "/v1/sign",
        headers=headers,
        data=options,
        files={"file": ("big.pdf", data, "application/pdf")},
    )
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.content == sealed
    assert _open_fds() <= fds  # every temporary file was closed


def test_a_damaged_archive_copy_of_a_large_document_is_not_sent(
    big_api: Api, tmp_path: Path
) -> None:
    src = tmp_path / "big.pdf"
    pdfs.make_big_pdf(src, pages=20, size_mb=3)
    options = {"options": json.dumps({"seals": [{"kind": "contract"}], "level": "B-B"})}
    r = big_api.client.post(
        "/v1/sign",
        headers=big_api.headers("own"),
        data=options,
        files={"file": ("big.pdf", src.read_bytes(), "application/pdf")},
    )
    assert r.status_code == 200
    record = big_api.container.archive.record(r.headers["x-eseal-archive-id"])
    stored = big_api.container.settings.data_dir / "archive" / record.object_key
    damaged = bytearray(stored.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    stored.chmod(0o644)
    stored.write_bytes(bytes(damaged))
    down = big_api.client.get(f"/v1/archives/{record.id}/file", headers=big_api.headers("own"))
    assert down.status_code == 500
    assert down.json()["code"] == "archive_corrupt"
    assert b"%PDF" not in down.content
