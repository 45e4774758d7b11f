"""The license as a sealed PDF (执照出示 / 留档): what a relying party that files it sees.

The file is rendered (pdftoppm) and read back (pdftotext: real Chinese text, every field of
the face), its fonts are embedded (pdffonts), its QR code decodes to the permanent check page,
and it is sealed B-LTA by the registration authority: eseal's verifier calls it valid and names
the authority's seal, poppler's pdfsig finds the signature valid, and a changed byte breaks it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from api.cli import main
from api.settings import Settings
from cdp import chromium, settled_screenshot
from helpers import USCC, Api, license_data, require_tool

CHECK_URL = f"http://127.0.0.1:8000/check/{USCC}"

Box = tuple[float, float, float, float]
#: parts of page 1, as fractions of its width and height (left, top, right, bottom)
SEAL: Box = (0.6, 0.6, 0.9, 0.9)  # the authority's red seal over 登记机关
FACE: Box = (0.1, 0.25, 0.55, 0.5)  # 名称, 类型, 法定代表人, 经营范围 and their values
TITLE: Box = (0.35, 0.1, 0.65, 0.25)  # 营业执照, in red
QR: Box = (0.75, 0.05, 0.95, 0.3)  # the QR code of the check page, top right


def _get_pdf(api: Api, who: str = "verifier", uscc: str = USCC) -> bytes:
    r = api.client.get(f"/v1/enterprises/{uscc}/license.pdf", headers=api.headers(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-eseal-sha256"] == hashlib.sha256(r.content).hexdigest()
    return r.content


def _text(path: Path) -> str:
    require_tool("pdftotext")
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _page_png(
    path: Path, tmp_path: Path, page: int = 1, size: tuple[int, int] | None = None
) -> Image.Image:
    """Page ``page`` as poppler draws it: at 150 dpi, or ``size`` pixels."""
    require_tool("pdftoppm")
    prefix = tmp_path / f"page{page}"
    scale = (
        ["-r", "150"]
        if size is None
        else ["-scale-to-x", str(size[0]), "-scale-to-y", str(size[1])]
    )
    subprocess.run(
        ["pdftoppm", *scale, "-f", str(page), "-l", str(page), "-png", str(path), str(prefix)],
        check=True,
        timeout=60,
    )
    (png,) = tmp_path.glob(f"page{page}*.png")
    return Image.open(png).convert("RGB")


def _red(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > 150 and rgb[1] < 90 and rgb[2] < 90


def _inked(rgb: tuple[int, int, int]) -> bool:
    """Darker than mid-grey: print, in any colour (anti-aliased edges count by their shade)."""
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 128


def _dark(rgb: tuple[int, int, int]) -> bool:
    """Text in black or grey (not the red of the seal or the frame; Chromium's sub-pixel
    anti-aliasing gives black text coloured fringes, so this asks "not red", not "grey")."""
    return _inked(rgb) and not (rgb[0] > rgb[1] + 60 and rgb[0] > rgb[2] + 60)


def _share(page: Image.Image, box: Box, kind: Callable[[tuple[int, int, int]], bool]) -> float:
    """The share of the pixels in ``box`` (fractions of ``page``) that are of ``kind``."""
    w, h = page.size
    part = page.crop((int(w * box[0]), int(h * box[1]), int(w * box[2]), int(h * box[3])))
    data = part.tobytes()
    inked = sum(1 for i in range(0, len(data), 3) if kind((data[i], data[i + 1], data[i + 2])))
    return inked / max(1, part.width * part.height)


def _ink_grid(page: Image.Image, cols: int = 24, rows: int = 16) -> list[float]:
    """How much of each cell of a coarse grid over the page is inked (text, lines, seal, QR)."""
    cell = 16
    small = page.resize((cols * cell, rows * cell), Image.Resampling.BOX)
    return [
        _share(small, (x / cols, y / rows, (x + 1) / cols, (y + 1) / rows), _inked)
        for y in range(rows)
        for x in range(cols)
    ]


def _paper(shot: Image.Image) -> Image.Image | None:
    """The page in a screenshot of Chromium's viewer: the paper-white columns and rows on its
    dark grey, or None while the viewer has not drawn a page yet."""
    w, h = shot.size
    white = shot.convert("L").point(lambda v: 255 if v >= 250 else 0)
    column = [sum(1 for y in range(0, h, 4) if white.getpixel((x, y))) for x in range(w)]
    xs = [x for x in range(w) if column[x] > h / 8]
    if not xs:
        return None
    band = white.crop((xs[0], 0, xs[-1] + 1, h))
    row = [sum(1 for x in range(0, band.width, 4) if band.getpixel((x, y))) for y in range(h)]
    ys = [y for y in range(h) if row[y] > band.width / 8]
    if not ys or xs[-1] - xs[0] < w / 4:
        return None
    return shot.crop((xs[0], ys[0], xs[-1] + 1, ys[-1] + 1))


def _chromium_page(path: Path, tmp_path: Path) -> tuple[Image.Image, Image.Image]:
    """Page 1 of ``path`` as Chromium's own PDF viewer draws it, and the whole screenshot.

    The file is opened as a user opens a downloaded one (``file://``), with the viewer's
    toolbar off and the page fitted to the window; see tests/cdp.py for why over CDP.
    """
    with chromium(tmp_path / "chromium.log") as cdp:
        cdp.send("Page.enable")
        cdp.send("Page.navigate", url=f"{path.as_uri()}#toolbar=0&view=Fit")
        cdp.wait_event("Page.loadEventFired")

        def drawn(shot: Image.Image) -> bool:
            """Each part the test looks at is there (the viewer paints in tiles)."""
            page = _paper(shot)
            return page is not None and all(
                _share(page, box, kind) > 0.005
                for box, kind in ((SEAL, _red), (TITLE, _red), (FACE, _dark), (QR, _inked))
            )

        shot = settled_screenshot(cdp, "page 1 drawn in Chromium's PDF viewer", drawn)
    page = _paper(shot)
    assert page is not None
    return page, shot


def test_the_license_pdf_shows_the_face_in_chinese_text(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "license.pdf"
    path.write_bytes(_get_pdf(api))
    text = _text(path)
    face = license_data()
    for field in (
        "营业执照",
        "统一社会信用代码",
        USCC,
        face["name"],
        face["type"],
        face["legal_representative"],
        face["registered_capital"],
        face["address"],
        face["registration_authority"],
        "2012年03月09日",  # established, as a license writes dates
        "2024年06月18日",  # approved
        "登记状态",
        "存续",
        "附件：许可与备案信息",
    ):
        assert str(field) in text, field
    assert "?" not in text  # every character was in the embedded font
    require_tool("pdffonts")
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert rows and all(row[-5:-2] == ["yes", "yes", "yes"] for row in rows), fonts  # emb sub uni


def test_the_license_pdf_renders_and_its_qr_code_opens_the_check_page(
    api: Api, tmp_path: Path
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    path = tmp_path / "license.pdf"
    path.write_bytes(_get_pdf(api))
    page = _page_png(path, tmp_path)
    assert page.width > page.height  # landscape, like the paper license
    codes = zxingcpp.read_barcodes(page)
    assert [c.text for c in codes] == [CHECK_URL]
    # the authority's seal is drawn in red over 登记机关, bottom right
    assert _share(page, SEAL, _red) > 0.02


@pytest.mark.slow
def test_the_license_pdf_renders_in_chromiums_viewer_as_in_poppler(
    api: Api, tmp_path: Path
) -> None:
    path = tmp_path / "license.pdf"
    path.write_bytes(_get_pdf(api))
    page, shot = _chromium_page(path, tmp_path)
    shot.save(tmp_path / "chromium.png")  # kept with the test's files, to look at on failure
    # the whole page, landscape (A4: 297 by 210 mm), large in the window
    assert abs(page.width / page.height - 297 / 210) < 0.02
    assert page.width > shot.width * 0.6 or page.height > shot.height * 0.9
    # the red seal over 登记机关, the red title, black text of the face: as poppler draws them
    poppler = _page_png(path, tmp_path, size=page.size)
    for box, kind, least in ((SEAL, _red, 0.02), (TITLE, _red, 0.03), (FACE, _dark, 0.01)):
        seen, expected = _share(page, box, kind), _share(poppler, box, kind)
        assert seen > least and seen > expected / 2 and seen < expected * 2, (box, seen, expected)
    # and everything else where poppler puts it: ink cell by cell on a coarse grid
    ours, theirs = _ink_grid(page), _ink_grid(poppler)
    differences = [abs(a - b) for a, b in zip(ours, theirs, strict=True)]
    assert max(differences) < 0.15 and sum(differences) / len(differences) < 0.02, differences
    # the QR code is sharp enough to scan off the screen
    zxingcpp = pytest.importorskip("zxingcpp")
    assert [c.text for c in zxingcpp.read_barcodes(page)] == [CHECK_URL]


def test_the_license_pdf_is_sealed_b_lta_by_the_registration_authority(
    api: Api, tmp_path: Path
) -> None:
    pdf = _get_pdf(api, "own")
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("license.pdf", pdf, "application/pdf")},
    )
    report = r.json()
    assert report["valid"] is True, report
    (seal,) = [s for s in report["signatures"] if s["type"] == "signature"]
    assert seal["level"] == "B-LTA" and seal["integrity"] == "ok" and seal["trusted"]
    assert seal["seal"]["label"] == "登记机关电子印章"
    assert seal["enterprise"]["name"] == api.container.settings.registration_authority
    assert "title=登记机关" in seal["certificate"]["subject"] or "登记机关" in json.dumps(
        seal["certificate"], ensure_ascii=False
    )

    require_tool("pdfsig")
    path = tmp_path / "license.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    assert "Signature Validation: Signature is Valid." in out.stdout, out.stdout

    # one changed byte of the face (inside the signed range) and it is no longer valid
    at = pdf.index(USCC.encode()) if USCC.encode() in pdf else len(pdf) // 3
    tampered = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("license.pdf", tampered, "application/pdf")},
    )
    assert r.json()["valid"] is False


def test_the_license_pdf_says_the_status_at_issue_and_each_file_is_audited(
    api: Api, tmp_path: Path
) -> None:
    admin = api.headers("admin")
    r = api.client.post(
        f"/v1/enterprises/{USCC}/status", headers=admin, json={"status": "suspended"}
    )
    assert r.status_code == 200
    path = tmp_path / "license.pdf"
    pdf = _get_pdf(api, "admin")
    path.write_bytes(pdf)
    assert "停业" in _text(path)
    entries = api.client.get(f"/v1/audit?uscc={USCC}", headers=admin).json()["entries"]
    issued = [e for e in entries if e["action"] == "license.document"]
    assert [e["document_sha256"] for e in issued][-1] == hashlib.sha256(pdf).hexdigest()


def test_an_unknown_enterprise_has_no_license_pdf(api: Api) -> None:
    r = api.client.get(
        "/v1/enterprises/914403001922038216/license.pdf", headers=api.headers("admin")
    )
    assert r.status_code == 404 and r.json()["code"] == "enterprise_not_found"


def test_cli_writes_the_license_pdf(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ESEAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ESEAL_PUBLIC_URL", settings.public_url)
    lic = tmp_path / "license.json"
    lic.write_text(json.dumps(license_data()), encoding="utf-8")
    assert main(["enterprise", "register", str(lic)]) == 0
    out = tmp_path / "out.pdf"
    assert main(["enterprise", "license-pdf", USCC, "-o", str(out)]) == 0
    assert "北京字节跳动网络技术有限公司" in _text(out)
    assert main(["verify", str(out)]) == 0


def test_a_new_registration_authority_gets_a_new_seal_and_old_files_stay_valid(
    api: Api, settings: Settings
) -> None:
    from api.container import build

    old = _get_pdf(api)
    renamed = settings.model_copy(update={"registration_authority": "山东省市场监督管理局"})
    c = build(renamed)
    try:
        assert c.license_desk.authority == "山东省市场监督管理局"
        assert len(c.pki.authority_certificates()) == 2

        import asyncio

        report = asyncio.run(c.verifier.report(old))
        assert report.valid, report.to_json()
        new = asyncio.run(c.license_desk.license_pdf(USCC))
        report = asyncio.run(c.verifier.report(new))
        assert report.valid
        assert report.signatures[0].enterprise is not None
        assert report.signatures[0].enterprise.name == "山东省市场监督管理局"
    finally:
        c.close()


def test_a_data_dir_made_before_the_authority_seal_gets_it_at_start(settings: Settings) -> None:
    from api.container import build

    pki = settings.pki_dir
    manifest = json.loads((pki / "pki.json").read_text())
    manifest["keys"].pop("authority")
    (pki / "pki.json").write_text(json.dumps(manifest))
    (pki / "authority.pem").unlink()
    c = build(settings)
    try:
        cert = c.pki.authority_certificate()
        assert c.license_desk.authority == settings.registration_authority
        assert cert.serial_number in c.pki.internal_serials()  # OCSP answers "good" for it
    finally:
        c.close()
    assert "authority" in json.loads((pki / "pki.json").read_text())["keys"]
