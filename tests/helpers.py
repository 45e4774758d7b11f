"""Small factories and test tools shared by the suite (imported as ``helpers``).

``tests/`` is on ``sys.path`` (it holds the top ``conftest.py``), so any test module, in any
subset of the suite, can ``from helpers import ...``.  Shared classes live here rather than in a
``conftest.py``: several directories have one, and ``from conftest import`` would take whichever
was imported first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import pytest

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from api.container import Container
    from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_LICENSE: dict[str, object] = json.loads(
    (ROOT / "examples" / "license.json").read_text(encoding="utf-8")
)
USCC = str(EXAMPLE_LICENSE["uscc"])
#: the second enterprise of the HTTP tests (``tests/api/conftest.py``)
OTHER_USCC = "91110000600037341L"
#: the public URL of the tests' settings (seal certificates carry OCSP and CRL addresses under it)
TEST_PUBLIC_URL = "http://127.0.0.1:8000"
#: how long a readiness check waits before it gives up: long, since it returns when ready
READY_TIMEOUT_S = 120.0

T = TypeVar("T")


def license_data(**changes: object) -> dict[str, object]:
    """The example license with some fields changed (None removes a field)."""
    data = {**EXAMPLE_LICENSE, **changes}
    return {k: v for k, v in data.items() if v is not None}


def settings_on_copy(template: Path, tmp_path: Path) -> Settings:
    """Settings on a fresh copy of the data dir ``template``, at ``tmp_path / "data"``.

    The session's templates (``tests/conftest.py``, ``tests/api/conftest.py``) hold what is slow
    to make (PKI, registered enterprises); each test copies one, so none sees another's writes.
    """
    from api.settings import Settings

    data = tmp_path / "data"
    shutil.copytree(template, data)
    return Settings(data_dir=data, public_url=TEST_PUBLIC_URL)


@dataclass
class Api:
    """The app of the HTTP tests with a token per caller (``tests/api/conftest.py``)."""

    client: TestClient
    container: Container
    tokens: dict[str, str]

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose outside tool or server is missing; with ``CI`` set, fail it instead.

    CI installs every verifier and server the suite uses (``scripts/dev.sh test``): there a
    missing one is a broken set-up, and a skip would hide that the check never ran.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a missing verifier fails, it is not skipped)")
    pytest.skip(reason)


def require_tool(*names: str) -> None:
    """Each program in ``names`` must be on PATH (see :func:`unavailable`)."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        unavailable(f"{' and '.join(missing)} not installed")


def wait_until(
    ready: Callable[[], T | None],
    what: str,
    *,
    alive: Callable[[], bool] = lambda: True,
    explain: Callable[[], str] = lambda: "",
    timeout: float = READY_TIMEOUT_S,
) -> T:
    """Poll ``ready()`` until it gives something other than None or False, and return that.

    Returns as soon as it is ready; the ``timeout`` is only there so that a hang ends, and is
    long so that a slow or busy machine never fails the test.  ``alive()`` False (a server
    process that exited) stops the wait at once, with ``explain()`` (its log) in the failure.
    """
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        value = ready()
        if value is not None and value is not False:
            return value
        if not alive():
            pytest.fail(f"{what}: gave up, the process is gone\n{explain()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not ready after {timeout:.0f} s\n{explain()}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def run_eseal(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``eseal ARGS`` as a subprocess on ``settings``' data dir and public URL, ``env`` added
    (no other ``ESEAL_*`` of the caller's environment leaks in)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    environ.update(
        ESEAL_DATA_DIR=str(settings.data_dir), ESEAL_PUBLIC_URL=settings.public_url, **env
    )
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
    )
