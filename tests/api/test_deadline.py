"""The hard time limit on document work: pathological PDFs are cut off with a clear error."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from sqlalchemy import func, select

import pdfs
from api.deadline import Deadline, DocumentTooComplex, ProcessingTimeout
from helpers import Api
from storage.access_tables import AuditRow
from storage.tables import ArchiveRow


def _busy(seconds: float) -> int:
    """Pure-Python work for about ``seconds`` of CPU time."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def test_a_job_over_the_cpu_limit_is_cut_and_the_thread_carries_on() -> None:
    deadline = Deadline(cpu_seconds=0.2, wall_seconds=30, tick=0.01)
    started = time.monotonic()
    with pytest.raises(DocumentTooComplex) as caught:
        deadline.run(lambda: _busy(30))
    assert time.monotonic() - started < 5  # not the 30 s the job wanted
    assert caught.value.code == "processing_time_exceeded"
    assert "0.2 s of CPU time" in caught.value.detail
    assert deadline.cuts == 1
    # the same thread runs the next job normally
    assert deadline.run(lambda: _busy(0.01)) > 0
    assert deadline.run(lambda: "done") == "done"


def test_waiting_is_not_cpu_time_but_the_wall_limit_still_holds() -> None:
    deadline = Deadline(cpu_seconds=0.2, wall_seconds=0.6, tick=0.01)

    def sleepy() -> str:
        for _ in range(300):  # 3 s of sleeping, almost no CPU
            time.sleep(0.01)
        return "slept"

    started = time.monotonic()
    with pytest.raises(ProcessingTimeout) as caught:
        deadline.run(sleepy)
    assert 0.5 < time.monotonic() - started < 2.5
    assert caught.value.code == "processing_timeout"
    # under the wall limit, sleeping 0.3 s is fine although the CPU limit is 0.2 s
    deadline.wall_seconds = 5
    assert deadline.run(lambda: (time.sleep(0.3), "ok")[1]) == "ok"


def test_a_cut_near_the_end_of_a_job_never_leaks_into_later_work() -> None:
    """Jobs that finish right around the limit: the cut is either reported for that job or
    dropped, never raised later in code that runs without a deadline."""
    deadline = Deadline(cpu_seconds=0.02, wall_seconds=30, tick=0.002)
    outcomes = {"done": 0, "cut": 0}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(60):
                try:
                    deadline.run(lambda: _busy(rng.uniform(0.012, 0.03)))
                    key = "done"
                except DocumentTooComplex:
                    key = "cut"
                with lock:
                    outcomes[key] += 1
                _busy(0.005)  # no deadline here: a stray cut would surface in this call
        except BaseException as exc:  # a leaked cut is a BaseException
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert outcomes["done"] + outcomes["cut"] == 180
    assert outcomes["cut"] > 0 and outcomes["done"] > 0, outcomes
    assert deadline.cuts == outcomes["cut"]


def _counts(api: Api) -> tuple[int, int]:
    with api.container.engine.connect() as conn:
        archived = conn.scalar(select(func.count()).select_from(ArchiveRow))
        audited = conn.scalar(select(func.count()).select_from(AuditRow))
    return int(archived or 0), int(audited or 0)


def test_http_sign_of_a_document_over_the_limit_is_422_and_changes_nothing(api: Api) -> None:
    slow = pdfs.simple_pdf(1500)  # every page is read to place the seal: about a second
    small = pdfs.simple_pdf(1)
    options = {"options": json.dumps({"seals": [{"kind": "contract"}], "level": "B-T"})}
    warm = api.client.post("/v1/sign", headers=api.headers("own"),  # seal image prepared once
                           files={"file": ("small.pdf", small, "application/pdf")}, data=options)
    assert warm.status_code == 200, warm.text
    before = _counts(api)
    api.container.deadline.cpu_seconds = 0.15
    r = api.client.post("/v1/sign", headers=api.headers("own"),
                        files={"file": ("slow.pdf", slow, "application/pdf")}, data=options)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "processing_time_exceeded"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert _counts(api) == before  # nothing archived, nothing audited
    # the server goes on: a normal document seals, and so does the big one under a fair limit
    ok = api.client.post("/v1/sign", headers=api.headers("own"),
                         files={"file": ("small.pdf", small, "application/pdf")}, data=options)
    assert ok.status_code == 200, ok.text
    api.container.deadline.cpu_seconds = 60
    big = api.client.post("/v1/sign", headers=api.headers("own"),
                          files={"file": ("slow.pdf", slow, "application/pdf")}, data=options)
    assert big.status_code == 200, big.text
    assert _counts(api)[0] == before[0] + 2


def test_http_verify_over_the_limit_is_422(api: Api) -> None:
    options = {"options": json.dumps({"seals": [{"kind": "contract"}], "level": "B-T"})}
    signed = api.client.post("/v1/sign", headers=api.headers("own"), data=options,
                             files={"file": ("d.pdf", pdfs.simple_pdf(1500), "application/pdf")})
    assert signed.status_code == 200
    r = api.client.post("/v1/verify", headers=api.headers("verifier"),
                        files={"file": ("d.pdf", signed.content, "application/pdf")})
    assert r.status_code == 200 and r.json()["valid"] is True  # about 0.1 s of work
    api.container.deadline.cpu_seconds = 0.001
    r = api.client.post("/v1/verify", headers=api.headers("verifier"),
                        files={"file": ("d.pdf", signed.content, "application/pdf")})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "processing_time_exceeded"
    api.container.deadline.cpu_seconds = 60
    r = api.client.post("/v1/verify", headers=api.headers("verifier"),
                        files={"file": ("d.pdf", signed.content, "application/pdf")})
    assert r.status_code == 200 and r.json()["valid"] is True
