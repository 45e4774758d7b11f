"""CPU time of the ``eseal`` command's start-up, against a bare Python start in the same run.

    .venv/bin/python bench/cli_startup.py [--runs N]

Runs ``eseal --help``, ``eseal --version`` and ``python -c pass`` N times each (interleaved),
takes the CPU time (user + system) of each child process, and prints and writes
``bench/results-cli.md`` with the median per command.  The target is ``eseal --help`` under
0.7 s of CPU.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ESEAL = str(Path(sys.executable).parent / "eseal")
TARGET_S = 0.7
#: measured once, the same way, before the CLI's imports were made lazy
BEFORE = (
    "Before the lazy imports (commit d5939a1, `python -m api.cli --help`, median of 5 runs "
    "on the same machine, baseline 0.027 s): 1.698 s, as `--help` loaded pyHanko, "
    "SQLAlchemy and the settings."
)


def cpu_seconds(cmd: list[str]) -> float:
    """User plus system CPU time of one run of ``cmd`` (and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args()
    commands = {
        "`python -c pass` (baseline)": [sys.executable, "-c", "pass"],
        "`eseal --help`": [ESEAL, "--help"],
        "`eseal --version`": [ESEAL, "--version"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(cpu_seconds(cmd))
    base = statistics.median(times["`python -c pass` (baseline)"])
    rows = []
    for name, values in times.items():
        med = statistics.median(values)
        rows.append(
            f"| {name} | {med:.3f} s | {min(values):.3f} s | {max(values):.3f} s | "
            f"{med - base:+.3f} s |"
        )
    helps = statistics.median(times["`eseal --help`"])
    verdict = "met" if helps < TARGET_S else "**missed**"
    text = "\n".join(
        [
            "# eseal CLI start-up (CPU time, user + system)",
            "",
            f"{date.today().isoformat()}, Python {platform.python_version()}, {args.runs} runs "
            "each, interleaved; `python bench/cli_startup.py`.",
            "",
            "| command | median | min | max | over the baseline |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Target: `eseal --help` under {TARGET_S} s of CPU: {verdict} ({helps:.3f} s).",
            "",
            BEFORE,
            "",
        ]
    )
    sys.stdout.write(text)
    (HERE / "results-cli.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
