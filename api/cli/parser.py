"""The ``eseal`` argument parser: the top level, and each command group's ``register``.

The groups are registered in the order ``eseal --help`` lists them (init, apikey, serve, ...);
that is why ``server`` registers its two commands separately.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import (
    apikey,
    approval,
    archive,
    documents,
    enterprise,
    keys,
    permit,
    pki,
    seal,
    server,
    ses,
    webhook,
)

__all__ = ["build_parser"]


class _Version(argparse.Action):
    """``--version``: the installed package's version, looked up only when asked for."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str = argparse.SUPPRESS,
        default: str = argparse.SUPPRESS,
        help: str | None = None,
    ) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("eseal")
        except PackageNotFoundError:  # run from a checkout without installing
            v = "unknown (not installed)"
        sys.stdout.write(f"eseal {v}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eseal",
        description="Electronic seal server: licenses and their five seals, "
        "PAdES sealing, verification, archive. Settings come from ESEAL_* environment "
        "variables (ESEAL_DATA_DIR, default ./eseal-data). JSON on stdout, problem objects on "
        "stderr; exit 0 done, 1 refused, 2 usage error.",
    )
    p.add_argument("--version", action=_Version, help="print eseal's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.register_init(sub)
    apikey.register(sub)
    server.register_serve(sub)
    enterprise.register(sub)
    seal.register(sub)
    approval.register_policy(sub)  # eseal seal policy
    documents.register(sub)  # sign, verify, extend
    approval.register(sub)
    ses.register(sub)
    archive.register(sub)
    keys.register(sub)
    pki.register(sub)
    webhook.register(sub)
    permit.register(sub)
    return p
