"""Run one input through eseal's sign and verify paths and judge the outcome (``harness``).

Used by ``test_hostile_pdfs.py`` and ``bench/fuzz.py``.  Each path is tried two ways:
in-process (``SealingService.seal`` and ``Verifier.verify``: only an ``EsealError`` may come
out) and over HTTP with a TestClient (``POST /v1/sign`` with an enterprise token,
``POST /v1/verify``: never a 500, always a problem document with a code when not 200).

A refusal must say what is wrong: the input is a broken PDF, so its code is one of
``REFUSALS`` (``invalid_pdf``), and over HTTP its status 422.  Any other code (a storage or
keystore error, ``internal_error``, a time limit hit) is a finding, not an acceptable answer.
Each outcome records the CPU time of this process it took (wall time and machine load are
not compared with anything; see ``test_hostile_pdfs.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Container
from api.settings import Settings
from helpers import USCC, license_data
from keystore.errors import EsealError
from seals.license import parse_license
from signer.service import SealingOptions

__all__ = ["Env", "Outcome", "env"]

PROBLEM = "application/problem+json"
#: a request slower than this is a finding of bench/fuzz.py (it runs alone, on a quiet machine)
SLOW_SECONDS = 10.0
#: the codes with which a broken PDF may be refused
REFUSALS = frozenset({"invalid_pdf"})


@dataclass
class Outcome:
    """What one path did with one input."""

    path: str  #: sign-inproc, verify-inproc, sign-http, verify-http
    ok: bool
    seconds: float
    detail: str  #: status and code, or the exception
    rss_growth_mb: float = 0.0
    trace: str = ""
    #: CPU seconds of this process (every thread: the app's included) spent on the input
    cpu: float = 0.0

    def finding(self) -> bool:
        return not self.ok or self.seconds > SLOW_SECONDS


class _LastError(logging.Handler):
    """Keeps the traceback the app logs for a 500 (``eseal.api`` logs ``unexpected error``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.trace = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.trace = "".join(traceback.format_exception(*record.exc_info))


@dataclass
class Env:
    client: TestClient
    container: Container
    token: str
    verifier_token: str
    errors: _LastError = field(default_factory=_LastError)
    seconds: dict[str, float] = field(default_factory=dict)

    # ----------------------------------------------------------------- in-process
    def sign_inproc(self, pdf: bytes) -> Outcome:
        return self._inproc(
            "sign-inproc",
            lambda: asyncio.run(self.container.sealing.seal(USCC, pdf, SealingOptions())),
        )

    def verify_inproc(self, pdf: bytes) -> Outcome:
        return self._inproc(
            "verify-inproc", lambda: asyncio.run(self.container.verifier.verify(pdf, None))
        )

    def _inproc(self, path: str, call) -> Outcome:  # type: ignore[no-untyped-def]
        before = _rss_mb()
        start, cpu = time.perf_counter(), time.process_time()
        try:
            call()
            ok, detail, tb = True, "ok", ""
        except EsealError as exc:
            ok, detail, tb = exc.code in REFUSALS, f"EsealError {exc.code}", ""
            if not ok:
                detail += f": {str(exc)[:300]} (a broken PDF is {'/'.join(sorted(REFUSALS))})"
                tb = traceback.format_exc()
        except Exception as exc:  # anything (BaseExceptions such as a time limit pass)
            ok, detail = False, f"{type(exc).__name__}: {str(exc)[:300]}"
            tb = traceback.format_exc()
        return Outcome(
            path,
            ok,
            time.perf_counter() - start,
            detail,
            _rss_mb() - before,
            tb,
            time.process_time() - cpu,
        )

    # ----------------------------------------------------------------- HTTP
    def sign_http(self, pdf: bytes) -> Outcome:
        return self._http(
            "sign-http",
            "/v1/sign",
            self.token,
            pdf,
            {"options": json.dumps({})},
            ok_type="application/pdf",
        )

    def verify_http(self, pdf: bytes) -> Outcome:
        return self._http(
            "verify-http", "/v1/verify", self.verifier_token, pdf, {}, ok_type="application/json"
        )

    def _http(
        self, path: str, route: str, token: str, pdf: bytes, data: dict[str, str], *, ok_type: str
    ) -> Outcome:
        before = _rss_mb()
        self.errors.trace = ""
        start, cpu = time.perf_counter(), time.process_time()
        try:
            r = self.client.post(
                route,
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("f.pdf", pdf, "application/pdf")},
                data=data,
            )
        except Exception as exc:  # TestClient can re-raise server errors
            return Outcome(
                path,
                False,
                time.perf_counter() - start,
                f"raised {type(exc).__name__}: {str(exc)[:300]}",
                _rss_mb() - before,
                traceback.format_exc(),
                time.process_time() - cpu,
            )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        growth = _rss_mb() - before
        ctype = r.headers.get("content-type", "")
        if r.status_code == 200:
            return Outcome(path, ok_type in ctype, seconds, f"200 {ctype}", growth, cpu=cpu)
        code = ""
        with suppress(ValueError):
            code = str(r.json().get("code", ""))
        ok = r.status_code == 422 and ctype.startswith(PROBLEM) and code in REFUSALS
        detail = f"{r.status_code} {code or r.text[:200]}"
        if not ok and code:
            detail += f": {r.json().get('detail', '')[:300]}"
        return Outcome(path, ok, seconds, detail, growth, self.errors.trace, cpu)

    def all_paths(self, pdf: bytes, *, http: bool = True) -> list[Outcome]:
        out = [self.verify_inproc(pdf), self.sign_inproc(pdf)]
        if http:
            out += [self.verify_http(pdf), self.sign_http(pdf)]
        return out


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def env(
    data_dir: Path,
    *,
    max_upload_mb: float = 8,
    initialise_dir: bool = False,
    document_cpu_seconds: float = 60,
) -> Iterator[Env]:
    """An app on the embedded defaults over ``data_dir`` with an enterprise and a verifier key;
    document work over HTTP is cut off after ``document_cpu_seconds`` of CPU time."""
    settings = Settings(data_dir=data_dir, public_url="http://127.0.0.1:8000")
    if initialise_dir:
        from api.container import initialise

        initialise(settings)
    app = create_app(
        settings.model_copy(
            update={"max_upload_mb": max_upload_mb, "document_cpu_seconds": document_cpu_seconds}
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        c: Container = app.state.container
        c.seals.register(parse_license(license_data()))
        _, token = c.api_keys.create(role="enterprise", uscc=USCC, name="fuzz", actor="fuzz")
        _, vtoken = c.api_keys.create(role="verifier", uscc=None, name="fuzz-v", actor="fuzz")
        e = Env(client, c, token, vtoken)
        api_log = logging.getLogger("eseal.api")
        api_log.addHandler(e.errors)
        propagate, api_log.propagate = api_log.propagate, False
        try:
            yield e
        finally:
            api_log.removeHandler(e.errors)
            api_log.propagate = propagate


def sealed_seeds(e: Env, pdf: bytes) -> dict[str, bytes]:
    """``pdf`` sealed by eseal at B-T, and extended to B-LTA."""
    from signer.levels import PadesLevel

    bt = asyncio.run(e.container.sealing.seal(USCC, pdf, SealingOptions()))[0]
    lta = asyncio.run(e.container.sealing.document_signer.extend(bt, PadesLevel.B_LTA))
    return {"sealed_bt": bt, "sealed_lta": lta}
