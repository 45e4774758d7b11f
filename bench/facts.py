"""The facts every results file starts with: date, machine, versions, how busy the machine was.

Imports nothing of eseal, so that a baseline process may use it too.  ``ESEAL_BENCH_NOTE``
(set by ``bench/all.py --note``) adds a line saying under which conditions the run was made.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTE_VARIABLE = "ESEAL_BENCH_NOTE"
#: the 1-minute load average when this module was first imported (the run's start)
LOAD_AT_START = os.getloadavg()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts() -> list[str]:
    """One line per fact, without the leading ``- ``."""
    end = os.getloadavg()
    facts = [
        f"date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine: {os.cpu_count()} CPUs (nproc; {_cpu_model()}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}",
        f"pyHanko {_version('pyHanko')}, pyhanko-cli {_version('pyhanko-cli')}, "
        f"pyhanko-certvalidator {_version('pyhanko-certvalidator')}, "
        f"cryptography {_version('cryptography')}",
        f"load average (1 min) at the start {LOAD_AT_START[0]:.2f}, at the end {end[0]:.2f} "
        f"(5/15 min at the end: {end[1]:.2f}/{end[2]:.2f}); above {os.cpu_count()} means "
        "other work shared the CPUs: absolute figures are noisy, ratios within the run less so",
    ]
    note = os.environ.get(NOTE_VARIABLE, "").strip()
    if note:
        facts.append(f"conditions: {note}")
    return facts


def header(title: str, command: str) -> list[str]:
    """The first lines of a results file: a title, the facts and the command that wrote it."""
    return [
        f"# {title}",
        "",
        *(f"- {fact}" for fact in machine_facts()),
        f"- command: `{command}`",
        "",
    ]


def write_results(name: str, text: str) -> Path:
    """Write ``bench/<name>`` and return its path."""
    path = ROOT / "bench" / name
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path
