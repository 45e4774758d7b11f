"""A batch beside the same documents sent one by one, over HTTP, in the same run.

    python bench/batch.py [--count 1000] [--quick] [--workers 2] [--output FILE]

Starts ``eseal serve --workers N`` (default 2, with its default ``ESEAL_BATCH_WORKERS``) on a
fresh data dir (the example enterprise, an enterprise key, local archive), then seals
``--count`` one-page contracts (``examples/contract-1page.pdf``, each with its own reference;
B-T, one contract seal on the keyword 甲方（盖章）) two ways on that one server:

* one by one: ``POST /v1/sign``, 4 requests in flight (asyncio + httpx on the same machine);
* one batch: ``POST /v1/batches`` with every document as a part and a reference per file,
  polled every 0.1 s until done (``GET /v1/batches/{id}?status=failed``: the progress counts
  and the failures so far, as a client watching a batch asks; the full listing of every
  file is read once, at the end), then ``GET .../result.zip`` downloaded.

A few single requests warm the server up first.  The one-by-one run goes first, then the
batch; ``--rounds 2`` repeats the pair in the other order too, so that a change in the shared
machine's load hits both.  The batch's time runs from the first byte of its request to its
``done`` status, and again to the end of the result ZIP (the one-by-one requests get each
sealed document back in their answers).  Every document of both runs is checked: sealed
(status 200 / ``done``), and the batch's ZIP holds them all.

The issue's target: the batch at least as fast as one by one at concurrency 4.  ``--quick``
is ``--count 50``.  The table goes to stdout and to ``bench/results-batch.md`` (or
``--output``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "storage"),
    str(ROOT / "bench"),
]

from facts import header  # noqa: E402
from http_load import EsealServer, auth  # noqa: E402

CONTRACT = (ROOT / "examples" / "contract-1page.pdf").read_bytes()
OPTIONS: dict[str, object] = {
    "seals": [{"kind": "contract", "keyword": "甲方（盖章）"}],
    "level": "B-T",
    "document_type": "contract",
}
CONCURRENCY = 4
TIMEOUT = httpx.Timeout(600.0)


@dataclass
class Run:
    what: str
    count: int
    seconds: float
    #: the batch's time to its last sealed file (the ZIP download after it)
    sealed_seconds: float | None = None

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


def _reference(i: int) -> str:
    return f"HT-2026-{i:05d}"


async def one_by_one(url: str, token: str, count: int) -> Run:
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits) as client:

        async def sign(i: int) -> None:
            async with gate:
                r = await client.post(
                    "/v1/sign",
                    headers=auth(token),
                    files={"file": (f"{_reference(i)}.pdf", CONTRACT, "application/pdf")},
                    data={"options": json.dumps({**OPTIONS, "reference": _reference(i)})},
                )
            if r.status_code != 200 or not r.content.startswith(b"%PDF"):
                raise RuntimeError(f"document {i}: {r.status_code} {r.text[:300]}")

        start = time.perf_counter()
        await asyncio.gather(*(sign(i) for i in range(count)))
        return Run(f"one by one, {CONCURRENCY} in flight", count, time.perf_counter() - start)


def one_batch(url: str, token: str, count: int) -> Run:
    names = [f"{_reference(i)}.pdf" for i in range(count)]
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        start = time.perf_counter()
        r = client.post(
            "/v1/batches",
            headers=auth(token),
            files=[("file", (name, CONTRACT, "application/pdf")) for name in names],
            data={
                "options": json.dumps(OPTIONS),
                "per_file": json.dumps(
                    {name: {"reference": _reference(i)} for i, name in enumerate(names)}
                ),
            },
        )
        if r.status_code != 202:
            raise RuntimeError(f"batch refused: {r.status_code} {r.text[:500]}")
        batch_id = r.json()["id"]
        while True:
            status = client.get(
                f"/v1/batches/{batch_id}", params={"status": "failed"}, headers=auth(token)
            ).json()
            if status["status"] == "done":
                break
            time.sleep(0.1)
        sealed = time.perf_counter() - start
        listing = client.get(f"/v1/batches/{batch_id}", headers=auth(token)).json()
        if status["counts"]["done"] != count or len(listing["files"]) != count:
            raise RuntimeError(f"batch: {status['counts']}")
        data = client.get(f"/v1/batches/{batch_id}/result.zip", headers=auth(token)).content
        seconds = time.perf_counter() - start
    zipped = zipfile.ZipFile(io.BytesIO(data)).namelist()
    if sorted(zipped) != sorted([*names, "results.json"]):
        raise RuntimeError("the result ZIP does not hold every document")
    return Run("one batch (to its result ZIP)", count, seconds, sealed)


def table(runs: list[Run]) -> list[str]:
    lines = [
        "| how | documents | seconds | documents/s | batch: seconds to done |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        done = f"{run.sealed_seconds:.1f}" if run.sealed_seconds is not None else "-"
        lines.append(
            f"| {run.what} | {run.count} | {run.seconds:.1f} | {run.per_second:.1f} | {done} |"
        )
    singles = [r for r in runs if r.sealed_seconds is None]
    batches = [r for r in runs if r.sealed_seconds is not None]
    single = sum(r.seconds for r in singles) / len(singles)
    batch = sum(r.seconds for r in batches) / len(batches)
    verdict = "meets" if batch <= single else "misses"
    lines += [
        "",
        f"Batch over one by one: {single / batch:.2f}x the throughput (mean of the runs, the "
        f"batch timed to the end of its result ZIP); the target (at least 1x) {verdict}.",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="documents (default 1000)")
    parser.add_argument("--quick", action="store_true", help="--count 50")
    parser.add_argument("--workers", type=int, default=2, help="eseal serve --workers")
    parser.add_argument("--rounds", type=int, default=1, choices=(1, 2))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results-batch.md")
    args = parser.parse_args()
    count = 50 if args.quick else args.count
    with tempfile.TemporaryDirectory(prefix="eseal-bench-batch-") as tmp:
        server = EsealServer(Path(tmp), workers=args.workers)
        server.setup()
        server.start()
        try:
            asyncio.run(one_by_one(server.url, server.token, 8))  # warm-up
            runs = [asyncio.run(one_by_one(server.url, server.token, count))]
            runs.append(one_batch(server.url, server.token, count))
            if args.rounds == 2:
                runs.append(one_batch(server.url, server.token, count))
                runs.append(asyncio.run(one_by_one(server.url, server.token, count)))
        finally:
            server.stop()
    command = "python bench/batch.py " + " ".join(sys.argv[1:])
    lines = header("A batch beside the same documents one by one", command.strip())
    lines += [
        f"eseal serve --workers {args.workers}, ESEAL_BATCH_WORKERS default (threads per "
        "process); one-page contract, B-T, one contract seal on a keyword; local archive, "
        "SQLite. The batch is polled every 0.1 s with `?status=failed` (counts and failures), "
        "its full listing read once when done.",
        "",
        *table(runs),
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
