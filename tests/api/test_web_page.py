"""The verification page at ``/``, in a real browser.

A real ``eseal serve`` (uvicorn in a subprocess) on a free loopback port, with the example
enterprise registered and a verifier token; a PDF sealed through its ``/v1/sign``; Debian's
``chromium`` headless, driven over the Chrome DevTools protocol.  The sealed PDF goes in
through the page's file input, a tampered copy by drag and drop, and the page must show the
verdict, the enterprise, the problem codes, the report in its frame, and errors as they come.

Without chromium (or the ``websockets`` package) the browser tests are skipped, unless the
environment variable ``CI`` is set: then they fail.  With ``ESEAL_SCREENSHOT_DIR`` set, the
screenshots of a valid and an invalid result are written there as ``verify-page.png`` and
``verify-page-invalid.png`` (how docs/ got them).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from api.container import build
from api.report_html import render_report
from api.settings import Settings
from cdp import Cdp, chromium
from helpers import READY_TIMEOUT_S, Api, wait_until
from pdfs import simple_pdf
from seals.license import parse_license

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LICENSE = json.loads((ROOT / "examples" / "license.json").read_text(encoding="utf-8"))
USCC = LICENSE["uscc"]
NAME = LICENSE["name"]


# -- without a browser: what the server sends ---------------------------------------------------


def test_page_is_served_with_a_strict_policy(api: Api) -> None:
    r = api.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["require-trusted-types-for"] == "'script'"
    assert "unsafe" not in csp and "http" not in csp and "*" not in csp
    # the report in the srcdoc frame inherits this policy: its one stylesheet is named by hash
    styles = re.findall(r"<style>(.*?)</style>", render_report({}, lambda _: None), re.DOTALL)
    assert styles
    for css in styles:
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["style-src"]
    for header, value in (
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ):
        assert r.headers[header] == value
    page = r.text
    assert 'data-verify-public="false"' in page and "{{" not in page
    assert f'data-max-upload-bytes="{2 * 1024 * 1024}"' in page  # the fixture's 2 MB limit
    problem_text = re.search(
        r'<script type="application/json" id="problem-text">(.*?)</script>', page, re.DOTALL
    )
    assert problem_text and json.loads(problem_text.group(1))["digest_mismatch"]
    assert "<script>" not in page  # scripts only from /static
    # a server whose verify route is public says so, and the page makes the token optional
    settings = api.container.settings
    api.container.settings = settings.model_copy(update={"verify_public": True})
    try:
        assert 'data-verify-public="true"' in api.client.get("/").text
    finally:
        api.container.settings = settings


def test_assets_are_local_and_typed(api: Api) -> None:
    page = api.client.get("/").text
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sorted(refs) == ["/static/verify.css", "/static/verify.js", "data:,"]
    for ref, media in (
        ("/static/verify.css", "text/css"),
        ("/static/verify.js", "text/javascript"),
    ):
        r = api.client.get(ref)
        assert r.status_code == 200 and r.headers["content-type"].startswith(media)
        assert r.headers["content-security-policy"]
        assert "http://" not in r.text and "https://" not in r.text and "@import" not in r.text
    for name in ("index.html", "../routes/web.py", "nothing.js"):
        r = api.client.get(f"/static/{name}")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    # the page is no part of the API description
    assert "/" not in api.client.get("/openapi.json").json()["paths"]


# -- a real server and a real browser ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tamper(signed: bytes) -> bytes:
    """An incremental update after all signatures changing one byte of page 1's text."""
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0]
    data = page["/Contents"].data
    at = data.index(b"(") + 1
    changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
    page[pdf_name("/Contents")] = w.add_object(generic.StreamObject(stream_data=changed))
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@dataclass
class Served:
    base: str
    verifier_token: str
    log: Path
    files: dict[str, Path] = field(default_factory=dict)


@pytest.fixture(scope="module")
def served(
    _initialised_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """``eseal serve`` on a free port (verify needs a token), the example enterprise registered,
    a contract sealed through the API, a tampered copy and a file that is no PDF."""
    tmp = tmp_path_factory.mktemp("web")
    data = tmp / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data))
    try:
        c.seals.register(parse_license(LICENSE))
        _, enterprise_token = c.api_keys.create(
            role="enterprise", uscc=USCC, name="sealer", actor="test"
        )
        _, verifier_token = c.api_keys.create(
            role="verifier", uscc=None, name="clerk", actor="test"
        )
    finally:
        c.close()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    env.update(
        ESEAL_DATA_DIR=str(data),
        ESEAL_VERIFY_PUBLIC="false",
        ESEAL_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    log = tmp / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=READY_TIMEOUT_S) as http:

            def healthy() -> bool:
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:  # not listening yet
                    return False

            wait_until(
                healthy,
                "eseal serve answering /healthz",
                alive=lambda: server.poll() is None,
                explain=lambda: log.read_text(errors="replace")[-3000:],
            )
            options = {
                "seals": [
                    {"kind": "contract"},
                    {"kind": "legal_rep", "page": 1, "x": 300, "y": 200},
                ],
                "document_type": "contract",
                "level": "B-LTA",
            }
            r = http.post(
                "/v1/sign",
                headers={"Authorization": f"Bearer {enterprise_token}"},
                files={"file": ("contract.pdf", simple_pdf(2), "application/pdf")},
                data={"options": json.dumps(options)},
            )
            assert r.status_code == 200, r.text
        s = Served(base, verifier_token, log)
        for name, content in (
            ("合同-已盖章.pdf", r.content),
            ("合同-被改动.pdf", tamper(r.content)),
            ("not-a-pdf.pdf", b"hello, this is no PDF\n"),
        ):
            s.files[name] = tmp / name
            s.files[name].write_bytes(content)
        yield s
    finally:
        server.terminate()
        try:
            server.wait(timeout=READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cdp]:
    log = tmp_path_factory.mktemp("chromium") / "chromium.log"
    with chromium(log) as cdp:
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.send(f"{domain}.enable")
        cdp.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        yield cdp


def _open_page(cdp: Cdp, served: Served) -> None:
    cdp.send("Page.navigate", url=served.base + "/")
    cdp.wait_for("document.readyState === 'complete' && document.body.dataset.state === 'idle'")


def _type_into(cdp: Cdp, selector: str, text: str) -> None:
    cdp.js(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        " e.value = ''; e.focus(); })()"
    )
    cdp.send("Input.insertText", text=text)


def _pending(cdp: Cdp) -> None:
    """Forget the last outcome, so that _finished waits for the next one."""
    cdp.js("document.body.dataset.state = 'pending'")


def _submit(cdp: Cdp) -> None:
    _pending(cdp)
    cdp.js("document.getElementById('submit').click()")


def _pick_file(cdp: Cdp, path: Path) -> None:
    _pending(cdp)
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
    cdp.send("DOM.setFileInputFiles", nodeId=node, files=[str(path)])


def _drop_file(cdp: Cdp, path: Path) -> None:
    """What the page sees when a file is dragged from the desktop onto the drop zone."""
    data = base64.b64encode(path.read_bytes()).decode()
    _pending(cdp)
    cdp.js(
        "(() => {"
        f" const bytes = Uint8Array.from(atob({json.dumps(data)}), c => c.charCodeAt(0));"
        f" const file = new File([bytes], {json.dumps(path.name)}, {{type: 'application/pdf'}});"
        " const dt = new DataTransfer(); dt.items.add(file);"
        " const zone = document.getElementById('drop');"
        " for (const type of ['dragenter', 'dragover', 'drop'])"
        "   zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true,"
        "                                            cancelable: true}));"
        "})()"
    )


def _finished(cdp: Cdp) -> str:
    state: str = cdp.wait_for(
        "['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state"
    )
    return state


def _text(cdp: Cdp, selector: str) -> str:
    return str(cdp.js(f"document.querySelector({json.dumps(selector)}).innerText"))


def _report(cdp: Cdp, expression: str) -> Any:
    return cdp.js(
        f"(() => {{ const d = document.getElementById('report').contentDocument;"
        f" return {expression}; }})()"
    )


def _screenshot(cdp: Cdp, name: str) -> None:
    cdp.js("document.activeElement && document.activeElement.blur()")
    metrics = cdp.send("Page.getLayoutMetrics")["cssContentSize"]
    shot = cdp.send(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": 1280, "height": int(metrics["height"]), "scale": 1},
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG")
    out_dir = os.environ.get("ESEAL_SCREENSHOT_DIR")
    if out_dir:
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            palette = image.convert("RGB").quantize(
                colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
            palette.save(Path(out_dir) / name, optimize=True)


def _csp_complaints(cdp: Cdp) -> list[str]:
    """Console lines about the policy or Trusted Types, and uncaught exceptions."""
    found = []
    for event in cdp.events:
        if event["method"] == "Runtime.exceptionThrown":
            found.append(json.dumps(event["params"])[:500])
        elif event["method"] == "Log.entryAdded":
            text = event["params"]["entry"].get("text", "")
            if "Content Security Policy" in text or "Trusted Type" in text:
                found.append(text)
        elif event["method"] == "Runtime.consoleAPICalled":
            found.append(json.dumps(event["params"])[:500])
    return found


def _requests(cdp: Cdp) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in cdp.events
        if e["method"] == "Network.requestWillBeSent"
    ]


def _api_calls(cdp: Cdp) -> list[str]:
    return [u for u in _requests(cdp) if "/v1/" in u]


def test_sealed_pdf_is_valid_in_the_browser(browser: Cdp, served: Served) -> None:
    cdp = browser
    cdp.events.clear()
    _open_page(cdp, served)
    assert _text(cdp, "#token-need") == "必填"
    _type_into(cdp, "#expect", USCC.lower())  # the page writes it in capitals
    _type_into(cdp, "#token", served.verifier_token)
    _pick_file(cdp, served.files["合同-已盖章.pdf"])
    assert _finished(cdp) == "done", _text(cdp, "#error")

    verdict = _text(cdp, "#verdict")
    assert _text(cdp, "#verdict-badge") == "有效" and "valid: true" in verdict
    assert NAME in verdict and USCC in verdict
    assert "合同专用章" in verdict and "法定代表人章" in verdict and "文档时间戳" in verdict
    assert cdp.js("document.getElementById('problems').hidden") is True
    report = json.loads(cdp.js("document.getElementById('json-text').textContent"))
    assert report["valid"] is True and report["expect_uscc"] == USCC

    # the server's report page, in its frame, with its own policy and its look intact
    body = _report(cdp, "d.body.innerText")
    assert "电子印章验证报告" in body and "有效" in body and NAME in body
    assert "default-src 'none'" in _report(
        cdp, "d.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"
    )
    assert (
        _report(cdp, "getComputedStyle(d.querySelector('.verdict.big')).backgroundColor")
        == "rgb(5, 150, 105)"
    )  # the report's stylesheet applied (allowed by its hash)
    assert _report(cdp, "[...d.querySelectorAll('img.seal')].map(i => i.naturalWidth > 0)") == [
        True,
        True,
    ]  # both seal images (data: URIs) shown
    assert _report(cdp, "d.scripts.length") == 0
    assert (
        cdp.js("document.getElementById('report').getAttribute('sandbox')") == "allow-same-origin"
    )  # no allow-scripts
    frame = cdp.js(
        "(() => { const f = document.getElementById('report');"
        " return [f.clientHeight, f.contentDocument.documentElement.scrollHeight]; })()"
    )
    assert frame[0] == frame[1]  # sized to fit: no scrolling inside, no empty space below

    # the token: in this tab's sessionStorage only, never in a URL
    assert cdp.js("sessionStorage.getItem('eseal.verify.token')") == served.verifier_token
    assert cdp.js("localStorage.length") == 0
    assert served.verifier_token not in cdp.js("location.href")
    urls = _requests(cdp)
    assert f"{served.base}/v1/verify?format=html" in urls and f"{served.base}/v1/verify" in urls
    assert all(u.startswith((served.base + "/", "data:", "blob:", "about:")) for u in urls), urls
    assert not any(served.verifier_token in u for u in urls)
    assert _csp_complaints(cdp) == []
    _screenshot(cdp, "verify-page.png")


def test_tampered_pdf_is_invalid_in_the_browser(browser: Cdp, served: Served) -> None:
    cdp = browser
    cdp.events.clear()
    _open_page(cdp, served)
    # the token typed in the first test is still there (same tab, sessionStorage)
    assert cdp.js("document.getElementById('token').value") == served.verifier_token
    _type_into(cdp, "#expect", USCC)
    _drop_file(cdp, served.files["合同-被改动.pdf"])
    assert _finished(cdp) == "done", _text(cdp, "#error")

    verdict = _text(cdp, "#verdict")
    assert _text(cdp, "#verdict-badge") == "无效" and "valid: false" in verdict
    assert NAME in verdict  # whose seals they were is still shown
    problems = _text(cdp, "#problem-list")
    assert "modified_after_signing" in problems and "签章后文件被修改" in problems
    assert "expected_enterprise_missing" in problems and "signature_not_valid" in problems
    assert "合同-被改动.pdf" in _text(cdp, "#chosen")
    body = _report(cdp, "d.body.innerText")
    assert "无效" in body and "modified_after_signing" in body
    assert _csp_complaints(cdp) == []
    _screenshot(cdp, "verify-page-invalid.png")


def test_errors_are_shown_in_the_browser(browser: Cdp, served: Served) -> None:
    cdp = browser
    cdp.events.clear()
    _open_page(cdp, served)
    cdp.js("document.getElementById('token-clear').click()")
    assert cdp.js("sessionStorage.length") == 0
    # no token on a server that wants one: the page says so and sends nothing
    _pick_file(cdp, served.files["合同-已盖章.pdf"])
    assert _finished(cdp) == "error"
    error = _text(cdp, "#error")
    assert "token_missing" in error and "未发送" in error and not _api_calls(cdp)
    assert cdp.js("document.activeElement.id") == "token"
    # a wrong token: the server's problem+json, shown with its code and status
    _type_into(cdp, "#token", "esk_0000000000000000_not-a-real-token")
    _submit(cdp)
    assert _finished(cdp) == "error"
    error = _text(cdp, "#error")
    assert "unauthorized" in error and "401" in error and "API 令牌" in error
    assert cdp.js("document.getElementById('result').hidden") is True
    # a file that is no PDF
    _type_into(cdp, "#token", served.verifier_token)
    _pick_file(cdp, served.files["not-a-pdf.pdf"])
    assert _finished(cdp) == "error"
    error = _text(cdp, "#error")
    assert "invalid_pdf" in error and "422" in error and "不是有效的 PDF" in error
    # a mistyped USCC is caught by its check character before anything is sent
    cdp.events.clear()
    _type_into(cdp, "#expect", USCC[:-1] + ("A" if USCC[-1] != "A" else "B"))
    _submit(cdp)
    assert _finished(cdp) == "error"
    assert "校验位" in _text(cdp, "#error") and not _api_calls(cdp)
    assert _csp_complaints(cdp) == []


def test_token_never_reaches_the_server_log(browser: Cdp, served: Served) -> None:
    log = served.log.read_text(encoding="utf-8", errors="replace")
    assert "/v1/verify" in log  # the log is the one the requests went to
    assert served.verifier_token not in log
    assert served.verifier_token.split("_")[-1] not in log
