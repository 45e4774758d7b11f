"""``eseal enterprise register|show|status``: licenses and their five seals."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from seals.vocab import LicenseStatus, values

from .common import USCC_HELP, container, read_json
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["LICENSE_STATUSES", "cmd_register", "cmd_show", "cmd_status", "register"]

#: the words ``eseal enterprise status`` takes
LICENSE_STATUSES = values(LicenseStatus)


def cmd_register(args: argparse.Namespace, settings: Settings) -> int:
    from seals.license import parse_license

    license = parse_license(read_json(args.license))
    c = container(settings)
    enterprise, seals = c.seals.register(license)
    print_json({"license": enterprise.to_json(), "seals": [s.to_json() for s in seals]})
    return EXIT_OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    c = container(settings)
    enterprise = c.seals.enterprise(args.uscc)
    print_json(
        {"license": enterprise.to_json(), "seals": [s.to_json() for s in c.seals.seals(args.uscc)]}
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Change a license's status; cancelling or revoking it revokes its seals."""
    c = container(settings)
    enterprise = c.seals.change_status(args.uscc, LicenseStatus(args.status), args.reason)
    print_json(
        {"license": enterprise.to_json(), "seals": [s.to_json() for s in c.seals.seals(args.uscc)]}
    )
    return EXIT_OK


def register(sub: Subparsers) -> None:
    ent = sub.add_parser("enterprise", help="licenses and their seals").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    s = ent.add_parser("register", help="register LICENSE.json and issue its five seals")
    s.add_argument("license", help="license JSON file (see examples/license.json), or - for stdin")
    s.set_defaults(func=cmd_register)
    s = ent.add_parser("show", help="license face, status history and seals")
    s.add_argument("uscc", help=USCC_HELP)
    s.set_defaults(func=cmd_show)
    s = ent.add_parser("status", help="change the license status")
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument(
        "status",
        choices=LICENSE_STATUSES,
        help="new status; cancelled and revoked are final and revoke the seals",
    )
    s.add_argument("--reason", help="free text, kept in the status history")
    s.set_defaults(func=cmd_status)
    from . import license

    license.register(ent)
