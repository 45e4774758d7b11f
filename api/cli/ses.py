"""``eseal ses sign|verify``: GB/T 38540 signature data on its own, on the paths of
``POST /v1/ses/sign`` and ``POST /v1/ses/verify``."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from keystore.errors import EsealError
from seals.vocab import SealKind, values

from ..errors import InvalidRequest
from .common import USCC_HELP, container, read_bytes
from .documents import print_verdict
from .output import (
    EXIT_OK,
    VERIFY_NOT_VALID,
    VERIFY_UNPROCESSABLE,
    VERIFY_VALID,
    print_json,
    print_problem,
)

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["cmd_ses_sign", "cmd_ses_verify", "register"]


def _hash(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        value = b""
    if len(value) != 32:
        raise InvalidRequest(
            "--hash must be an SM3 hash: 64 hexadecimal digits", code="invalid_hash"
        )
    return value


def cmd_ses_sign(args: argparse.Namespace, settings: Settings) -> int:
    from keystore import sm2
    from seals.uscc import validate_uscc

    from ..auth import Principal, Role
    from ..models import SignOptions

    if (args.input is None) == (args.hash is None):
        raise InvalidRequest("give the data file or --hash, one of the two", code="invalid_upload")
    data = read_bytes(args.input) if args.input is not None else None
    digest = sm2.sm3(data) if data is not None else _hash(args.hash)
    assert digest is not None
    property_info = args.property_info or (Path(args.input).name if args.input else "")
    if not property_info.isascii() or len(property_info) > 500:
        raise InvalidRequest(
            "--property-info is an IA5String (ASCII) of at most 500 characters",
            code="invalid_property_info",
        )
    options = SignOptions.model_validate(
        {"level": args.level, "reference": args.reference, "seals": [{"kind": args.seal}]}
    )
    c = container(settings)
    done = c.sign_flow.sign_ses(
        Principal("cli", Role.ENTERPRISE, validate_uscc(args.uscc), "cli"),
        kind=args.seal,
        data_hash=digest,
        property_info=property_info,
        options=options,
        idempotency_key=None,
        input_sha=hashlib.sha256(data).hexdigest() if data is not None else None,
        filename=Path(args.input).name if args.input else None,
    )
    with Path(args.output).open("wb") as out:
        for chunk in done.chunks():
            out.write(chunk)
    print_json(
        {
            "output": args.output,
            "sha256": done.sha256,
            "size": done.size,
            "data_sm3": digest.hex(),
            "property_info": property_info,
            "archive_id": done.archive_id,
        }
    )
    return EXIT_OK


def cmd_ses_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 valid, 1 not valid, 2 could not process (as ``eseal verify``)."""
    import asyncio

    from seals.verdict import expected_uscc

    try:
        expect = expected_uscc(args.expect_uscc)
        der = read_bytes(args.signature)
        data = read_bytes(args.data) if args.data else None
        given = _hash(args.hash)
        if data is not None and given is not None:
            raise InvalidRequest("give --data or --hash, not both", code="invalid_upload")
        c = container(settings)
        report = asyncio.run(
            c.national.report_ses(der, data=data, data_hash=given, expect_uscc=expect)
        )
    except EsealError as exc:
        print_problem(exc)
        return VERIFY_UNPROCESSABLE
    if args.json:
        print_json(report.to_json())
    else:
        print_verdict(report.to_json())
    return VERIFY_VALID if report.valid else VERIFY_NOT_VALID


def register(sub: Subparsers) -> None:
    group = sub.add_parser(
        "ses",
        help="GB/T 38540 signature data (SES_Signature): sign a file or hash, verify",
    ).add_subparsers(dest="ses_command", required=True, metavar="SUBCOMMAND")
    s = group.add_parser(
        "sign",
        help="make an SES_Signature with a seal's SM2 key (archived and audited)",
    )
    s.add_argument("input", nargs="?", help="the data file (or give --hash)")
    s.add_argument("--hash", metavar="SM3HEX", help="the data's SM3 hash instead of the file")
    s.add_argument("-o", "--output", required=True, metavar="OUT.ses", help="the signature (DER)")
    s.add_argument("--uscc", required=True, help="the signing enterprise's " + USCC_HELP)
    s.add_argument("--seal", default="contract", choices=values(SealKind), help="seal kind")
    s.add_argument(
        "--property-info",
        help="what the signature says it signs (ASCII; default the file's name)",
    )
    s.add_argument(
        "--level",
        default="B-T",
        choices=("B-B", "B-T"),
        help="B-T (default): with the SM2 TSA's timestamp over the signature; B-B: without",
    )
    s.add_argument("--reference", help="your own reference, kept with the archive record")
    s.set_defaults(func=cmd_ses_sign)

    v = group.add_parser("verify", help="verify an SES_Signature (exit 0 valid, 1 not, 2 error)")
    v.add_argument("signature", help="the SES_Signature file (DER)")
    v.add_argument("--data", help="the signed data, to check the data hash")
    v.add_argument("--hash", metavar="SM3HEX", help="the signed data's SM3 hash instead")
    v.add_argument("--expect-uscc", metavar="USCC", help="valid only if this enterprise signed")
    v.add_argument("--json", action="store_true", help="print the full report as JSON")
    v.set_defaults(func=cmd_ses_verify)
