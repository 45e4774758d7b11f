"""Bouncy Castle as an independent SM2 verifier: ``SmCheck.java`` compiled once per session.

Needs a JDK (``javac``, ``java``) and Bouncy Castle's provider jar (Debian ``libbcprov-java``,
``/usr/share/java/bcprov.jar``; ``BCPROV_JAR`` overrides).  ``scripts/dev.sh test`` installs
both; in CI a missing one fails the tests instead of skipping them (``helpers.unavailable``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import require_tool, unavailable

SOURCE = Path(__file__).with_name("SmCheck.java")
BCPROV = Path(os.environ.get("BCPROV_JAR", "/usr/share/java/bcprov.jar"))

#: runs ``SmCheck <args>``; returns the finished process (exit 0: the check holds)
SmCheck = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def bouncy_castle(tmp_path_factory: pytest.TempPathFactory) -> SmCheck:
    require_tool("javac", "java")
    if not BCPROV.is_file():
        unavailable(f"Bouncy Castle provider jar {BCPROV} not found (Debian: libbcprov-java)")
    classes = tmp_path_factory.mktemp("smcheck")
    subprocess.run(["javac", "-cp", str(BCPROV), "-d", str(classes), str(SOURCE)],
                   check=True, capture_output=True, text=True)
    classpath = f"{classes}{os.pathsep}{BCPROV}"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["java", "-cp", classpath, "SmCheck", *map(str, args)],
                              capture_output=True, text=True, check=False)

    return run
