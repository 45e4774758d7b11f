"""``eseal sign|verify|extend``: document work, on the same paths as the HTTP API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keystore.base import KeyAlgorithm
from keystore.errors import EsealError
from seals.vocab import EXTENSION_LEVELS, DocumentType, PadesLevel, SealKind, values

from ..errors import InvalidRequest
from .common import USCC_HELP, container, read_bytes, unreadable
from .output import (
    EXIT_OK,
    EXIT_USAGE,
    VERIFY_NOT_VALID,
    VERIFY_UNPROCESSABLE,
    VERIFY_VALID,
    print_json,
    print_problem,
)

if TYPE_CHECKING:
    from ..models import SignOptions
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["cmd_extend", "cmd_sign", "cmd_verify", "register", "sign_options"]

#: the ``sign`` flags named as the options they set (they override the --options file)
_SIGN_FLAGS = (
    "cross_page",
    "level",
    "algorithm",
    "document_type",
    "reason",
    "location",
    "certify",
    "allow_invoice_seal_on_contract",
    "reference",
)


def sign_options(args: argparse.Namespace) -> SignOptions:
    """The :class:`SignOptions` of ``eseal sign``: the ``--options`` file (the HTTP ``options``
    object), then every flag given on the command line on top of it.

    A flag replaces that option of the file; ``--seal`` or a placement flag
    (``--page``/``--x``/``--y``/``--keyword``) replaces the file's ``seals`` with the seals the
    flags describe (``--seal`` kinds, else the document type's default seal).
    """
    from pydantic import ValidationError

    from ..flows import options_json
    from ..models import SignOptions

    data: dict[str, Any] = {}
    if args.options is not None:
        if args.options == "-" and args.input == "-":
            raise InvalidRequest(
                "the PDF and the options cannot both come from stdin", code="invalid_options"
            )
        try:
            raw = (
                sys.stdin.read()
                if args.options == "-"
                else Path(args.options).read_text(encoding="utf-8")
            )
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise unreadable(args.options, why or "unreadable") from None
        data = options_json(raw)
    for flag in _SIGN_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            data[flag] = value
    placement: dict[str, Any] = {}
    if args.keyword:
        placement = {"keyword": args.keyword, "page": args.page}
    elif args.x is not None or args.y is not None or args.page is not None:
        placement = {"page": args.page, "x": args.x, "y": args.y}
    if args.seal or placement:
        from signer.service import default_kind

        document_type = data.get("document_type", DocumentType.OTHER.value)
        try:
            kinds = args.seal or [default_kind(DocumentType(document_type)).value]
        except ValueError:
            kinds = []  # an unknown document type: the model says so below
        data["seals"] = [{"kind": k, **placement} for k in kinds]
    try:
        return SignOptions.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(f"invalid options: {detail}", code="invalid_options") from None


def cmd_sign(args: argparse.Namespace, settings: Settings) -> int:
    from seals.uscc import validate_uscc

    if (args.input is None) == (args.batch is None):
        print_problem(
            InvalidRequest("give one document (IN), or --batch DIR", code="invalid_request")
        )
        return EXIT_USAGE
    if args.batch is None and (args.per_file or args.json):
        print_problem(
            InvalidRequest("--per-file and --json go with --batch", code="invalid_request")
        )
        return EXIT_USAGE
    if args.batch is not None:
        from .batch import cmd_sign_batch

        return cmd_sign_batch(args, settings)

    from ..auth import Principal, Role
    from ..flows import to_sealing_options

    options = sign_options(args)
    to_sealing_options(options)  # unknown kinds and bad placements fail before any work
    pdf = read_bytes(args.input)
    c = container(settings)
    # the same path as POST /v1/sign: archived and audited before the file is written
    done = c.sign_flow.sign(
        Principal("cli", Role.ENTERPRISE, validate_uscc(args.uscc), "cli"),
        pdf,
        options,
        None,
        Path(args.input).name,
    )
    with Path(args.output).open("wb") as out:
        for chunk in done.chunks():
            out.write(chunk)
    assert done.archive_id is not None  # the flow archives before it returns
    record = c.archive.record(done.archive_id)
    print_json(
        {
            "output": args.output,
            "sha256": done.sha256,
            "size": done.size,
            "level": options.level,
            "archive_id": done.archive_id,
            "seals": [s.to_json() for s in record.seals],
            "notices": [{"code": code, "message": message} for code, message in done.notices],
        }
    )
    return EXIT_OK


def cmd_extend(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    pdf = read_bytes(args.input)
    c = container(settings)
    out = asyncio.run(c.sealing.document_signer.extend(pdf, PadesLevel(args.level)))
    Path(args.output).write_bytes(out)
    print_json({"output": args.output, "level": args.level, "size": len(out)})
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 valid, 1 not valid, 2 could not process.

    A refusal here is "could not process" (2), not the refused (1) of other commands, so that
    1 always means a verdict of "not valid".
    """
    import asyncio

    from seals.verdict import expected_uscc
    from signer.ofd import is_ofd

    try:
        expect = expected_uscc(args.expect_uscc)  # a malformed code: exit 2, invalid_uscc
        pdf = read_bytes(args.input)
        c = container(settings)
        if is_ofd(pdf) or pdf[:4] == b"PK\x03\x04":  # a ZIP: an OFD, or invalid_ofd
            report = asyncio.run(c.national.report_ofd(pdf, expect))
        else:
            report = asyncio.run(c.verifier.report(pdf, expect))
    except EsealError as exc:
        print_problem(exc)
        return VERIFY_UNPROCESSABLE
    # the JSON of the same model /v1/verify answers with
    if args.json:
        print_json(report.to_json())
    else:
        print_verdict(report.to_json())
    return VERIFY_VALID if report.valid else VERIFY_NOT_VALID


def print_verdict(report: dict[str, Any]) -> None:
    """The report as a few lines for a person: the verdict, a line per signature with its
    problems, the document's problems, and NOTICE lines."""
    out = sys.stdout
    out.write(
        ("VALID" if report["valid"] else "NOT VALID") + f"  sha256 {report['file']['sha256']}\n"
    )
    for sig in report["signatures"]:
        ent = sig.get("enterprise") or {}
        seal = sig.get("seal") or {}
        out.write(
            f"- {sig['field']}: {'valid' if sig['valid'] else 'NOT valid'}, "
            f"integrity {sig['integrity']}, trusted {sig['trusted']}, "
            f"{seal.get('label') or sig['type']} {ent.get('name') or ''} "
            f"{ent.get('uscc') or ''} {sig.get('level') or ''}\n"
        )
        for p in sig.get("problems", []):
            out.write(f"    {p['code']}: {p['message']}\n")
    for p in report["problems"]:
        out.write(f"  {p['code']}: {p['message']}\n")
    for n in report.get("notices", []):
        out.write(f"NOTICE {n['code']} since {n.get('since') or '-'}: {n['message']}\n")


def register(sub: Subparsers) -> None:
    _register_sign(sub)
    _register_verify(sub)
    _register_extend(sub)


def _register_sign(sub: Subparsers) -> None:
    s = sub.add_parser(
        "sign",
        help="seal a PDF or an OFD document",
        description="Seal a PDF (PAdES) or an OFD document (GB/T 33190, with the seals' SM2 "
        "keys; told apart by content). --options takes the options object of POST /v1/sign (JSON: "
        "seals, cross_page, level, certify, reserve, ...); the flags are shortcuts, and a flag "
        "given replaces that option of the file (--seal or a placement flag replaces its "
        "seals). --batch DIR seals every *.pdf and *.ofd under DIR into the directory -o, "
        "with a progress bar and a summary table; run again, it skips what is done.",
    )
    s.add_argument("input", nargs="?", help="PDF or OFD file, or - for stdin")
    s.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="where to write the sealed PDF or OFD (after it is archived); with --batch, "
        "the directory of the sealed files",
    )
    s.add_argument(
        "--batch",
        metavar="DIR",
        help="seal every *.pdf and *.ofd under DIR (not hidden ones) into OUT, under the same "
        "relative paths; resumable: OUT/.eseal-batch.jsonl records what is done",
    )
    s.add_argument(
        "--per-file",
        metavar="OPTIONS.json",
        help="with --batch: a JSON object of path (relative to DIR) → options object; its "
        "keys replace those of the other options for that document",
    )
    s.add_argument(
        "--jobs",
        type=int,
        default=2,
        metavar="N",
        help="with --batch: documents sealed at once (default %(default)s)",
    )
    s.add_argument(
        "--json", action="store_true", help="with --batch: the summary as JSON on stdout"
    )
    s.add_argument("--uscc", required=True, help="the sealing enterprise's " + USCC_HELP)
    s.add_argument(
        "--options",
        metavar="OPTIONS.json",
        help="the HTTP request's options object, from a file (- for stdin)",
    )
    s.add_argument(
        "--seal",
        action="append",
        choices=values(SealKind),
        help="seal kind; repeat to apply several in order (default: by document type)",
    )
    s.add_argument("--page", type=int, help="page, from 1; -1 is the last")
    s.add_argument(
        "--x",
        type=float,
        help="centre of the seal: PDF points from the left; OFD millimetres from the left",
    )
    s.add_argument(
        "--y",
        type=float,
        help="centre of the seal: PDF points from the bottom; OFD millimetres from the top",
    )
    s.add_argument("--keyword", help="centre the seal on this text, e.g. 甲方（盖章）")
    s.add_argument(
        "--cross-page",
        action="store_true",
        default=None,
        help="also apply the first seal across all pages (骑缝章)",
    )
    s.add_argument("--level", choices=values(PadesLevel), help="PAdES level (default B-T)")
    s.add_argument(
        "--algorithm",
        choices=values(KeyAlgorithm),
        help="the seal key that signs: sm2 (SM2/SM3) or the seal's international key type "
        "(default: the international key)",
    )
    s.add_argument(
        "--document-type",
        choices=values(DocumentType),
        help="what the document is; chooses the default seal (default other)",
    )
    s.add_argument(
        "--allow-invoice-seal-on-contract",
        action="store_true",
        default=None,
        help="allow the invoice seal on a document declared a contract",
    )
    s.add_argument("--reason", help="reason written in the signature")
    s.add_argument("--location", help="location written in the signature")
    s.add_argument("--reference", help="your own reference, kept with the archive record")
    s.add_argument(
        "--certify",
        action="store_true",
        default=None,
        help="first seal certifies the document (form filling still allowed); reserve fields "
        "for the other parties in --options",
    )
    s.set_defaults(func=cmd_sign)


def _register_verify(sub: Subparsers) -> None:
    s = sub.add_parser(
        "verify",
        help="verify a signed PDF or OFD document (exit 0 valid, 1 not, 2 error)",
        description="Verify every signature of a PDF or an OFD document. Prints a verdict summary "
        "(one line per signature, its problems, NOTICE lines); --json prints "
        "the full report. Exit 0 valid, 1 not valid, 2 could not process.",
    )
    s.add_argument("input", help="PDF file, or - for stdin")
    s.add_argument(
        "--expect-uscc",
        metavar="USCC",
        help="valid only if a seal of this enterprise is in the document",
    )
    s.add_argument("--json", action="store_true", help="print the full report as JSON")
    s.set_defaults(func=cmd_verify)


def _register_extend(sub: Subparsers) -> None:
    s = sub.add_parser("extend", help="add B-LT or B-LTA to a signed PDF")
    s.add_argument("input", help="signed PDF file, or - for stdin")
    s.add_argument(
        "-o", "--output", required=True, metavar="OUT.pdf", help="where to write the extended PDF"
    )
    s.add_argument(
        "--level",
        default=PadesLevel.B_LTA.value,
        choices=[level.value for level in EXTENSION_LEVELS],
        help="B-LT: validation data; B-LTA: plus a document timestamp (default %(default)s)",
    )
    s.set_defaults(func=cmd_extend)
