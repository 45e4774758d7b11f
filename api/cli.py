"""The ``eseal`` command. JSON on stdout; errors as problem objects on stderr.

Exit codes: 0 done, 1 refused (a problem object says why), 2 usage error.

Start-up is kept cheap (``bench/cli_startup.py``): this module imports only the standard
library and the small vocabulary modules at the top; pyHanko, SQLAlchemy, FastAPI, pydantic
and the settings are imported inside the commands that use them, so ``eseal --help`` does not
load them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keystore.errors import EsealError
from seals.errors import InvalidLicense
from seals.kinds import SealKind, parse_kind

from .errors import InvalidRequest
from .problems import problem

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["main"]

#: license statuses (seals.license.LicenseStatus, which imports pydantic; a test keeps them equal)
LICENSE_STATUSES = ("active", "suspended", "cancelled", "revoked")


def _unreadable(path: str, why: str) -> EsealError:
    """A file named on the command line cannot be read: the caller's mistake (422)."""
    return InvalidRequest(f"cannot read {path}: {why}", code="file_unreadable")


def _print(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _container(settings: Settings) -> Any:
    from .container import build

    return build(settings)


# -- commands -----------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from .container import initialise

    created = initialise(settings)
    out: dict[str, Any] = {"data_dir": str(settings.data_dir), "pki_created": created}
    if created:
        c = _container(settings)
        key, token = c.api_keys.create(role="admin", uscc=None, name="initial admin", actor="cli")
        out["admin_key"] = {**key.to_json(), "token": token}
        out["note"] = "the admin token is shown only now; store it safely"
    _print(out)
    return 0


def cmd_apikey_create(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from .models import ApiKeyRequest

    form = _read_json(args.access_form) if args.access_form else None
    try:
        request = ApiKeyRequest.model_validate(
            {"role": args.role, "name": args.name, "uscc": args.uscc, "access_form": form}
        )
    except ValidationError as exc:
        msg = "; ".join(e["msg"] for e in exc.errors())
        raise InvalidRequest(f"invalid API key request: {msg}") from None
    c = _container(settings)
    if request.uscc:
        c.seals.enterprise(request.uscc)
    key, token = c.api_keys.create(
        role=request.role,
        uscc=request.uscc,
        name=request.name,
        actor="cli",
        access_form=request.access_form.model_dump(mode="json") if request.access_form else None,
    )
    _print({**key.to_json(), "token": token})
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(
        "api.app:create_production_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # the app logs every request itself, as JSON with a request id
    )
    return 0


def _read_json(path: str) -> object:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidLicense(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidLicense(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None


def cmd_register(args: argparse.Namespace, settings: Settings) -> int:
    from seals.license import parse_license

    license = parse_license(_read_json(args.license))
    c = _container(settings)
    enterprise, seals = c.seals.register(license)
    _print({"license": enterprise.to_json(), "seals": [s.to_json() for s in seals]})
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    c = _container(settings)
    enterprise = c.seals.enterprise(args.uscc)
    _print(
        {"license": enterprise.to_json(), "seals": [s.to_json() for s in c.seals.seals(args.uscc)]}
    )
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from seals.license import LicenseStatus

    c = _container(settings)
    enterprise = c.seals.change_status(args.uscc, LicenseStatus(args.status), args.reason)
    _print(
        {"license": enterprise.to_json(), "seals": [s.to_json() for s in c.seals.seals(args.uscc)]}
    )
    return 0


def cmd_seal(args: argparse.Namespace, settings: Settings) -> int:
    c = _container(settings)
    kind = parse_kind(args.kind)
    # the parser offers --reason-code to all but resume, --compromised-at to revoke and reissue
    options: dict[str, Any] = {}
    if args.reason_code is not None:
        options["code"] = args.reason_code
    if args.compromised_at is not None:
        options["compromised_at"] = args.compromised_at
    action: Callable[..., Any] = {
        "suspend": c.seals.suspend_seal,
        "resume": c.seals.resume_seal,
        "revoke": c.seals.revoke_seal,
        "reissue": c.seals.reissue_seal,
    }[args.action]
    _print(action(args.uscc, kind, args.reason, **options).to_json())
    return 0


def cmd_seal_image(args: argparse.Namespace, settings: Settings) -> int:
    c = _container(settings)
    kind = parse_kind(args.kind)
    if args.upload:
        try:
            data = Path(args.upload).read_bytes()
        except OSError as exc:
            raise _unreadable(args.upload, exc.strerror or "unreadable") from None
        _print(c.seals.replace_image(args.uscc, kind, data).to_json())
        return 0
    seal = c.seals.seal(args.uscc, kind)
    Path(args.output).write_bytes(seal.image_png)
    _print({"kind": kind.value, "image_sha256": seal.image_sha256, "output": args.output})
    return 0


def _read_pdf(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc.strerror or "unreadable") from None


#: the ``sign`` flags named as the options they set (they override the --options file)
_SIGN_FLAGS = (
    "cross_page",
    "level",
    "document_type",
    "reason",
    "location",
    "certify",
    "allow_invoice_seal_on_contract",
    "reference",
)


def sign_options(args: argparse.Namespace) -> Any:
    """The :class:`SignOptions` of ``eseal sign``: the ``--options`` file (the HTTP ``options``
    object), then every flag given on the command line on top of it.

    A flag replaces that option of the file; ``--seal`` or a placement flag
    (``--page``/``--x``/``--y``/``--keyword``) replaces the file's ``seals`` with the seals the
    flags describe (``--seal`` kinds, else the document type's default seal).
    """
    from pydantic import ValidationError

    from .flows import options_json
    from .models import SignOptions

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
            raise _unreadable(args.options, why or "unreadable") from None
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
        from signer.service import DocumentType, default_kind

        try:
            kinds = args.seal or [
                default_kind(DocumentType(data.get("document_type", "other"))).value
            ]
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

    from .auth import Principal, Role
    from .flows import to_sealing_options

    options = sign_options(args)
    to_sealing_options(options)  # unknown kinds and bad placements fail before any work
    pdf = _read_pdf(args.input)
    c = _container(settings)
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
    record = c.archive.record(done.archive_id)
    _print(
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
    return 0


def cmd_extend(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from signer.levels import PadesLevel

    pdf = _read_pdf(args.input)
    c = _container(settings)
    out = asyncio.run(c.sealing.document_signer.extend(pdf, PadesLevel(args.level)))
    Path(args.output).write_bytes(out)
    _print({"output": args.output, "level": args.level, "size": len(out)})
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 valid, 1 not valid, 2 could not process."""
    import asyncio

    from seals.verdict import expected_uscc

    try:
        expect = expected_uscc(args.expect_uscc)  # a malformed code: exit 2, invalid_uscc
        pdf = _read_pdf(args.input)
        c = _container(settings)
        report = asyncio.run(c.verifier.verify(pdf, expect))
    except EsealError as exc:
        json.dump(problem(exc), sys.stderr, ensure_ascii=False, indent=2)
        sys.stderr.write("\n")
        return 2
    if args.json:
        _print(report)
    else:
        _print_verdict(report)
    return 0 if report["valid"] else 1


def _print_verdict(report: dict[str, Any]) -> None:
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


def cmd_archive_check(args: argparse.Namespace, settings: Settings) -> int:
    from storage.archive.commands import check_command

    c = _container(settings)
    return check_command(c.archive, sys.stdout, repair=args.repair, sample=args.sample)


def cmd_archive_export(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from datetime import date

    from seals.audit import AuditEvent
    from seals.uscc import validate_uscc
    from storage.archive.commands import export_command

    validate_uscc(args.uscc)
    c = _container(settings)

    def report_for(record: Any, reader: Any) -> dict[str, Any]:
        report: dict[str, Any] = asyncio.run(c.verifier.verify(reader.read(), record.uscc))
        return report

    def report_html(report: dict[str, Any]) -> str:
        from .report_html import render_report, seal_image_lookup

        return render_report(report, seal_image_lookup(c.seals, report))

    try:
        first = date.fromisoformat(args.date_from) if args.date_from else None
        last = date.fromisoformat(args.date_to) if args.date_to else None
    except ValueError as exc:
        raise InvalidRequest(f"dates are YYYY-MM-DD: {exc}", code="invalid_date") from None
    c.audit.append(
        [
            AuditEvent(
                "archive.export",
                "cli",
                uscc=args.uscc,
                detail={"from": args.date_from, "to": args.date_to},
            )
        ]
    )
    return export_command(
        c.archive,
        sys.stdout,
        Path(args.output),
        uscc=args.uscc,
        first=first,
        last=last,
        kind=args.kind,
        document_type=args.type,
        reference=args.reference,
        report_for=None if args.no_reports else report_for,
        report_html=None if args.no_reports else report_html,
    )


def cmd_pki_ca(args: argparse.Namespace, settings: Settings) -> int:
    c = _container(settings)
    sys.stdout.write(c.sm2_pki.chain_pem() if args.algorithm == "sm2" else c.pki.chain_pem())
    return 0


def cmd_pki_crl(args: argparse.Namespace, settings: Settings) -> int:
    from .routes.pki import sm2_revoked

    c = _container(settings)
    if args.algorithm == "sm2":
        Path(args.output).write_bytes(c.sm2_pki.crl(sm2_revoked(c)))
    else:
        Path(args.output).write_bytes(c.pki.crl(c.seals.revoked_certificates()))
    return 0


def cmd_keys_rotate_master(args: argparse.Namespace, settings: Settings) -> int:
    """Re-wrap the soft key store under a new master key; see keystore/rotation.py."""
    from keystore.masterkey import MasterKey, install_master_key_file, load_master_key
    from keystore.rotation import read_new_master_key, rotate_master_key

    env_value = settings.master_key.get_secret_value() if settings.master_key else None
    from_env = bool(env_value)
    if args.install and from_env:
        raise InvalidRequest(
            "--install replaces the key file, but the current master key comes "
            "from ESEAL_MASTER_KEY; change that setting instead",
            code="install_needs_key_file",
        )
    new_key = read_new_master_key(
        file=Path(args.new_key_file) if args.new_key_file else None, env_var=args.new_key_env
    )
    current = load_master_key(env_value, settings.master_key_file)
    report = rotate_master_key(settings.keys_dir, current, MasterKey(new_key))
    if args.install:
        install_master_key_file(settings.master_key_file, new_key)
    if from_env:
        nxt = (
            "set ESEAL_MASTER_KEY to the new key wherever it is configured (for docker "
            "compose: deploy/eseal.env) and restart every replica; the old key no longer "
            "opens the key store"
        )
    elif args.install:
        nxt = "the key file now holds the new key; restart every replica"
    else:
        nxt = (
            "replace the key file with the new key (mode 0600), or re-run this command "
            "with --install, then restart every replica; the old key no longer opens the "
            "key store"
        )
    _print(
        {
            "keys_dir": str(settings.keys_dir),
            **report.to_json(),
            "master_key_source": "ESEAL_MASTER_KEY" if from_env else "key file",
            "key_file": None if from_env else str(settings.master_key_file),
            "installed": bool(args.install),
            "next": nxt,
        }
    )
    return 0


# -- parser -------------------------------------------------------------------------------


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace, Settings], int]:
    """A command whose module is imported only when the command runs (cheap start-up)."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        import importlib

        rc: int = getattr(importlib.import_module(module), name)(args, settings)
        return rc

    return run


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


USCC_HELP = "统一社会信用代码 (18 characters), e.g. 91110108551385082Q"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eseal",
        description="Electronic seal server: licenses and their five seals, "
        "PAdES sealing, verification, archive. Settings come from ESEAL_* environment "
        "variables (ESEAL_DATA_DIR, default ./eseal-data). JSON on stdout, problem objects on "
        "stderr; exit 0 done, 1 refused, 2 usage error.",
    )
    p.add_argument("--version", action=_Version, help="print eseal's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "init",
        help="create data dir, master key, PKI and database; prints the first admin token once",
    )
    s.set_defaults(func=cmd_init)

    keys = sub.add_parser("apikey", help="API keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    s = keys.add_parser("create", help="create a key; prints the token once")
    s.add_argument(
        "--role",
        required=True,
        choices=["admin", "enterprise", "verifier"],
        help="admin: everything; enterprise: its own seals and archive (needs "
        "--uscc); verifier: verification and license faces",
    )
    s.add_argument("--uscc", help="the enterprise of an enterprise key")
    s.add_argument("--name", required=True, help="who the key is for, shown in listings")
    s.add_argument(
        "--access-form",
        metavar="FORM.json",
        help="JSON file: a relying party's access form (附件2), for a verifier key; "
        "see examples/access-form.json",
    )
    s.set_defaults(func=cmd_apikey_create)

    s = sub.add_parser("serve", help="run the HTTP server")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    s.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    s.add_argument("--workers", type=int, default=1, help="worker processes (default %(default)s)")
    s.set_defaults(func=cmd_serve)

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

    seal = sub.add_parser("seal", help="seal lifecycle and images").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    kinds = [k.value for k in SealKind]
    kind_help = "seal kind: " + ", ".join(kinds)
    defaults = {"revoke": "unspecified", "suspend": "certificate_hold", "reissue": "superseded"}
    for action in ("suspend", "resume", "revoke", "reissue"):
        s = seal.add_parser(action, help=f"{action} a seal")
        s.add_argument("uscc", help=USCC_HELP)
        s.add_argument("kind", choices=kinds, help=kind_help)
        s.add_argument("--reason", help="free text, kept in the audit log (never published)")
        if action != "resume":
            s.add_argument(
                "--reason-code",
                metavar="CODE",
                help="RFC 5280 reason published in the CRL and OCSP: key_compromise, "
                "superseded, affiliation_changed, cessation_of_operation, certificate_hold, "
                f"unspecified (default {defaults[action]})",
            )
        if action in ("revoke", "reissue"):
            s.add_argument(
                "--compromised-at",
                metavar="TIME",
                help="with key_compromise: ISO 8601 time with zone the key is compromised "
                "from (default now); signatures after it are revoked",
            )
        s.set_defaults(func=cmd_seal, reason_code=None, compromised_at=None)
    s = seal.add_parser("image", help="save the seal image (-o) or upload a scan (--upload)")
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("kind", choices=kinds, help=kind_help)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("-o", "--output", metavar="OUT.png", help="write the current image (PNG)")
    g.add_argument(
        "--upload",
        metavar="SCAN",
        help="replace the image by this scan (PNG or JPEG); the background is "
        "removed and the red kept",
    )
    s.set_defaults(func=cmd_seal_image)

    s = sub.add_parser(
        "sign",
        help="seal a PDF",
        description="Seal a PDF. --options takes the options object of POST /v1/sign (JSON: "
        "seals, cross_page, level, certify, reserve, ...); the flags are shortcuts, and a flag "
        "given replaces that option of the file (--seal or a placement flag replaces its "
        "seals).",
    )
    s.add_argument("input", help="PDF file, or - for stdin")
    s.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.pdf",
        help="where to write the sealed PDF (after it is archived)",
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
        choices=kinds,
        help="seal kind; repeat to apply several in order (default: by document type)",
    )
    s.add_argument("--page", type=int, help="page, from 1; -1 is the last")
    s.add_argument("--x", type=float, help="centre of the seal, points from the left")
    s.add_argument("--y", type=float, help="centre of the seal, points from the bottom")
    s.add_argument("--keyword", help="centre the seal on this text, e.g. 甲方（盖章）")
    s.add_argument(
        "--cross-page",
        action="store_true",
        default=None,
        help="also apply the first seal across all pages (骑缝章)",
    )
    s.add_argument(
        "--level", choices=["B-B", "B-T", "B-LT", "B-LTA"], help="PAdES level (default B-T)"
    )
    s.add_argument(
        "--document-type",
        choices=["contract", "invoice", "other"],
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

    s = sub.add_parser(
        "verify",
        help="verify a signed PDF (exit 0 valid, 1 not, 2 error)",
        description="Verify every signature of a PDF. Prints a verdict summary "
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

    s = sub.add_parser("extend", help="add B-LT or B-LTA to a signed PDF")
    s.add_argument("input", help="signed PDF file, or - for stdin")
    s.add_argument(
        "-o", "--output", required=True, metavar="OUT.pdf", help="where to write the extended PDF"
    )
    s.add_argument(
        "--level",
        default="B-LTA",
        choices=["B-LT", "B-LTA"],
        help="B-LT: validation data; B-LTA: plus a document timestamp (default %(default)s)",
    )
    s.set_defaults(func=cmd_extend)

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
    s.add_argument("--kind", choices=kinds, help="only documents with this seal kind")
    s.add_argument(
        "--type", choices=["contract", "invoice", "other"], help="only documents of this type"
    )
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
    s.set_defaults(func=_lazy("api.renewal", "cmd_archive_renew"))

    mk = sub.add_parser("keys", help="the soft key store").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    s = mk.add_parser(
        "rotate-master",
        help="re-wrap the key store under a new master key (stop every server first)",
        description="Re-wrap every data key and master.check under a new master key; private "
        "key files stay as they are. Safe to re-run after a crash. The new key is read from a "
        "file or an environment variable (base64 of 32 bytes), never from the command line.",
    )
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--new-key-file", metavar="PATH", help="file holding the new key (base64)")
    g.add_argument(
        "--new-key-env", metavar="VAR", help="environment variable holding the new key (base64)"
    )
    s.add_argument(
        "--install",
        action="store_true",
        help="then replace the data dir's master.key with the new key (atomically, "
        "mode 0600); only when the current key comes from that file",
    )
    s.set_defaults(func=cmd_keys_rotate_master)

    pki = sub.add_parser("pki", help="the internal CA").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    s = pki.add_parser("ca", help="print the CA chain (PEM): the relying parties' trust anchor")
    s.add_argument(
        "--algorithm",
        choices=("ec-p256", "sm2"),
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
        choices=("ec-p256", "sm2"),
        default="ec-p256",
        help="which seal CA: ec-p256 (default) or sm2 (an SM2-signed CRL)",
    )
    s.set_defaults(func=cmd_pki_crl)
    return p


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
    args = _parser().parse_args(argv)
    if args.func is not cmd_serve:  # the server configures its own JSON logs
        _quiet_libraries()
    try:
        from .settings import Settings

        settings = Settings()
    except Exception as exc:  # pydantic ValidationError: a setting is malformed
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
        return 2
    try:
        rc: int = args.func(args, settings)
        return rc
    except EsealError as exc:
        json.dump(problem(exc), sys.stderr, ensure_ascii=False, indent=2)
        sys.stderr.write("\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
