"""Verification over HTTP beside stock pyHanko's bare validation, in one run.

    python bench/verify_http.py [--quick] [--workers N]

``eseal serve --workers N`` (default 2) on 127.0.0.1 with a fresh data dir (``bench/http_load.py``'s
server), a 2-seal B-T document sealed through ``POST /v1/sign``, then ``POST /v1/verify`` of it
(the full report) with keep-alive clients at concurrency 1, 4 and 16.  Beside it, in the same
run, stock pyHanko's validation of the same file (``async_validate_pdf_signature`` for each
signature, a fresh ``ValidationContext`` per document) in a process of its own that never
imports eseal's ``signer`` (``bench/baselines.py``), in two halves just before and just after the
HTTP cells.  The issue's target: documents per second over HTTP at least 4 times pyHanko's
per-document rate (one document after another, one core).

The table goes to stdout and to ``bench/results-verify-http.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "storage"),
    str(ROOT / "bench"),
]

import httpx  # noqa: E402
from baselines import BaselineWorker, stock_note  # noqa: E402
from facts import header, write_results  # noqa: E402
from http_load import TWO_SEALS, EsealServer, sign_once, verify_once  # noqa: E402

from pdfs import simple_pdf  # noqa: E402

TARGET_RATIO = 4.0


@dataclass
class Cell:
    concurrency: int
    count: int
    per_s: float
    p50_ms: float
    p99_ms: float
    #: CPU of the server's processes per request (user + system, from /proc)
    server_cpu_ms: float


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (and their reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
    return total


async def cell(server: EsealServer, pdf: bytes, concurrency: int, count: int) -> Cell:
    url, token = server.url, server.token
    pids = [server.process.pid, *server.worker_pids()] if server.process else []
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        left = [count]

        async def client_loop() -> None:
            while left[0] > 0:
                left[0] -= 1
                t0 = time.perf_counter()
                response = await verify_once(client, token, pdf)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200 or response.json()["valid"] is not True:
                    raise RuntimeError(f"verification failed: {response.text[:300]}")

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))  # warm connections
        left[0] = count
        latencies.clear()
        cpu = cpu_seconds(pids)
        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pids) - cpu
    ordered = sorted(latencies)
    return Cell(
        concurrency,
        count,
        count / wall,
        statistics.median(ordered) * 1000,
        ordered[max(0, -(-len(ordered) * 99 // 100) - 1)] * 1000,
        cpu / count * 1000,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few documents (< 1 minute)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args()
    counts = {1: 15, 4: 40, 16: 40} if args.quick else {1: 60, 4: 160, 16: 160}
    baseline_n = 5 if args.quick else 20
    with tempfile.TemporaryDirectory(prefix="eseal-bench-") as tmp, BaselineWorker() as worker:
        server = EsealServer(Path(tmp) / "server", workers=args.workers)
        server.setup()
        server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
                response = await sign_once(client, server.token, simple_pdf(1), TWO_SEALS)
                if response.status_code != 200:
                    raise RuntimeError(f"sealing failed: {response.text[:300]}")
            path = Path(tmp) / "two-seals-b-t.pdf"
            path.write_bytes(response.content)
            root = str(server.data / "pki" / "root.pem")
            worker.call("validate", pdf=str(path), root=root, n=2)  # warm-up
            wall: list[float] = []
            cpu: list[float] = []
            reply = worker.call("validate", pdf=str(path), root=root, n=baseline_n)
            wall += reply["wall"]
            cpu += reply["cpu"]
            cells = [await cell(server, response.content, n, count) for n, count in counts.items()]
            reply = worker.call("validate", pdf=str(path), root=root, n=baseline_n)
            wall += reply["wall"]
            cpu += reply["cpu"]
        finally:
            server.stop()
        facts = worker.facts
    pyhanko_ms = statistics.median(wall) * 1000
    pyhanko_cpu_ms = statistics.median(cpu) * 1000
    pyhanko_per_s = 1000 / pyhanko_ms
    lines = header(
        "Verification over HTTP beside stock pyHanko's validation",
        "python bench/verify_http.py" + (" --quick" if args.quick else ""),
    )[:-1]
    lines += [
        f"- {stock_note(facts)}",
        f"- server: `eseal serve --workers {args.workers}` on loopback, SQLite, local archive; "
        "clients: httpx, keep-alive, on the same machine (they count against the figures)",
        f"- document: 1 page, 2 seals (contract, legal representative), B-T, ECDSA P-256, "
        f"{len(response.content)} bytes",
        "",
        "## Stock pyHanko's validation (in its own process, one document after another)",
        "",
        f"{pyhanko_ms:.1f} ms per document (median of {len(wall)}, half before and half after "
        f"the HTTP cells), {pyhanko_cpu_ms:.1f} ms CPU: {pyhanko_per_s:.1f} documents/s.",
        "",
        "## eseal `POST /v1/verify` (full report)",
        "",
        "'against pyHanko' is eseal's documents/s over pyHanko's per-document rate (wall "
        "clock, what the target names); 'server CPU' is the CPU the server's processes spent "
        "per request, which a loaded machine does not inflate, beside pyHanko's CPU per "
        "document.",
        "",
        "| requests in flight | documents | documents/s | p50 ms | p99 ms "
        "| against pyHanko | server CPU ms per request | pyHanko CPU over it |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        lines.append(
            f"| {c.concurrency} | {c.count} | {c.per_s:.1f} | {c.p50_ms:.0f} | {c.p99_ms:.0f} "
            f"| {c.per_s / pyhanko_per_s:.1f}× | {c.server_cpu_ms:.1f} "
            f"| {pyhanko_cpu_ms / c.server_cpu_ms:.1f}× |"
        )
    best = max(cells, key=lambda c: c.per_s)
    ratio = best.per_s / pyhanko_per_s
    lines += [
        "",
        "## Target",
        "",
        "| target | measured | status |",
        "|---|---:|---|",
        f"| verification over HTTP ≥ {TARGET_RATIO:.0f}× stock pyHanko's bare validation per "
        f"document | {ratio:.1f}× ({best.per_s:.1f}/s at {best.concurrency} in flight, "
        f"pyHanko {pyhanko_per_s:.1f}/s) | {'met' if ratio >= TARGET_RATIO else 'MISSED'} |",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    write_results("results-verify-http.md", table)


if __name__ == "__main__":
    asyncio.run(main())
