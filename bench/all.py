"""Every benchmark in one command: the tables one after another, and in bench/results-all.md.

    python bench/all.py [--quick]

Runs, each in its own process so that none inherits another's memory: ``http_load.py --s3``
(sealing over HTTP at concurrency 1/4/16 on the local and the S3 archive, verification, beside
pyHanko's CLI and pyHanko in-process), ``sign_verify.py`` (in-process), ``big_document.py``
(the 100 MB, 2,000-page document) and ``archive_export.py`` (1 GiB export).  ``--quick`` passes
``--quick`` where a script has it and makes the big document and the export smaller (a smoke
run of a few minutes; its figures are not the ones to quote).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results-all.md"


def runs(quick: bool) -> list[list[str]]:
    if quick:
        return [["http_load.py", "--quick", "--s3"], ["sign_verify.py", "--quick"],
                ["big_document.py", "--pages", "200", "--mb", "10"],
                ["archive_export.py", "--total-mb", "100"]]
    return [["http_load.py", "--s3"], ["sign_verify.py"], ["big_document.py"],
            ["archive_export.py"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sections = [f"# eseal benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
                f"{' (quick run)' if args.quick else ''}\n"]
    status = 0
    for script, *rest in runs(args.quick):
        command = [sys.executable, str(ROOT / "bench" / script), *rest]
        print(f"== {script} {' '.join(rest)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - started
        print(done.stdout, flush=True)
        if done.returncode != 0:
            status = 1
            print(done.stderr[-3000:], file=sys.stderr, flush=True)
        name = " ".join([f"bench/{script}", *rest])
        sections.append(f"## `{name}` ({took:.0f} s, exit {done.returncode})\n\n"
                        f"{done.stdout.strip()}\n")
    RESULTS.write_text("\n".join(sections), encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
