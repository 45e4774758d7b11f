"""Mixed sign/verify/download load with injected faults, then a consistency check.

    python bench/load_faults.py [--minutes 10] [--concurrency 16] [--workers 2]

Starts on 127.0.0.1, from scratch: a SeaweedFS S3 server (``weed mini``), a database of its own
on the local PostgreSQL (127.0.0.1:5432, user postgres), and ``eseal serve --workers 2`` with the
archive on S3.  Then ``--concurrency`` clients send, for ``--minutes`` (it stops by itself),
a mix of ``POST /v1/sign`` (1-page contract, B-T, one seal; half the requests),
``POST /v1/verify`` (a 2-seal B-T document; a quarter) and ``GET /v1/archives/{id}/file`` of a
document sealed earlier in the run (a quarter).  During the run, at fixed fractions of it:

1. the S3 server is stopped, left down a few seconds and started again;
2. PostgreSQL is restarted (``pg_ctlcluster ... restart``; only as root, else skipped);
3. one uvicorn worker process is killed with SIGKILL.

Every response is recorded.  A fault window runs from the start of the fault to
``GRACE_S`` after it was undone (or, for the killed worker, after the kill); a 5xx or a
transport error of a request that overlaps no fault window is a failure.

Afterwards: every successful sign response's archive id has its record
(``GET /v1/archives/{id}``, same SHA-256 as the response) and its file (same bytes) and a
``seal.use`` audit entry; ``eseal archive check`` is clean; ``GET /v1/audit/verify`` is ok; and
the archive holds as many documents as there were successful sign responses.  Exit status 0
when all of that holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_load import (
    ROOT,
    TWO_SEALS,
    EsealServer,
    auth,
    s3_env,
    sign_once,
    start_weed,
    verify_once,
)

#: a request overlapping [fault start, fault end + GRACE_S] is inside the fault window
GRACE_S = 5.0
PG_HOST = "127.0.0.1"
PG_PORT = 5432
REQUEST_TIMEOUT_S = 60.0


@dataclass
class Record:
    op: str
    start: float
    end: float
    status: int | None  # None: transport error
    error: str = ""
    archive_id: str | None = None
    sha256: str | None = None


@dataclass
class Fault:
    name: str
    start: float
    end: float = 0.0
    note: str = ""
    skipped: bool = False


@dataclass
class Run:
    records: list[Record] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    signed: list[tuple[str, str]] = field(default_factory=list)  # archive id, SHA-256

    def in_fault(self, r: Record) -> str | None:
        for f in self.faults:
            if f.skipped:
                continue
            end = (f.end or time.monotonic()) + GRACE_S
            if r.start <= end and r.end >= f.start:
                return f.name
        return None


# -- PostgreSQL ---------------------------------------------------------------------------------


def psql(sql: str) -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            PG_HOST,
            "-p",
            str(PG_PORT),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
    )


def pg_restart() -> str:
    versions = sorted(os.listdir("/etc/postgresql"))
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctlcluster restart failed: {done.stdout}{done.stderr}")
    return f"PostgreSQL {versions[-1]} restarted"


# -- the load ----------------------------------------------------------------------------------


async def client_loop(
    run: Run,
    client: httpx.AsyncClient,
    token: str,
    pdf: bytes,
    two_seals: bytes,
    deadline: float,
    rng: random.Random,
) -> None:
    while time.monotonic() < deadline:
        roll = rng.random()
        op = "sign" if roll < 0.5 or not run.signed else ("verify" if roll < 0.75 else "download")
        start = time.monotonic()
        rec = Record(op, start, start, None)
        try:
            if op == "sign":
                response = await sign_once(client, token, pdf)
            elif op == "verify":
                response = await verify_once(client, token, two_seals)
            else:
                archive_id, sha = rng.choice(run.signed)
                rec.archive_id = archive_id
                response = await client.get(f"/v1/archives/{archive_id}/file", headers=auth(token))
            rec.status = response.status_code
            if response.status_code == 200:
                if op == "sign":
                    rec.archive_id = response.headers.get("x-eseal-archive-id")
                    rec.sha256 = response.headers.get("x-eseal-sha256")
                    body = hashlib.sha256(response.content).hexdigest()
                    if not rec.archive_id or rec.sha256 != body:
                        rec.error = "200 without archive id, or its X-Eseal-Sha256 is wrong"
                    else:
                        run.signed.append((rec.archive_id, rec.sha256))
                elif op == "verify":
                    if not response.json().get("valid"):
                        rec.error = "verify: 200 but not valid"
                elif hashlib.sha256(response.content).hexdigest() != sha:
                    rec.error = "download: SHA-256 differs from the sign response"
            else:
                rec.error = response.text[:300]
        except httpx.HTTPError as exc:
            rec.error = f"{type(exc).__name__}: {exc}"[:300]
        rec.end = time.monotonic()
        run.records.append(rec)


async def wait_ready(url: str, timeout: float = 60.0) -> float:
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while time.monotonic() - start < timeout:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return time.monotonic() - start
            await asyncio.sleep(0.2)
    return float("nan")


async def faults(run: Run, server: EsealServer, weed, duration: float, t0: float) -> None:
    s3_down = min(10.0, max(3.0, duration * 0.04))

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, t0 + duration * fraction - time.monotonic()))

    await at(0.15)
    f = Fault("S3 server stopped", time.monotonic())
    run.faults.append(f)
    await asyncio.to_thread(weed.stop)
    await asyncio.sleep(s3_down)
    await asyncio.to_thread(weed.start)
    f.end = time.monotonic()
    f.note = f"down {f.end - f.start:.1f} s (stopped, {s3_down:.0f} s, started and answering)"
    print(f"  fault: {f.name}: {f.note}", file=sys.stderr)

    await at(0.40)
    f = Fault("PostgreSQL restarted", time.monotonic())
    run.faults.append(f)
    if os.geteuid() != 0:
        f.skipped, f.end = True, f.start
        f.note = "skipped: not running as root"
    else:
        try:
            f.note = await asyncio.to_thread(pg_restart)
        except Exception as exc:
            f.note = f"restart failed: {exc}"
        f.end = time.monotonic()
        f.note += f" in {f.end - f.start:.1f} s"
    print(f"  fault: {f.name}: {f.note}", file=sys.stderr)

    await at(0.65)
    f = Fault("one server worker SIGKILLed", time.monotonic())
    run.faults.append(f)
    before = server.worker_pids()
    if not before:
        f.skipped, f.end = True, f.start
        f.note = "skipped: no worker processes found (one worker runs in the main process)"
    else:
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        # uvicorn's supervisor should start a new worker; wait until it is there (bounded)
        deadline = time.monotonic() + 30
        after: list[int] = []
        while time.monotonic() < deadline:
            after = server.worker_pids()
            if len(after) >= len(before) and victim not in after:
                break
            await asyncio.sleep(0.2)
        f.end = time.monotonic()
        replaced = len(after) >= len(before) and victim not in after
        f.note = f"pid {victim} of {before}; " + (
            f"replaced after {f.end - f.start:.1f} s, workers now {after}"
            if replaced
            else f"NOT replaced within 30 s, workers now {after}"
        )
    print(f"  fault: {f.name}: {f.note}", file=sys.stderr)


# -- the checks afterwards -------------------------------------------------------------------


async def checks(run: Run, server: EsealServer) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    admin = auth(server.admin_token)
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        signed = [r for r in run.records if r.op == "sign" and r.status == 200 and not r.error]
        sem = asyncio.Semaphore(8)
        bad: list[str] = []

        async def one(r: Record) -> None:
            async with sem:
                meta = await client.get(f"/v1/archives/{r.archive_id}", headers=admin)
                if meta.status_code != 200:
                    bad.append(f"{r.archive_id}: record {meta.status_code}")
                    return
                if meta.json().get("sha256") != r.sha256:
                    bad.append(f"{r.archive_id}: record SHA-256 differs")
                got = await client.get(f"/v1/archives/{r.archive_id}/file", headers=admin)
                if got.status_code != 200:
                    bad.append(f"{r.archive_id}: file {got.status_code}")
                elif hashlib.sha256(got.content).hexdigest() != r.sha256:
                    bad.append(f"{r.archive_id}: file SHA-256 differs")

        await asyncio.gather(*(one(r) for r in signed))
        out.append(
            (
                "every successful sign has its archive record and file (same SHA-256)",
                not bad,
                f"{len(signed)} checked; {len(bad)} bad" + (f": {bad[:5]}" if bad else ""),
            )
        )

        # audit entries, all of them
        entries: list[dict] = []
        after = 0
        while True:
            page = (
                await client.get("/v1/audit", params={"after": after, "limit": 1000}, headers=admin)
            ).json()
            entries += page["entries"]
            if page["next_after"] is None:
                break
            after = page["next_after"]
        audited = {e.get("archive_id") for e in entries if e.get("action") == "seal.use"}
        missing = [r.archive_id for r in signed if r.archive_id not in audited]
        out.append(
            (
                "every successful sign has a seal.use audit entry",
                not missing,
                f"{len(audited)} audited archive ids; {len(missing)} missing"
                + (f": {missing[:5]}" if missing else ""),
            )
        )

        verify = await client.get("/v1/audit/verify", headers=admin)
        body = verify.json() if verify.status_code == 200 else verify.text[:300]
        out.append(
            (
                "GET /v1/audit/verify ok",
                verify.status_code == 200 and body.get("ok"),
                json.dumps(body, ensure_ascii=False),
            )
        )

        # the archive: count and orphans
        ids: list[str] = []
        cursor = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/archives", params=params, headers=admin)).json()
            ids += [item["id"] for item in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    # one document sealed before the run (the 2-seal document for verify)
    expected = len(signed) + 1
    ok_ids = {r.archive_id for r in signed}
    orphans = [i for i in ids if i not in ok_ids]
    out.append(
        (
            "archived documents == successful sign responses (+1 made before the run)",
            len(ids) == expected,
            f"archived {len(ids)}, successful signs {len(signed)} + 1; archived without a "
            f"successful response: {len(orphans) - 1 if orphans else 0}"
            + (f" {orphans[:6]}" if len(orphans) > 1 else ""),
        )
    )
    done = await asyncio.to_thread(server.cli, "archive", "check", check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = (done.stdout + done.stderr)[-500:]
    out.append(
        (
            "`eseal archive check` clean",
            done.returncode == 0,
            json.dumps(report, ensure_ascii=False)[:600],
        )
    )
    return out


# -- main ---------------------------------------------------------------------------------------


def summary(
    run: Run, results: list[tuple[str, bool, str]], duration: float, args: argparse.Namespace
) -> tuple[str, bool]:
    lines = [
        f"# eseal load with faults: {duration / 60:.1f} min, concurrency {args.concurrency},"
        f" --workers {args.workers}, PostgreSQL + SeaweedFS S3 archive",
        "",
    ]
    lines += [
        f"## Faults (window = start .. end + {GRACE_S:.0f} s grace)",
        "",
        "| fault | at s | note |",
        "|---|---:|---|",
    ]
    t0 = run.records[0].start if run.records else 0.0
    for f in run.faults:
        lines.append(f"| {f.name} | {f.start - t0:.0f} | {f.note} |")
    lines += [
        "",
        "## Responses",
        "",
        "| op | total | 2xx | 4xx | 5xx in faults | 5xx outside | transport errors in "
        "faults | transport errors outside | other errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    failures: list[Record] = []
    for op in ("sign", "verify", "download"):
        rs = [r for r in run.records if r.op == op]
        c: Counter[str] = Counter()
        for r in rs:
            inside = run.in_fault(r) is not None
            if r.status is None:
                c["transport in" if inside else "transport out"] += 1
            elif r.status >= 500:
                c["5xx in" if inside else "5xx out"] += 1
            elif r.status >= 400:
                c["4xx"] += 1
            elif r.error:
                c["other"] += 1
            else:
                c["2xx"] += 1
            if not inside and (r.status is None or r.status >= 500 or (r.status < 400 and r.error)):
                failures.append(r)
        lines.append(
            f"| {op} | {len(rs)} | {c['2xx']} | {c['4xx']} | {c['5xx in']} | "
            f"{c['5xx out']} | {c['transport in']} | {c['transport out']} | "
            f"{c['other']} |"
        )
    four = Counter(
        f"{r.op} {r.status}: {r.error[:120]}"
        for r in run.records
        if r.status is not None and 400 <= r.status < 500
    )
    inside = Counter(
        f"{r.op} {r.status}: {r.error[:160]} [{run.in_fault(r)}]"
        for r in run.records
        if run.in_fault(r) and (r.status is None or r.status >= 500)
    )
    elapsed = (run.records[-1].end - t0) if run.records else 0
    ok_total = sum(1 for r in run.records if r.status == 200 and not r.error)
    lines += [
        "",
        f"{len(run.records)} requests in {elapsed:.0f} s "
        f"({ok_total / elapsed if elapsed else 0:.1f} successful/s)",
    ]
    if inside:
        lines += ["", "Errors inside fault windows (count, kind):", ""]
        lines += [f"- {n} × `{k}`" for k, n in inside.most_common(8)]
    if four:
        lines += ["", "4xx (count, kind):", ""] + [f"- {n} × `{k}`" for k, n in four.most_common(5)]
    if failures:
        lines += ["", f"**{len(failures)} failures outside fault windows** (first 8):", ""]
        lines += [
            f"- {r.op} at {r.start - t0:.1f} s: {r.status}: `{r.error[:200]}`" for r in failures[:8]
        ]
    lines += ["", "## Checks afterwards", "", "| check | result | detail |", "|---|---|---|"]
    for name, ok, detail in results:
        lines.append(f"| {name} | {'ok' if ok else 'FAILED'} | {detail.replace('|', '/')} |")
    all_ok = not failures and all(ok for _, ok, _ in results)
    lines += ["", f"**Overall: {'PASS' if all_ok else 'FAIL'}**"]
    return "\n".join(lines) + "\n", all_ok


async def main_async(args: argparse.Namespace) -> int:
    from pdfs import simple_pdf

    duration = args.minutes * 60
    pdf = simple_pdf(1)
    database = f"eseal_load_{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="eseal-faults-") as tmp:
        work = Path(tmp)
        weed = start_weed(work / "weed")
        server = None
        psql(f"CREATE DATABASE {database}")
        try:
            env = {
                **s3_env(weed),
                "ESEAL_DATABASE_URL": f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{database}",
            }
            server = EsealServer(work / "eseal", workers=args.workers, env=env)
            server.setup()
            server.start()
            print(
                f"server up on {args.workers} workers, running {args.minutes} min", file=sys.stderr
            )
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                response = await sign_once(client, server.token, pdf, TWO_SEALS)
                response.raise_for_status()
                two_seals = response.content
            run = Run()
            t0 = time.monotonic()
            deadline = t0 + duration
            limits = httpx.Limits(
                max_connections=args.concurrency, max_keepalive_connections=args.concurrency
            )
            rng = random.Random(7)
            async with httpx.AsyncClient(
                base_url=server.url, limits=limits, timeout=REQUEST_TIMEOUT_S
            ) as client:
                fault_task = asyncio.create_task(faults(run, server, weed, duration, t0))
                await asyncio.gather(
                    *(
                        client_loop(
                            run,
                            client,
                            server.token,
                            pdf,
                            two_seals,
                            deadline,
                            random.Random(rng.random()),
                        )
                        for _ in range(args.concurrency)
                    )
                )
                if not fault_task.done():
                    fault_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fault_task
            run.records.sort(key=lambda r: r.start)
            print(f"load done: {len(run.records)} requests; checking", file=sys.stderr)
            await wait_ready(server.url)
            results = await checks(run, server)
            text, ok = summary(run, results, duration, args)
            print(text)
            if args.output:
                Path(args.output).write_text(text, encoding="utf-8")
            log_errors = [
                line
                for line in server.tail(100000).splitlines()
                if "Traceback" in line
                or '"level": "error"' in line.lower()
                or '"level": "critical"' in line.lower()
            ]
            if log_errors:
                print(f"server log: {len(log_errors)} error lines; the last ones:", file=sys.stderr)
                for line in log_errors[-5:]:
                    print("  " + line[:400], file=sys.stderr)
            if args.keep_log:
                Path(args.keep_log).write_text(server.tail(100000), encoding="utf-8")
            return 0 if ok else 1
        finally:
            if server is not None:
                server.stop()
            weed.stop(kill=True)
            with contextlib.suppress(subprocess.CalledProcessError):
                psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--output", help="also write the summary (markdown) to this file")
    parser.add_argument("--keep-log", help="copy the server's log to this file")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "tests")]
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
