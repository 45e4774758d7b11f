"""Bouncy Castle's checks of RFC 3161 tokens and OCSP answers: ``TspCheck.java``, compiled on
demand (the same program ``test_sm2_tsp.py`` compiles; a plain module so other tests use it).

Needs a JDK and Bouncy Castle's provider, PKIX and utility jars (Debian ``libbcprov-java``,
``libbcpkix-java``, ``libbcutil-java``; ``BCPROV_JAR``, ``BCPKIX_JAR``, ``BCUTIL_JAR`` override).
A missing one skips the tests, and fails them in CI (``helpers.unavailable``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from helpers import require_tool, unavailable

SOURCE = Path(__file__).with_name("TspCheck.java")
JARS = [
    Path(os.environ.get(variable, f"/usr/share/java/{name}.jar"))
    for variable, name in (
        ("BCPROV_JAR", "bcprov"),
        ("BCPKIX_JAR", "bcpkix"),
        ("BCUTIL_JAR", "bcutil"),
    )
]

#: runs ``TspCheck <args>``; returns the finished process (exit 0: the check holds)
TspCheck = Callable[..., subprocess.CompletedProcess[str]]


def compile_tspcheck(classes: Path) -> TspCheck:
    """Compile ``TspCheck.java`` into ``classes``; return a runner for it."""
    require_tool("javac", "java")
    for jar in JARS:
        if not jar.is_file():
            unavailable(
                f"Bouncy Castle jar {jar} not found (Debian: libbcprov-java, "
                "libbcpkix-java, libbcutil-java)"
            )
    jars = os.pathsep.join(map(str, JARS))
    subprocess.run(
        ["javac", "-cp", jars, "-d", str(classes), str(SOURCE)],
        check=True,
        capture_output=True,
        text=True,
    )

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["java", "-cp", f"{classes}{os.pathsep}{jars}", "TspCheck", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
        )

    return run
