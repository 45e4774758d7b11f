"""Scan-to-check (亮照 / 扫码核验): the holder's short-lived code and the page a phone opens.

The code's URL and QR image come from ``POST .../license-qr``; the page at the URL shows the
license's status now, the legal representative and the seals, with the time the code was made.
An expired code and a tampered one say so and show nothing of the license.  The page is looked
at in headless Chromium at a phone's viewport with JavaScript off.
"""

from __future__ import annotations

import asyncio
import base64
import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from PIL import Image

from helpers import OTHER_USCC, USCC, Api, license_data, require_tool, unavailable
from seals.check_codes import signed_payload


def _code(api: Api, who: str = "own") -> dict[str, str]:
    r = api.client.post(f"/v1/enterprises/{USCC}/license-qr", headers=api.headers(who))
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


def _open(api: Api, url: str) -> tuple[int, str]:
    parts = urlsplit(url)
    r = api.client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)
    assert r.headers["content-type"].startswith("text/html")
    assert "script" not in r.headers["content-security-policy"]  # it runs none
    return r.status_code, r.text


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def test_the_holder_gets_a_five_minute_code_whose_qr_is_its_url(api: Api) -> None:
    body = _code(api)
    assert body["url"].startswith(f"http://127.0.0.1:8000/check/{USCC}?")
    made = datetime.fromisoformat(body["made_at"])
    ends = datetime.fromisoformat(body["expires_at"])
    assert ends - made == timedelta(minutes=5)
    png = base64.b64decode(body["qr_png"])
    zxingcpp = pytest.importorskip("zxingcpp")
    assert [c.text for c in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))] == [body["url"]]
    # an admin may make one too; the code's making is audited
    assert _code(api, "admin")["url"]
    entries = api.client.get("/v1/audit", headers=api.headers("own")).json()["entries"]
    assert [e["action"] for e in entries].count("license.check_code") == 2


def test_the_code_opens_the_license_status_now(api: Api) -> None:
    body = _code(api)
    status, page = _open(api, body["url"])
    assert status == 200
    face = license_data()
    for text in (
        face["name"],
        USCC,
        face["legal_representative"],
        "登记状态：存续",
        "核验码生成于",
    ):
        assert str(text) in page, text
    for label in ("企业法定名称章", "合同专用章", "财务专用章", "发票专用章", "法定代表人章"):
        assert label in page
    # status *now*: the code made before a suspension shows the suspension
    admin = api.headers("admin")
    api.client.post(f"/v1/enterprises/{USCC}/seals/contract/revoke", headers=admin, json={})
    api.client.post(f"/v1/enterprises/{USCC}/status", headers=admin, json={"status": "suspended"})
    status, page = _open(api, body["url"])
    assert status == 200 and "登记状态：停业" in page and "已撤销" in page


def test_a_tampered_code_says_so_and_shows_nothing(api: Api) -> None:
    url = _code(api)["url"]
    made = int(parse_qs(urlsplit(url).query)["at"][0])
    for bad in (
        _with(url, until=str(made + 3600)),  # extended
        _with(url, at=str(made - 60)),
        _with(url, sig="A" + parse_qs(urlsplit(url).query)["sig"][0][1:]),
        url.replace(USCC, OTHER_USCC),  # moved to another enterprise
        _with(url, sig="garbage!"),
        f"http://127.0.0.1:8000/check/{USCC}?at=x&until=y&sig=z",
    ):
        status, page = _open(api, bad)
        assert status == 400 and "核验码无效" in page, bad
        assert license_data()["legal_representative"] not in page
        assert "示例贸易有限公司" not in page


def test_an_expired_code_says_so(api: Api) -> None:
    """A genuine code made an hour ago for five minutes (signed by the authority's key)."""
    made = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    until = made + 300
    signer = api.container.pki.authority_signer()
    sig = asyncio.run(signer.async_sign_raw(signed_payload(USCC, made, until), "sha256"))
    token = base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    url = f"http://127.0.0.1:8000/check/{USCC}?at={made}&until={until}&sig={token}"
    status, page = _open(api, url)
    assert status == 410 and "核验码已过期" in page
    assert license_data()["name"] not in page


def test_the_permanent_check_page_has_no_code(api: Api) -> None:
    status, page = _open(api, f"http://127.0.0.1:8000/check/{USCC}")
    assert status == 200 and "登记状态：存续" in page and "核验码生成于" not in page
    status, page = _open(api, "http://127.0.0.1:8000/check/914403001922038216")
    assert status == 404 and "未查到该执照" in page


def test_other_roles_cannot_make_a_code(api: Api) -> None:
    for who, code in (("other", 403), ("verifier", 403), (None, 401)):
        r = api.client.post(f"/v1/enterprises/{USCC}/license-qr", headers=api.headers(who))
        assert r.status_code == code


# -- in a browser ----------------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("chromium not installed")


def _screenshot(html: str, tmp_path: Path, name: str) -> tuple[Image.Image, str]:
    """The page at a phone's viewport with JavaScript off: its picture and its DOM."""
    browser = _chromium()
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    common = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-javascript",
        "--window-size=390,844",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    subprocess.run(
        [*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120
    )
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert shot.is_file(), "chromium made no screenshot"
    return Image.open(shot).convert("RGB"), dom


def _colour_near(
    image: Image.Image, box: tuple[int, int, int, int], rgb: tuple[int, int, int]
) -> int:
    data = image.crop(box).tobytes()
    return sum(
        1 for i in range(0, len(data), 3) if all(abs(data[i + k] - rgb[k]) < 40 for k in range(3))
    )


@pytest.mark.slow
def test_the_check_page_on_a_phone_without_javascript(api: Api, tmp_path: Path) -> None:
    require_tool("chromium")
    _status, html = _open(api, _code(api)["url"])
    image, dom = _screenshot(html, tmp_path, "valid")
    assert image.size == (390, 844)
    assert "登记状态：存续" in dom and str(license_data()["name"]) in dom
    # the red header spans the width, the verdict has its green bar
    assert _colour_near(image, (0, 0, 390, 60), (0x9E, 0x1C, 0x1C)) > 390 * 40
    assert _colour_near(image, (0, 90, 40, 280), (0x13, 0x73, 0x33)) > 200

    _status, html = _open(api, f"http://127.0.0.1:8000/check/{USCC}?at=1&until=2&sig=x")
    image, dom = _screenshot(html, tmp_path, "invalid")
    assert "核验码无效" in dom
    assert _colour_near(image, (0, 90, 40, 280), (0xB3, 0x26, 0x1E)) > 200
