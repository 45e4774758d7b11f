"""``main``: parse the command line, read the settings, run the command, map errors to exit
codes (see :mod:`api.cli.output`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from keystore.errors import EsealError

from .output import EXIT_REFUSED, EXIT_USAGE, print_problem, print_settings_problem
from .parser import build_parser
from .server import cmd_serve

__all__ = ["main"]


class _OneLine(logging.Formatter):
    """A library's log record as one line: no stack trace, no continuation lines."""

    def format(self, record: logging.LogRecord) -> str:
        first = (record.getMessage().splitlines() or [""])[0]
        return f"eseal: {record.name}: {first}"


def _quiet_libraries() -> None:
    """Log warnings as one line each on stderr, without tracebacks.

    pyHanko and its certificate validator log every failed path validation with a stack trace
    at WARNING; for a document that is merely invalid the report already says why, so their
    loggers are silenced (``ESEAL_LOG_LEVEL=DEBUG`` shows them, still one line each).
    """
    import os

    debug = os.environ.get("ESEAL_LOG_LEVEL", "").upper() == "DEBUG"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is not cmd_serve:  # the server configures its own JSON logs
        _quiet_libraries()
    # serve --mode front --upstream URL: the same as ESEAL_MODE and ESEAL_UPSTREAM_URL, which
    # the server's processes (uvicorn's factory, balanced workers) read from the environment
    if getattr(args, "mode", None):
        os.environ["ESEAL_MODE"] = args.mode
    if getattr(args, "upstream", None):
        os.environ["ESEAL_UPSTREAM_URL"] = args.upstream
    try:
        from ..settings import Settings

        settings = Settings()
    except Exception as exc:  # pydantic ValidationError: a setting is malformed
        print_settings_problem(exc)
        return EXIT_USAGE
    try:
        rc: int = args.func(args, settings)
        return rc
    except EsealError as exc:
        print_problem(exc)
        return EXIT_REFUSED
