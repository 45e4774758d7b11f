"""Bouncy Castle as an independent SM2 verifier: ``SmCheck.java``, compiled on demand.

Needs a JDK (``javac``, ``java``) and Bouncy Castle's provider, PKIX/CMS and utility jars
(Debian ``libbcprov-java``, ``libbcpkix-java``, ``libbcutil-java``: ``/usr/share/java/bcprov.jar``,
``bcpkix.jar``, ``bcutil.jar``; ``BCPROV_JAR``, ``BCPKIX_JAR``, ``BCUTIL_JAR`` override).  In CI a
missing one fails the tests instead of skipping them (``helpers.unavailable``).

A plain module (not only a conftest) so tests outside ``tests/interop`` use it too
(``from interop.smcheck import compile_smcheck``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from helpers import require_tool, unavailable

SOURCE = Path(__file__).with_name("SmCheck.java")
BCPROV = Path(os.environ.get("BCPROV_JAR", "/usr/share/java/bcprov.jar"))
BCPKIX = Path(os.environ.get("BCPKIX_JAR", "/usr/share/java/bcpkix.jar"))
BCUTIL = Path(os.environ.get("BCUTIL_JAR", "/usr/share/java/bcutil.jar"))

#: runs ``SmCheck <args>``; returns the finished process (exit 0: the check holds)
SmCheck = Callable[..., subprocess.CompletedProcess[str]]


def compile_smcheck(classes: Path) -> SmCheck:
    """Compile ``SmCheck.java`` into ``classes``; return a runner for it."""
    require_tool("javac", "java")
    for jar, package in (
        (BCPROV, "libbcprov-java"),
        (BCPKIX, "libbcpkix-java"),
        (BCUTIL, "libbcutil-java"),
    ):
        if not jar.is_file():
            unavailable(f"Bouncy Castle jar {jar} not found (Debian: {package})")
    jars = os.pathsep.join(map(str, (BCPROV, BCPKIX, BCUTIL)))
    subprocess.run(
        ["javac", "-cp", jars, "-d", str(classes), str(SOURCE)],
        check=True,
        capture_output=True,
        text=True,
    )
    classpath = f"{classes}{os.pathsep}{jars}"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["java", "-cp", classpath, "SmCheck", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
        )

    return run
