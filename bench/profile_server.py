"""Where a sealing request's time goes in the server: py-spy on ``eseal serve`` under load.

    python bench/profile_server.py [--seconds 20] [--concurrency 4] [--top 40]

Starts ``eseal serve --workers 1`` on a fresh data dir (SQLite, local archive, built-in TSA),
keeps ``--concurrency`` ``POST /v1/sign`` requests (1-page contract, B-T, one seal) in flight
for ``--seconds`` while ``py-spy record`` samples the server process (``pip install -e
'.[bench]'`` brings py-spy), and prints the share of samples (inclusive) of eseal's own
functions and of the libraries' main entry points, then the top functions by own time; the
same goes to ``bench/results-profile.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "storage"),
    str(ROOT / "bench"),
]

from facts import header, write_results  # noqa: E402
from http_load import SIGN_OPTIONS, EsealServer, sign_once  # noqa: E402

from pdfs import simple_pdf  # noqa: E402

#: frames worth naming in the inclusive table (eseal's layers and the big library calls)
INTERESTING = re.compile(
    r"\((api|signer|seals|storage|keystore)/|async_sign_pdf|SQLAlchemy|Session\.commit|"
    r"do_execute|_write_temp|fsync|multipart|MultiPartParser|Request\.form|authenticate"
)


def _frame(text: str) -> str:
    return re.sub(r":\d+\)$", ")", text)


def summarise(raw: Path, top: int) -> str:
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    out = [f"{total} samples", "", "inclusive (share of all samples):"]
    for name, n in inclusive.most_common():
        if INTERESTING.search(name) and n / total >= 0.01:
            out.append(f"  {n / total * 100:5.1f}%  {name}")
    out += ["", "own time:"]
    out += [f"  {n / total * 100:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> int:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("py-spy not found: pip install -e '.[bench]'")
    pdf = simple_pdf(1)
    with tempfile.TemporaryDirectory(prefix="eseal-prof-") as tmp:
        server = EsealServer(Path(tmp), workers=1)
        server.setup()
        server.start()
        raw = Path(tmp) / "spy.txt"
        try:
            assert server.process is not None
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                for _ in range(5):  # warm-up: seal image, key, connections
                    (await sign_once(client, server.token, pdf)).raise_for_status()
                recorder = subprocess.Popen(
                    [
                        str(spy),
                        "record",
                        "-p",
                        str(server.process.pid),
                        "-o",
                        str(raw),
                        "-f",
                        "raw",
                        "-d",
                        str(int(args.seconds)),
                        "-r",
                        "200",
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                done = 0
                started = time.perf_counter()

                async def worker() -> None:
                    nonlocal done
                    while time.perf_counter() - started < args.seconds:
                        r = await sign_once(client, server.token, pdf, SIGN_OPTIONS)
                        r.raise_for_status()
                        done += 1

                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
                rate = done / (time.perf_counter() - started)
                _, spy_err = recorder.communicate(timeout=args.seconds + 30)
                if not raw.exists():
                    raise SystemExit(f"py-spy wrote no profile: {spy_err[-1000:]}")
        finally:
            server.stop()
        command = (
            "python bench/profile_server.py"
            + (f" --seconds {args.seconds:g}" if args.seconds != 20 else "")
            + (f" --concurrency {args.concurrency}" if args.concurrency != 4 else "")
        )
        text = "\n".join(
            [
                *header("Where a sealing request's time goes: py-spy on the server", command)[:-1],
                f"- `eseal serve --workers 1` (SQLite, local archive, built-in TSA) under "
                f"{args.concurrency} `POST /v1/sign` requests in flight (1-page contract, B-T, one "
                f"seal) for {args.seconds:g} s, sampled by `py-spy record` at 200 Hz; "
                f"{rate:.1f} docs/s while sampled",
                "",
                "```",
                summarise(raw, args.top),
                "```",
            ]
        )
        print(text)
        write_results("results-profile.md", text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--top", type=int, default=25)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
