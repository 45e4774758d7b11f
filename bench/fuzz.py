"""Fuzz eseal's sign and verify paths with hostile PDFs for a fixed time.

    python bench/fuzz.py [--minutes 10] [--seed 1] [--crafted] [--no-http] [--save DIR]

Inputs are mutations of real PDFs (plain, CJK contract, sealed at B-T and B-LTA; see
``tests/fuzz/hostile.py``), and with ``--crafted`` first every hand-crafted pathological file,
including the heavy ones the normal suite leaves out (GB compression bombs, 10^5 objects, a
/Kids array of 200,000 entries, an xref stream claiming 2^31 entries).  Each input goes through
``SealingService.seal`` and ``Verifier.verify`` in-process and ``POST /v1/sign`` and
``POST /v1/verify`` over HTTP.  A finding is an exception other than ``EsealError``
in-process, a 5xx or a refusal without a problem code over HTTP, or any path slower than
``--slow`` seconds (10).  A path that runs past ``--limit`` seconds (60) is cut off in-process
by SIGALRM and counted as a hang (the HTTP paths are not run for that input).  Over HTTP the
server's own limit applies (``--cpu-limit``, 5 s of CPU time): a document cut off by it is a
clear 422 ``processing_time_exceeded``, not a finding.

Prints counts per path and outcome, the slowest inputs, the peak RSS growth, and each finding
with its mutation and the last frames of its traceback; with ``--save`` each finding's input
is written there as ``<sha256 prefix>.pdf`` for the regression corpus (tests/fuzz/corpus).
The summary also goes to ``bench/results-fuzz.md``.
Case ``i`` of a run with ``--seed s`` is ``random.Random(s * 1_000_003 + i)``: reproducible.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import logging
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "fuzz"), str(ROOT / "tests"), str(ROOT), str(ROOT / "bench")]

import harness  # noqa: E402
import hostile  # noqa: E402
from facts import header, write_results  # noqa: E402

from pdfs import cjk_contract, extract_cjk_face, simple_pdf  # noqa: E402


class _Hang(BaseException):
    """Raised by SIGALRM; a BaseException so that ``except Exception`` in the server misses it."""


def _alarm(signum: int, frame: object) -> None:
    raise _Hang


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--crafted", action="store_true", help="run the hand-crafted files first")
    ap.add_argument("--no-http", action="store_true", help="in-process paths only (faster)")
    ap.add_argument("--slow", type=float, default=harness.SLOW_SECONDS)
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument(
        "--cpu-limit",
        type=float,
        default=5.0,
        help="the server's ESEAL_DOCUMENT_CPU_SECONDS for the HTTP paths",
    )
    ap.add_argument("--memory-gb", type=float, default=8.0, help="address-space cap (RLIMIT_AS)")
    ap.add_argument("--save", type=Path, help="write each finding's input here")
    args = ap.parse_args()

    cap = int(args.memory_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    logging.disable(logging.WARNING)
    signal.signal(signal.SIGALRM, _alarm)
    deadline = time.monotonic() + args.minutes * 60
    counts: collections.Counter[str] = collections.Counter()
    findings: list[tuple[str, str, harness.Outcome, bytes]] = []
    timings: list[tuple[float, str, str]] = []
    cases = 0
    start_rss = 0.0

    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.env(
            Path(tmp) / "data",
            initialise_dir=True,
            max_upload_mb=64,
            document_cpu_seconds=args.cpu_limit,
        ) as e,
    ):
        plain = simple_pdf(1)
        seeds = {
            "plain": plain,
            "plain3": simple_pdf(3),
            "cjk": cjk_contract(extract_cjk_face(Path(tmp)), pages=2),
        }
        seeds.update(harness.sealed_seeds(e, plain))
        start_rss = _rss_mb()
        paths = [e.verify_inproc, e.sign_inproc]
        http = [] if args.no_http else [e.verify_http, e.sign_http]

        def run(label: str, pdf: bytes) -> None:
            nonlocal cases
            cases += 1
            hung = False
            for fn in paths:
                signal.setitimer(signal.ITIMER_REAL, args.limit)
                try:
                    o = fn(pdf)
                except _Hang:
                    o = harness.Outcome(
                        fn.__name__.replace("_", "-"),
                        False,
                        args.limit,
                        f"hang: cut off after {args.limit:g} s",
                    )
                    hung = True
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                _record(label, pdf, o)
            if hung:
                return
            for fn in http:
                _record(label, pdf, fn(pdf))

        def _record(label: str, pdf: bytes, o: harness.Outcome) -> None:
            kind = o.detail.split(":")[0] if not o.ok else o.detail.split(" ")[0]
            counts[f"{o.path} {'ok' if o.ok else 'FAIL'} {kind}"] += 1
            timings.append((o.seconds, o.path, label))
            if o.finding():
                findings.append((label, o.path, o, pdf))
                print(
                    f"FINDING {label} [{len(pdf)} B] {o.path}: {o.detail} ({o.seconds:.1f} s)",
                    flush=True,
                )

        if args.crafted:
            for name, make in hostile.CRAFTED.items():
                if time.monotonic() > deadline:
                    break
                pdf = make()
                before = _rss_mb()
                run(f"crafted:{name}", pdf)
                grew = _rss_mb() - before
                if grew > 50:
                    print(f"crafted:{name}: peak RSS grew by {grew:.0f} MB", flush=True)
        names = sorted(seeds)
        i = 0
        while time.monotonic() < deadline:
            rnd = random.Random(args.seed * 1_000_003 + i)
            seed = rnd.choice(names)
            pdf, muts = hostile.mutate(seeds[seed], rnd)
            run(f"seed={args.seed} case={i} {seed}+{'+'.join(muts)}", pdf)
            i += 1
            if i % 50 == 0:
                print(f"... {cases} inputs, {len(findings)} findings", flush=True)

    report: list[str] = []

    def say(text: str) -> None:
        print(text)
        report.append(text)

    say(
        f"\n{cases} inputs in {args.minutes:g} min (seed {args.seed}); "
        f"peak RSS {_rss_mb():.0f} MB ({_rss_mb() - start_rss:+.0f} MB after set-up)"
    )
    say("\npath / outcome counts:")
    for key, n in sorted(counts.items()):
        say(f"  {n:6d}  {key}")
    say("\nslowest:")
    for seconds, path, label in sorted(timings, reverse=True)[:10]:
        say(f"  {seconds:7.2f} s  {path:14} {label}")
    say(f"\n{len(findings)} findings:")
    seen: set[str] = set()
    for label, path, o, pdf in findings:
        where = [ln.strip() for ln in o.trace.splitlines() if ln.strip().startswith("File")]
        ours = [w for w in where if "/site-packages/" not in w][-1:] + where[-1:]
        sig = f"{path} {o.detail.split(':')[0]} {ours}"
        first = sig not in seen
        seen.add(sig)
        say(
            f"  {path:14} {o.detail[:160]}  ({o.seconds:.1f} s)  {label}"
            + ("" if first else "  [same as above]")
        )
        if first:
            for w in ours:
                say(f"      {w.replace(str(ROOT) + '/', '')}")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{hashlib.sha256(pdf).hexdigest()[:16]}.pdf").write_bytes(pdf)
    command = "python bench/fuzz.py " + " ".join(sys.argv[1:])
    crafted = "hand-crafted files first, then " if args.crafted else ""
    over_http = (
        ""
        if args.no_http
        else (f", POST /v1/sign and /v1/verify (server CPU limit {args.cpu_limit:g} s)")
    )
    text = "\n".join(
        [
            *header("Fuzzing sign and verify with hostile PDFs", command.strip())[:-1],
            f"- {cases} inputs, seed {args.seed}, {crafted}mutations; paths: in-process sign and "
            f"verify{over_http}; a finding: an exception not eseal's, a 5xx, a refusal without a "
            f"problem code, or a path slower than {args.slow:g} s",
            "",
            "```",
            *"\n".join(report).strip("\n").split("\n"),
            "```",
        ]
    )
    write_results("results-fuzz.md", text)
    return 1 if findings else 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
