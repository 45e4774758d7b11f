"""``eseal pki ca|crl``: the internal CA's chain and CRL, of either hierarchy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .common import container
from .output import EXIT_OK

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["HIERARCHIES", "cmd_pki_ca", "cmd_pki_crl", "register"]

#: the two CA hierarchies, as ``GET /v1/pki/ca?algorithm=`` names them (api.routes.pki
#: ALGORITHMS; that module imports FastAPI, so the CLI spells them out)
HIERARCHIES = ("ec-p256", "sm2")


def cmd_pki_ca(args: argparse.Namespace, settings: Settings) -> int:
    c = container(settings)
    sys.stdout.write(c.sm2_pki.chain_pem() if args.algorithm == "sm2" else c.pki.chain_pem())
    return EXIT_OK


def cmd_pki_crl(args: argparse.Namespace, settings: Settings) -> int:
    from ..routes.pki import sm2_revoked

    c = container(settings)
    if args.algorithm == "sm2":
        Path(args.output).write_bytes(c.sm2_pki.crl(sm2_revoked(c)))
    else:
        Path(args.output).write_bytes(c.pki.crl(c.seals.revoked_certificates()))
    return EXIT_OK


def register(sub: Subparsers) -> None:
    pki = sub.add_parser("pki", help="the internal CA").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    s = pki.add_parser("ca", help="print the CA chain (PEM): the relying parties' trust anchor")
    s.add_argument(
        "--algorithm",
        choices=HIERARCHIES,
        default="ec-p256",
        help="which hierarchy: ec-p256 (default) or sm2",
    )
    s.set_defaults(func=cmd_pki_ca)
    s = pki.add_parser("crl", help="write the current CRL of the seal CA (DER)")
    s.add_argument(
        "-o", "--output", required=True, metavar="OUT.crl", help="where to write the CRL"
    )
    s.add_argument(
        "--algorithm",
        choices=HIERARCHIES,
        default="ec-p256",
        help="which seal CA: ec-p256 (default) or sm2 (an SM2-signed CRL)",
    )
    s.set_defaults(func=cmd_pki_crl)
