"""Every benchmark in one command: the tables one after another, and in bench/results-all.md.

    python bench/all.py [--quick] [--note "measured while ..."]

Runs, each in its own process so that none inherits another's memory or patches:
``http_load.py --s3`` (sealing over HTTP at concurrency 1/4/16 on the local and the S3 archive,
verification, beside pyHanko's CLI one and two processes at a time), ``sign_verify.py``
(in-process, beside stock pyHanko in a process of its own), ``big_document.py`` (the 100 MB,
2,000-page document), ``archive_export.py`` (1 GiB export), ``profile_server.py`` (where a
sealing request's time goes) and ``fuzz.py --minutes 1.5 --crafted``.  Each script writes its
own ``bench/results-*.md``; this one puts their like-for-like tables first in
``bench/results-all.md``, then every script's output.  ``--note`` is written into every results
file (say under which conditions the run was made: a shared, busy machine...).  ``--quick``
passes ``--quick`` where a script has it and makes the rest smaller (a smoke run of a few
minutes; its figures are not the ones to quote).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results-all.md"
sys.path.insert(0, str(ROOT / "bench"))

from facts import NOTE_VARIABLE  # noqa: E402


def runs(quick: bool) -> list[list[str]]:
    if quick:
        return [
            ["http_load.py", "--quick", "--s3"],
            ["sign_verify.py", "--quick"],
            ["big_document.py", "--pages", "200", "--mb", "10"],
            ["archive_export.py", "--total-mb", "100"],
            ["profile_server.py", "--seconds", "5"],
            ["fuzz.py", "--minutes", "0.3"],
        ]
    return [
        ["http_load.py", "--s3"],
        ["sign_verify.py"],
        ["big_document.py"],
        ["archive_export.py"],
        ["profile_server.py"],
        ["fuzz.py", "--minutes", "1.5", "--crafted"],
    ]


def like_for_like(output: str) -> str:
    """The ``## Like for like`` section of a script's output, or nothing."""
    start = output.find("## Like for like")
    if start < 0:
        return ""
    end = output.find("\n## ", start + 1)
    return output[start : end if end > 0 else len(output)].strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--note", default="", help="conditions of the run, for every results file")
    args = parser.parse_args()
    env = {**os.environ, NOTE_VARIABLE: args.note} if args.note else dict(os.environ)
    head = [
        f"# eseal benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
        f"{' (quick run)' if args.quick else ''}",
        "",
    ]
    if args.note:
        head += [f"Conditions: {args.note}", ""]
    summaries: list[str] = []
    sections: list[str] = []
    status = 0
    for script, *rest in runs(args.quick):
        command = [sys.executable, str(ROOT / "bench" / script), *rest]
        print(f"== {script} {' '.join(rest)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
        took = time.perf_counter() - started
        print(done.stdout, flush=True)
        if done.returncode != 0:
            status = 1
            print(done.stderr[-3000:], file=sys.stderr, flush=True)
        name = " ".join([f"bench/{script}", *rest])
        summary = like_for_like(done.stdout)
        if summary:
            summaries.append(f"### From `{name}`\n\n{summary.split(chr(10), 1)[1].strip()}\n")
        sections.append(
            f"## `{name}` ({took:.0f} s, exit {done.returncode})\n\n{done.stdout.strip()}\n"
        )
    text = "\n".join([*head, "## Like for like", "", *summaries, *sections])
    RESULTS.write_text(text, encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
