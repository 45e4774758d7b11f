"""Placement options over HTTP and the CLI: ``cross_page`` as ``true``, ``"auto"`` or a band,
seals placed after a keyword with an offset, ``seal_off_page`` refusals that name what the
caller sent, and the ``X-Eseal-Notice`` header (``cross_page_skipped``, ``overlaps_seal``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from helpers import ROOT, USCC, Api, license_data
from pdfs import NOTO_TTC, cjk_contract, extract_cjk_face, simple_pdf
from signer.placement import MM, PageGeometry, iter_pages, seal_widget_rects


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Two pages; 甲方（盖章） and 乙方（盖章） on page 2 at y 220, x 72 and 330."""
    if not NOTO_TTC.exists():
        pytest.skip("fonts-noto-cjk is not installed")
    return cjk_contract(extract_cjk_face(tmp_path_factory.mktemp("fonts")), pages=2)


def sign(api: Api, pdf: bytes, options: dict[str, Any], who: str = "own") -> Any:
    return api.client.post(
        "/v1/sign",
        headers=api.headers(who),
        files={"file": ("c.pdf", pdf, "application/pdf")},
        data={"options": json.dumps(options, ensure_ascii=False)},
    )


def signatures(pdf: bytes) -> int:
    return len(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)


def archived(api: Api) -> int:
    items = api.client.get("/v1/archives?limit=500", headers=api.headers("admin")).json()
    return len(items["items"])


def widgets(pdf: bytes, page: int) -> list[tuple[float, float, float, float]]:
    pages = list(iter_pages(PdfFileReader(io.BytesIO(pdf), strict=False)))
    return seal_widget_rects(pages[page - 1])


def test_cross_page_auto_is_skipped_on_one_page_and_applied_on_two(api: Api) -> None:
    one = sign(api, simple_pdf(1), {"cross_page": "auto"})
    assert one.status_code == 200, one.text
    assert one.headers["X-Eseal-Notice"] == "cross_page_skipped"
    assert signatures(one.content) == 1  # the default seal, no strips
    two = sign(
        api,
        simple_pdf(2),
        {"seals": [{"kind": "official", "page": 1, "x": 300, "y": 400}], "cross_page": "auto"},
    )
    assert two.status_code == 200, two.text
    assert "X-Eseal-Notice" not in two.headers
    assert signatures(two.content) == 2
    assert len(widgets(two.content, 2)) == 1  # a strip on the second page
    # an object with mode auto behaves the same
    obj = sign(api, simple_pdf(1), {"cross_page": {"position": "top", "mode": "auto"}})
    assert obj.status_code == 200 and obj.headers["X-Eseal-Notice"] == "cross_page_skipped"


def test_cross_page_true_stays_strict_on_one_page(api: Api) -> None:
    before = archived(api)
    r = sign(api, simple_pdf(1), {"cross_page": True})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "cross_page_needs_two_pages"
    assert archived(api) == before


def test_cross_page_bands_of_two_parties_do_not_overlap(api: Api) -> None:
    first = sign(api, simple_pdf(3), {"cross_page": True})
    assert first.status_code == 200, first.text
    second = sign(api, first.content, {"cross_page": True}, who="other")
    assert second.status_code == 200, second.text
    assert "X-Eseal-Notice" not in second.headers
    for page in (1, 2, 3):
        (a, b) = sorted(widgets(second.content, page), key=lambda r: r[1])
        assert a[3] + 2 * MM == pytest.approx(b[1], abs=0.01), f"page {page}: bands"
        assert a[2] == b[2] == pytest.approx(595)  # both on the right edge
    # a band the caller chooses is used as given, and an overlap is reported
    third = sign(api, second.content, {"cross_page": {"y": 421}})
    assert third.status_code == 200
    assert third.headers["X-Eseal-Notice"] == "overlaps_seal"
    top = sign(api, simple_pdf(2), {"cross_page": {"position": "top"}})
    (strip,) = widgets(top.content, 1)
    assert strip[3] == pytest.approx(842 - 20 * MM, abs=0.01)


def test_a_seal_after_the_keyword_and_overlap_notices(api: Api, contract: bytes) -> None:
    a = sign(api, contract, {"seals": [{"kind": "contract", "keyword": "甲方（盖章）"}]})
    assert a.status_code == 200 and "X-Eseal-Notice" not in a.headers
    (seal,) = widgets(a.content, 2)
    # the legal representative's seal in the blank right after the keyword: overlaps the
    # contract seal centred on the keyword, so the caller hears of it
    after = {"kind": "legal_rep", "keyword": "甲方（盖章）", "align": "after"}
    b = sign(api, a.content, {"seals": [after]})
    assert b.status_code == 200, b.text
    assert b.headers["X-Eseal-Notice"] == "overlaps_seal"
    rep = next(r for r in widgets(b.content, 2) if r != seal)
    assert rep[2] - rep[0] == pytest.approx(20 * MM, abs=0.01)
    assert (rep[1] + rep[3]) / 2 == pytest.approx((seal[1] + seal[3]) / 2, abs=0.01)
    # moved 10 mm further along the line it clears the contract seal
    c = sign(api, a.content, {"seals": [{**after, "offset": [10, 0]}]})
    assert c.status_code == 200 and "X-Eseal-Notice" not in c.headers
    moved = next(r for r in widgets(c.content, 2) if r != seal)
    assert moved[0] - rep[0] == pytest.approx(10 * MM, abs=0.01)
    # 甲方 and 乙方, each placed as asked in one request: they do not touch, no notice
    both = sign(
        api,
        contract,
        {
            "seals": [
                {"kind": "contract", "keyword": "甲方（盖章）"},
                {"kind": "official", "keyword": "乙方（盖章）"},
            ]
        },
    )
    assert both.status_code == 200 and "X-Eseal-Notice" not in both.headers


def test_seal_off_page_names_what_the_caller_sent(api: Api, contract: bytes) -> None:
    before = archived(api)
    r = sign(
        api,
        contract,
        {"seals": [{"kind": "contract", "keyword": "乙方（盖章）", "offset": [150, 0]}]},
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "seal_off_page"
    assert "乙方（盖章）" in problem["detail"] and "occurrence 1" in problem["detail"]
    assert "offset [150, 0] mm" in problem["detail"]
    point = sign(
        api, simple_pdf(1), {"seals": [{"kind": "official", "page": 1, "x": 590, "y": 400}]}
    )
    assert point.status_code == 422 and point.json()["code"] == "seal_off_page"
    assert "(590, 400)" in point.json()["detail"]
    assert archived(api) == before


@pytest.mark.parametrize(
    "options",
    [
        {"seals": [{"kind": "contract", "page": 1, "x": 100, "y": 100, "align": "after"}]},
        {"seals": [{"kind": "contract", "offset": [1, 2]}]},
        {"seals": [{"kind": "contract", "keyword": "甲方", "align": "left"}]},
        {"seals": [{"kind": "contract", "keyword": "甲方", "offset": [1, 2, 3]}]},
        {"cross_page": {"y": 100, "position": "top"}},
        {"cross_page": {"position": "side"}},
        {"cross_page": "sometimes"},
    ],
)
def test_malformed_placement_options_are_invalid_options(api: Api, options: dict) -> None:
    r = sign(api, simple_pdf(2), options)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_options"


def test_seal_on_a_rotated_page_over_http_stands_with_the_text(api: Api) -> None:
    """A page drawn upright and turned by /Rotate 90: the seal turns with it (its widget's
    rectangle is the seal's width across user space, not the screen's)."""
    r = sign(
        api,
        simple_pdf(2, rotate=90),
        {"seals": [{"kind": "legal_rep", "page": 1, "x": 300, "y": 300}], "cross_page": True},
    )
    assert r.status_code == 200, r.text
    (strip,) = [w for w in widgets(r.content, 2)]
    # strips on the right edge of the paper as its text reads: user space x = 595
    assert strip[2] == pytest.approx(595)
    pages = list(iter_pages(PdfFileReader(io.BytesIO(r.content), strict=False)))
    assert PageGeometry.from_page(pages[0], text=True).seal_rotation == 0


# --------------------------------------------------------------------------- the CLI


def eseal(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESEAL_DATA_DIR": str(data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.fixture
def cli_data(tmp_path: Path, _initialised_template: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    shutil.copytree(_initialised_template, data)
    lic = tmp_path / "license.json"
    lic.write_text(json.dumps(license_data(), ensure_ascii=False), encoding="utf-8")
    r = eseal(data, "enterprise", "register", str(lic))
    assert r.returncode == 0, r.stderr
    yield data


@pytest.mark.slow
def test_cli_prints_the_notices(cli_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "one.pdf"
    src.write_bytes(simple_pdf(1))
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"cross_page": "auto"}), encoding="utf-8")
    out = tmp_path / "sealed.pdf"
    r = eseal(cli_data, "sign", str(src), "-o", str(out), "--uscc", USCC, "--options", str(options))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert [n["code"] for n in result["notices"]] == ["cross_page_skipped"]
    assert "one page" in result["notices"][0]["message"]
    assert signatures(out.read_bytes()) == 1
