"""Notices on the verification page at ``/``, in a real browser.

The server, the sealed contract and the browser are those of test_web_page.py (its fixtures,
started anew for this module).  After sealing, the enterprise's license is cancelled the way
an administrator does it; a clerk then drops the sealed PDF and must read, beside the green
verdict, the amber sentence with the date, and see the seals marked in the summary table.
"""

from __future__ import annotations

import time
from datetime import timedelta, timezone

import pytest
from test_web_page import (  # noqa: F401 - fixtures, used by name
    USCC,
    Cdp,
    Served,
    _csp_complaints,
    _finished,
    _open_page,
    _pick_file,
    _report,
    _text,
    _type_into,
    browser,
    served,
)

from api.container import build
from api.settings import Settings
from seals.license import LicenseStatus

pytestmark = pytest.mark.slow

BEIJING = timezone(timedelta(hours=8))


def test_cancelled_license_shows_as_a_notice(browser: Cdp, served: Served) -> None:  # noqa: F811
    # the change must be provably later than the seals' timestamps (whole seconds): wait, if
    # need be, until two seconds after the sealed file was written (no wait on a slow machine)
    written = served.files["合同-已盖章.pdf"].stat().st_mtime
    while (left := written + 2.0 - time.time()) > 0:
        time.sleep(left)
    c = build(Settings(data_dir=served.log.parent / "data"))
    try:
        cancelled = c.seals.change_status(USCC, LicenseStatus.CANCELLED, "注销").history[-1].at
    finally:
        c.close()
    day = cancelled.astimezone(BEIJING).strftime("%Y-%m-%d")
    cdp = browser
    _open_page(cdp, served)
    spaced = " ".join(USCC[i : i + 6] for i in range(0, 18, 6)).lower()
    _type_into(cdp, "#expect", spaced)  # the page removes the spaces and writes capitals
    assert cdp.js("document.getElementById('expect').value") == USCC
    _type_into(cdp, "#token", served.verifier_token)
    _pick_file(cdp, served.files["合同-已盖章.pdf"])
    assert _finished(cdp) == "done", _text(cdp, "#error")

    assert _text(cdp, "#verdict-badge") == "有效"
    headline = _text(cdp, "#verdict-text")
    assert f"签章有效：签章时营业执照存续；该企业营业执照已于 {day} 注销" in headline
    assert cdp.js("document.getElementById('notices').hidden") is False
    notices = _text(cdp, "#notices")
    assert "license_cancelled_since_signing" in notices and "seal_revoked_since_signing" in notices
    assert "停止经营" in notices
    # amber, not green: the card and the sentence
    assert (
        cdp.js("getComputedStyle(document.getElementById('verdict')).borderTopColor")
        == "rgb(245, 158, 11)"
    )
    # both seals marked in the summary table, the document timestamp not
    rows = cdp.js(
        "[...document.querySelectorAll('#sig-rows tr')].map(r => [r.className, r.innerText])"
    )
    marked = [text for cls, text in rows if cls == "noticed"]
    assert len(marked) == 2 and all("执照已注销" in t and "印章已撤销" in t for t in marked)
    assert [cls for cls, text in rows if "文档时间戳" in text] == [""]
    # the report in the frame says it too
    assert f"该企业营业执照已于 {day} 注销" in _report(cdp, "d.body.innerText")
    assert _csp_complaints(cdp) == []
