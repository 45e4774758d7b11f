"""``eseal archive check|export|renew``: the archive of sealed documents.

The bodies of check and export live in :mod:`storage.archive.commands`; renew's in
:mod:`api.renewal` (imported only when it runs: it loads pyHanko and SQLAlchemy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from seals.vocab import DocumentType, SealKind, values

from ..errors import InvalidRequest
from .common import container, lazy
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["cmd_archive_check", "cmd_archive_export", "register"]


def cmd_archive_check(args: argparse.Namespace, settings: Settings) -> int:
    from storage.archive.commands import check_command

    c = container(settings)
    return check_command(c.archive, sys.stdout, repair=args.repair, sample=args.sample)


def cmd_archive_export(args: argparse.Namespace, settings: Settings) -> int:
    """A ZIP of an enterprise's documents (as sealer or party), audited as ``archive.export``
    by the one export flow (:mod:`storage.exports`, also behind ``POST /v1/archives/export``)."""
    from datetime import date

    from seals.uscc import validate_uscc
    from storage.exports import export_query

    validate_uscc(args.uscc)
    c = container(settings)
    try:
        first = date.fromisoformat(args.date_from) if args.date_from else None
        last = date.fromisoformat(args.date_to) if args.date_to else None
    except ValueError as exc:
        raise InvalidRequest(f"dates are YYYY-MM-DD: {exc}", code="invalid_date") from None
    query = export_query(
        uscc=args.uscc,
        first=first,
        last=last,
        kind=args.kind,
        document_type=args.type,
        reference=args.reference,
    )
    output = Path(args.output)
    summary = c.exports.to_file(output, query, actor="cli", reports=not args.no_reports)
    print_json({"output": str(output), **summary.to_json()})
    return EXIT_OK


def register(sub: Subparsers) -> None:
    arc = sub.add_parser("archive", help="the archive of sealed documents").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    s = arc.add_parser("check", help="objects without rows, rows without objects, SHA-256")
    s.add_argument("--repair", action="store_true", help="fix what the check finds")
    s.add_argument(
        "--sample", type=int, metavar="N", help="check the SHA-256 of N random objects only"
    )
    s.set_defaults(func=cmd_archive_check)
    s = arc.add_parser("export", help="a ZIP of the files, manifest.json and reports")
    s.add_argument(
        "--uscc",
        required=True,
        help="the enterprise whose documents (as sealer or party) to export",
    )
    s.add_argument("--from", dest="date_from", help="first day, YYYY-MM-DD (China time)")
    s.add_argument("--to", dest="date_to", help="last day, YYYY-MM-DD (China time)")
    s.add_argument("--kind", choices=values(SealKind), help="only documents with this seal kind")
    s.add_argument("--type", choices=values(DocumentType), help="only documents of this type")
    s.add_argument("--reference", help="only documents with this reference")
    s.add_argument(
        "--no-reports", action="store_true", help="leave out the verification reports (faster)"
    )
    s.add_argument(
        "-o", "--output", required=True, metavar="OUT.zip", help="where to write the ZIP"
    )
    s.set_defaults(func=cmd_archive_export)
    # declared here so that `eseal --help` does not import api/renewal.py
    # (it loads pyHanko and SQLAlchemy) until the command runs
    s = arc.add_parser(
        "renew",
        help="new document timestamps for B-LTA files whose last one expires",
        description="Renew every archived B-LTA document whose last timestamp's certificate "
        "expires before DATE (China time): each gets a new document timestamp, written as a "
        "new version of its archive record and audited (archive.renew).",
    )
    s.add_argument("--before", required=True, metavar="DATE", help="YYYY-MM-DD")
    s.add_argument("--uscc", help="only this enterprise's documents")
    s.add_argument("--dry-run", action="store_true", help="list what is due, renew nothing")
    s.set_defaults(func=lazy("api.renewal", "cmd_archive_renew"))
