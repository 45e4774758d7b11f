"""A front system's verification beside the centre's, in one run (issue 19).

    python bench/front_verify.py [--quick]

A centre (``eseal serve``, a fresh data dir, one worker) and a front system (``eseal serve
--mode front``, its own SQLite database, one worker) on 127.0.0.1; a 2-seal B-T document
sealed at the centre; then ``POST /v1/verify`` of it at each, in alternating rounds (centre,
front, front, centre, ...) at concurrency 1 and 4, so that load on the machine falls on both
alike.  The issue's target: the front is not slower than the centre (ratio of documents per
second, front / centre, at least 1 within the noise of a shared machine).

The table goes to stdout and to ``bench/results-front-verify.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import httpx  # noqa: E402
from facts import header, write_results  # noqa: E402
from http_load import TWO_SEALS, EsealServer, auth, sign_once, verify_once  # noqa: E402

from pdfs import simple_pdf  # noqa: E402

ACCESS_FORM = json.loads((ROOT / "examples" / "access-form.json").read_text(encoding="utf-8"))


class FrontServer(EsealServer):
    """``eseal serve`` in front mode, reading the centre's feed."""

    def __init__(self, base: Path, upstream: str, token: str) -> None:
        super().__init__(
            base,
            workers=1,
            env={
                "ESEAL_MODE": "front",
                "ESEAL_UPSTREAM_URL": upstream,
                "ESEAL_UPSTREAM_TOKEN": token,
            },
        )

    def setup(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.token = json.loads(self.cli("init").stdout)["admin_key"]["token"]


@dataclass
class Side:
    name: str
    latencies: list[float]
    wall: float = 0.0
    count: int = 0
    #: CPU seconds of the server's processes during the measured requests
    cpu: float = 0.0

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.count * 1000 if self.count else 0.0

    @property
    def per_s(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000


async def run(
    server: EsealServer,
    client: httpx.AsyncClient,
    token: str,
    pdf: bytes,
    concurrency: int,
    count: int,
    side: Side,
) -> None:
    left = [count]
    cpu = sum(server.cpu_seconds().values())

    async def loop() -> None:
        while left[0] > 0:
            left[0] -= 1
            t0 = time.perf_counter()
            answer = await verify_once(client, token, pdf)
            side.latencies.append(time.perf_counter() - t0)
            report = answer.json()
            if answer.status_code != 200 or report.get("valid") is not True:
                raise RuntimeError(f"{side.name}: verification failed: {answer.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    side.wall += time.perf_counter() - started
    side.count += count
    side.cpu += sum(server.cpu_seconds().values()) - cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few documents (< 1 minute)")
    args = parser.parse_args()
    rounds, per_round = (2, 5) if args.quick else (4, 15)
    rows = []
    with tempfile.TemporaryDirectory(prefix="eseal-bench-front-") as tmp:
        centre = EsealServer(Path(tmp) / "centre", workers=1)
        centre.setup()
        centre.start()
        front: FrontServer | None = None
        try:
            async with httpx.AsyncClient(base_url=centre.url, timeout=120) as client:
                sealed = await sign_once(client, centre.token, simple_pdf(1), TWO_SEALS)
                if sealed.status_code != 200:
                    raise RuntimeError(f"sealing failed: {sealed.text[:300]}")
                made = await client.post(
                    "/v1/api-keys",
                    headers=auth(centre.admin_token),
                    json={
                        "role": "verifier",
                        "name": "bench front",
                        "access_form": {**ACCESS_FORM, "front_system": True},
                    },
                )
                made.raise_for_status()
                bank = await client.post(
                    "/v1/api-keys",
                    headers=auth(centre.admin_token),
                    json={"role": "verifier", "name": "bench bank", "access_form": ACCESS_FORM},
                )
                bank.raise_for_status()
            front = FrontServer(Path(tmp) / "front", centre.url, made.json()["token"])
            front.setup()
            front.start()
            pdf = sealed.content
            limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
            async with (
                httpx.AsyncClient(base_url=centre.url, timeout=120, limits=limits) as at_centre,
                httpx.AsyncClient(base_url=front.url, timeout=120, limits=limits) as at_front,
            ):
                sides = {
                    "centre": (centre, at_centre, bank.json()["token"]),
                    "front": (front, at_front, front.token),
                }
                for concurrency in (1, 4):
                    results = {name: Side(name, []) for name in sides}
                    for name, (server, client, token) in sides.items():  # warm-up
                        await run(
                            server, client, token, pdf, concurrency, 2 * concurrency, Side(name, [])
                        )
                    for r in range(rounds):
                        order = ["centre", "front"] if r % 2 == 0 else ["front", "centre"]
                        for name in order:
                            server, client, token = sides[name]
                            await run(
                                server,
                                client,
                                token,
                                pdf,
                                concurrency,
                                per_round * concurrency,
                                results[name],
                            )
                    rows.append((concurrency, results["centre"], results["front"]))
        finally:
            if front is not None:
                front.stop()
            centre.stop()
    lines = header(
        "A front system's verification beside the centre's (2-seal B-T PDF)",
        "python bench/front_verify.py" + (" --quick" if args.quick else ""),
    )
    lines += [
        "| concurrency | centre docs/s | p50 ms | CPU ms/doc | front docs/s | p50 ms | "
        "CPU ms/doc | front / centre (docs/s) | centre / front (CPU per doc) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for concurrency, c, f in rows:
        lines.append(
            f"| {concurrency} | {c.per_s:.1f} | {c.p50_ms:.1f} | {c.cpu_ms:.1f} | "
            f"{f.per_s:.1f} | {f.p50_ms:.1f} | {f.cpu_ms:.1f} | {f.per_s / c.per_s:.2f} | "
            f"{c.cpu_ms / f.cpu_ms:.2f} |"
        )
    lines += [
        "",
        "Both one worker process on the same machine, the same document, alternating rounds. "
        "Target (issue 19): the front not slower than the centre (ratios at least 1 within the "
        "noise; on a loaded machine the CPU per document, measured from /proc for each "
        "server's processes, is the steadier of the two).",
    ]
    text = "\n".join(lines)
    print(text)
    write_results("results-front-verify.md", text)


if __name__ == "__main__":
    asyncio.run(main())
