"""``eseal enterprise license-pdf``: the license as a PDF sealed by the registration authority."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from .common import USCC_HELP, container
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["cmd_license_pdf", "register"]


def cmd_license_pdf(args: argparse.Namespace, settings: Settings) -> int:
    from seals.uscc import validate_uscc

    uscc = validate_uscc(args.uscc)
    c = container(settings)
    try:
        pdf = asyncio.run(c.license_desk.license_pdf(uscc))
    finally:
        c.close()
    Path(args.output).write_bytes(pdf)
    print_json(
        {
            "output": args.output,
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "size": len(pdf),
            "level": "B-LTA",
            "check_url": c.license_desk.check_url(uscc),
        }
    )
    return EXIT_OK


def register(ent: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``license-pdf`` to the ``enterprise`` group."""
    s = ent.add_parser(
        "license-pdf",
        help="the license face and its permits as a PDF sealed B-LTA by the registration "
        "authority (ESEAL_REGISTRATION_AUTHORITY)",
    )
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("-o", "--output", required=True, help="where to write the PDF")
    s.set_defaults(func=cmd_license_pdf)
