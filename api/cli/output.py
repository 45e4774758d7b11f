"""What the ``eseal`` command prints and how it exits.

JSON goes to stdout; a refusal goes to stderr as the problem object of the HTTP API
(:func:`api.problems.problem`), so a script reads the same shape from both interfaces.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from keystore.errors import EsealError

from ..problems import problem

__all__ = [
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "VERIFY_NOT_VALID",
    "VERIFY_UNPROCESSABLE",
    "VERIFY_VALID",
    "print_json",
    "print_problem",
    "print_settings_problem",
]

#: a command did its work
EXIT_OK = 0
#: a command was refused: an :class:`EsealError`, its problem object on stderr
EXIT_REFUSED = 1
#: the command line or the settings are wrong (argparse exits 2 on its own errors too)
EXIT_USAGE = 2

#: ``eseal verify`` answers with its exit code: valid, not valid, or could not process
VERIFY_VALID = 0
VERIFY_NOT_VALID = 1
VERIFY_UNPROCESSABLE = 2


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, Chinese text kept readable."""
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def print_problem(exc: EsealError) -> None:
    """The problem object of ``exc`` on stderr, as the HTTP API would answer it."""
    json.dump(problem(exc), sys.stderr, ensure_ascii=False, indent=2)
    sys.stderr.write("\n")


def print_settings_problem(exc: Exception) -> None:
    """A malformed ``ESEAL_*`` setting, on one line of stderr (only its first line: pydantic's
    message continues with the input, which may be a secret)."""
    json.dump(
        {
            "title": "Invalid settings",
            "code": "invalid_settings",
            "status": 2,
            "detail": str(exc).splitlines()[0],
        },
        sys.stderr,
        ensure_ascii=False,
    )
    sys.stderr.write("\n")
