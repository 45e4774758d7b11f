"""Both parties keep the final contract: A seals, B seals the same file, both find it.

Over HTTP on the embedded defaults: the listing (with each one's role), the metadata, the
download and the export of each party; a third enterprise sees none of it; a seal of A that
no longer verifies does not make A a party.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import OTHER_USCC, USCC, Api, license_data
from pdfs import simple_pdf
from seals.license import parse_license
from signer.parties import signature_marks
from storage.archive.commands import export_command

THIRD_USCC = "9144030071526726XG"
A_SEAL = {"kind": "contract", "page": 1, "x": 150, "y": 150}
B_SEAL = {"kind": "contract", "page": 1, "x": 420, "y": 150}


@pytest.fixture
def three(api: Api) -> Iterator[Api]:
    """``own`` (A), ``other`` (B), and ``third``, a registered enterprise with no part in it."""
    api.container.seals.register(
        parse_license(
            license_data(uscc=THIRD_USCC, name="示例物流有限公司", legal_representative="王伟")
        )
    )
    _, api.tokens["third"] = api.container.api_keys.create(
        role="enterprise", uscc=THIRD_USCC, name="third", actor="test"
    )
    yield api


def _sign(api: Api, who: str, pdf: bytes, filename: str, **options: Any) -> httpx.Response:
    r = api.client.post(
        "/v1/sign",
        headers=api.headers(who),
        files={"file": (filename, pdf, "application/pdf")},
        data={"options": json.dumps(options)},
    )
    assert r.status_code == 200, r.text
    return r


def _list(api: Api, who: str, query: str = "") -> list[dict[str, Any]]:
    r = api.client.get(f"/v1/archives{query}", headers=api.headers(who))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _export(api: Api, who: str) -> zipfile.ZipFile:
    r = api.client.post("/v1/archives/export", headers=api.headers(who), json={})
    assert r.status_code == 200, r.text
    return zipfile.ZipFile(io.BytesIO(r.content))


def test_both_parties_keep_the_final_contract(three: Api, tmp_path: Path) -> None:
    api = three
    first = _sign(
        api,
        "own",
        simple_pdf(1),
        "采购合同.pdf",
        seals=[A_SEAL],
        document_type="contract",
        reference="HT-2026-001",
    )
    first_id = first.headers["x-eseal-archive-id"]
    final = _sign(
        api,
        "other",
        first.content,
        "C:\\合同\\采购合同 (甲方已盖章).pdf",
        seals=[B_SEAL],
        document_type="contract",
    )
    final_id = final.headers["x-eseal-archive-id"]

    # each lists it, with its own role; A also has the version it sealed itself
    a_items = _list(api, "own")
    assert [(i["id"], i["role"]) for i in a_items] == [(final_id, "party"), (first_id, "sealer")]
    b_items = _list(api, "other")
    assert [(i["id"], i["role"]) for i in b_items] == [(final_id, "sealer")]
    assert b_items[0]["parties"] == [
        {"uscc": OTHER_USCC, "role": "sealer"},
        {"uscc": USCC, "role": "party"},
    ]
    assert b_items[0]["original_name"] == "采购合同 (甲方已盖章).pdf"
    assert [i["id"] for i in _list(api, "own", "?role=party")] == [final_id]
    assert [i["id"] for i in _list(api, "own", "?role=sealer")] == [first_id]
    assert a_items[1]["reference"] == "HT-2026-001"
    assert a_items[1]["original_name"] == "采购合同.pdf"

    # both read the metadata and download the final version, byte for byte
    for who, role in (("own", "party"), ("other", "sealer")):
        meta = api.client.get(f"/v1/archives/{final_id}", headers=api.headers(who))
        assert meta.status_code == 200 and meta.json()["role"] == role
        f = api.client.get(f"/v1/archives/{final_id}/file", headers=api.headers(who))
        assert f.status_code == 200 and f.content == final.content
        assert f.headers["x-eseal-sha256"] == final.headers["x-eseal-sha256"]
    # the version A sealed alone stays A's
    assert (
        api.client.get(f"/v1/archives/{first_id}", headers=api.headers("other")).status_code == 403
    )

    # each one's export holds the final contract, named, with its verdict
    zf = _export(api, "own")
    manifest = json.loads(zf.read("manifest.json"))
    by_id = {e["id"]: e for e in manifest["files"]}
    assert set(by_id) == {first_id, final_id}
    assert by_id[first_id]["path"] == f"HT-2026-001-{first_id}.pdf"
    entry = by_id[final_id]
    assert entry["path"] == f"采购合同 (甲方已盖章)-{final_id}.pdf"
    assert zf.read(entry["path"]) == final.content
    verdict = entry["verdict"]
    assert verdict["valid"] is True and verdict["notices"] == []
    assert [(s["uscc"], s["kind"], s["valid"]) for s in verdict["seals"]] == [
        (USCC, "contract", True),
        (OTHER_USCC, "contract", True),
    ]
    report = json.loads(zf.read(entry["report"]))
    assert report["valid"] is True and len(report["signatures"]) == 2
    page = zf.read(entry["report_html"]).decode()
    assert page.lstrip().lower().startswith("<!doctype html") and OTHER_USCC in page
    assert entry["report_html"] == f"采购合同 (甲方已盖章)-{final_id}.report.html"
    b_zip = _export(api, "other")
    assert [e["id"] for e in json.loads(b_zip.read("manifest.json"))["files"]] == [final_id]
    assert b_zip.read(f"采购合同 (甲方已盖章)-{final_id}.pdf") == final.content

    # the CLI's export (eseal archive export --uscc) is by party too
    out = tmp_path / "a.zip"
    assert export_command(api.container.archive, io.StringIO(), out, uscc=USCC) == 0
    assert f"采购合同 (甲方已盖章)-{final_id}.pdf" in zipfile.ZipFile(out).namelist()

    # nobody else sees any of it
    assert _list(api, "third") == []
    for path in (f"/v1/archives/{final_id}", f"/v1/archives/{final_id}/file"):
        r = api.client.get(path, headers=api.headers("third"))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        assert final.content not in r.content
    third_zip = _export(api, "third")
    assert json.loads(third_zip.read("manifest.json"))["files"] == []
    assert (
        api.client.get("/v1/archives?uscc=" + USCC, headers=api.headers("third")).status_code == 403
    )
    # the admin sees both parties' documents through either
    admin = _list(api, "admin", f"?uscc={USCC}")
    assert [(i["id"], i["role"]) for i in admin] == [(final_id, "party"), (first_id, "sealer")]


def test_a_seal_that_no_longer_verifies_makes_no_party(three: Api) -> None:
    api = three
    first = _sign(api, "own", simple_pdf(1), "a.pdf", seals=[A_SEAL])
    assert first.content.count(b"Contract page 1") == 1
    changed = first.content.replace(b"Contract page 1", b"Contract page 9")
    final = _sign(api, "other", changed, "b.pdf", seals=[B_SEAL])
    final_id = final.headers["x-eseal-archive-id"]
    meta = api.client.get(f"/v1/archives/{final_id}", headers=api.headers("other")).json()
    assert meta["parties"] == [{"uscc": OTHER_USCC, "role": "sealer"}]
    assert [i["id"] for i in _list(api, "own")] == [first.headers["x-eseal-archive-id"]]
    assert (
        api.client.get(f"/v1/archives/{final_id}/file", headers=api.headers("own")).status_code
        == 403
    )


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_a_counter_seal_with_validation_data_keeps_the_party(three: Api, level: str) -> None:
    """B's validation data and document timestamp come after A's seal; A is still a party."""
    api = three
    first = _sign(api, "own", simple_pdf(1), "a.pdf", seals=[A_SEAL])
    final = _sign(api, "other", first.content, "b.pdf", seals=[B_SEAL], level=level)
    final_id = final.headers["x-eseal-archive-id"]
    assert [(i["id"], i["role"]) for i in _list(api, "own", "?role=party")] == [(final_id, "party")]
    f = api.client.get(f"/v1/archives/{final_id}/file", headers=api.headers("own"))
    assert f.status_code == 200 and f.content == final.content


def test_sealing_ones_own_sealed_file_again_adds_no_party(three: Api) -> None:
    api = three
    first = _sign(api, "own", simple_pdf(1), "a.pdf", seals=[A_SEAL])
    again = _sign(api, "own", first.content, "a.pdf", seals=[B_SEAL], level="B-LTA")
    meta = api.client.get(
        f"/v1/archives/{again.headers['x-eseal-archive-id']}", headers=api.headers("own")
    ).json()
    assert meta["parties"] == [{"uscc": USCC, "role": "sealer"}] and meta["role"] == "sealer"


@pytest.mark.parametrize("offset", [0, 1, 5, 9, 10])
def test_signature_marks_are_counted_across_read_chunks(offset: int) -> None:
    """The pre-check that spares parsing counts a mark cut by a 1 MiB read boundary once."""
    boundary = 1024 * 1024
    data = bytearray(b"x" * (3 * boundary))
    for at in (boundary - offset, 2 * boundary - offset, 100):
        data[at : at + 10] = b"/ByteRange"
    assert signature_marks(io.BytesIO(bytes(data))) == 3
