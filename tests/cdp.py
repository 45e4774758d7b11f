"""Debian's ``chromium`` headless, driven over the Chrome DevTools protocol (CDP).

Shared by the browser tests: the verification page (``tests/api/test_web_page.py``) and the
license PDF in Chromium's own PDF viewer (``tests/api/test_license_pdf.py``).

Why CDP and not ``chromium --headless --screenshot``: a PDF opens in Chromium's viewer, an
extension whose page draws the document in another process once the file is parsed.
``--screenshot`` captures the viewer's empty grey (every pixel #282828, with or without
``--virtual-time-budget=10000`` or ``--timeout=8000``, Chromium 156): that process paints
outside the page the flag waits for. Over CDP the test polls the page's own picture
(:func:`settled_screenshot`) until the PDF is drawn.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from helpers import READY_TIMEOUT_S, unavailable, wait_until

__all__ = ["CHROMIUM_FLAGS", "Cdp", "CdpError", "chromium", "settled_screenshot"]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,900",
]


class CdpError(RuntimeError):
    pass


class Cdp:
    """The few Chrome DevTools protocol calls the tests need, on one page's websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.last_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = READY_TIMEOUT_S, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        """The first event ``method`` (e.g. ``Page.loadEventFired``) not yet waited for."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method:
                    del self.events[i]
                    return event
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message)

    def js(self, expression: str) -> Any:
        r = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in r:
            raise CdpError(f"{expression[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """The value of ``expression`` once it is truthy (as soon as it is)."""
        return wait_until(lambda: self.js(expression) or None, f"the page: {expression}")

    def screenshot(self) -> Image.Image:
        """What the page shows now, as the user would see it (the viewport)."""
        shot = self.send("Page.captureScreenshot", format="png")
        png = base64.b64decode(shot["data"])
        return Image.open(io.BytesIO(png)).convert("RGB")


@contextmanager
def chromium(log: Path, flags: list[str] = CHROMIUM_FLAGS) -> Iterator[Cdp]:
    """A headless chromium on a fresh profile, and CDP on its one page (``about:blank``).

    Skipped without chromium or the ``websockets`` package (failed when ``CI`` is set).
    """
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        unavailable("chromium (Debian package chromium) not installed")
    try:
        from websockets.sync.client import connect
    except ImportError:
        unavailable("the Python package websockets not installed")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile, log.open("wb") as out:
        proc = subprocess.Popen(
            [
                browser,
                *flags,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            active = Path(profile) / "DevToolsActivePort"
            wait_until(
                lambda: active.exists() and active.read_text().count("\n") >= 1,
                "chromium's DevToolsActivePort",
                alive=lambda: proc.poll() is None,
                explain=lambda: log.read_text(errors="replace")[-3000:],
            )
            port = int(active.read_text().split("\n")[0])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=READY_TIMEOUT_S)
            conn.request("GET", "/json/list")
            targets = json.loads(conn.getresponse().read())
            conn.close()
            page = next(t for t in targets if t["type"] == "page")
            with connect(
                page["webSocketDebuggerUrl"], max_size=None, open_timeout=READY_TIMEOUT_S
            ) as ws:
                yield Cdp(ws)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=READY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def settled_screenshot(cdp: Cdp, what: str, shows: Callable[[Image.Image], bool]) -> Image.Image:
    """The page's picture once it ``shows`` what is wanted and two captures in a row agree.

    A PDF viewer paints in tiles, after the page has loaded: there is no event to wait for, so
    this polls (no fixed sleep: it returns as soon as the picture is complete and still).
    """
    previous: list[bytes] = []

    def ready() -> Image.Image | None:
        image = cdp.screenshot()
        data = image.tobytes()
        still = previous == [data]
        previous[:] = [data]
        return image if still and shows(image) else None

    return wait_until(ready, what)
