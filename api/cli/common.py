"""What the command groups share: the command signature, the container, help texts, and the
readers of files named on the command line.

Like every module of the package it imports only the standard library and small modules at the
top; the container (and with it pyHanko, SQLAlchemy and the settings) is built inside a command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from keystore.errors import EsealError
from seals.errors import InvalidLicense

from ..errors import InvalidRequest

if TYPE_CHECKING:
    from ..container import Container
    from ..settings import Settings

    #: what each group's ``register`` adds its commands to (typeshed names it privately)
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "USCC_HELP",
    "Command",
    "container",
    "lazy",
    "read_bytes",
    "read_json",
    "unreadable",
]

#: a command: the parsed arguments and the settings in, the exit code out
Command: TypeAlias = Callable[[argparse.Namespace, "Settings"], int]

USCC_HELP = "统一社会信用代码 (18 characters), e.g. 91110108551385082Q"


def container(settings: Settings) -> Container:
    """The wired services, built when a command needs them (never for ``--help``)."""
    from ..container import build

    return build(settings)


def lazy(module: str, name: str) -> Command:
    """A command whose module is imported only when the command runs (cheap start-up)."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        import importlib

        rc: int = getattr(importlib.import_module(module), name)(args, settings)
        return rc

    return run


def unreadable(path: str, why: str) -> EsealError:
    """A file named on the command line cannot be read: the caller's mistake (422)."""
    return InvalidRequest(f"cannot read {path}: {why}", code="file_unreadable")


def read_bytes(path: str) -> bytes:
    """A document named on the command line, or stdin for ``-``."""
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise unreadable(path, exc.strerror or "unreadable") from None


def read_json(path: str) -> object:
    """A JSON file named on the command line (a license, an access form), or stdin for ``-``.

    Its errors are :class:`InvalidLicense`, as they were when a license was the only JSON
    file the command read.
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidLicense(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidLicense(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
