"""``eseal seal suspend|resume|revoke|reissue|image|esl|csr|import-cert``: a seal's lifecycle,
its image and GB/T 38540 seal data, and certificates from a licensed CA."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from seals.kinds import parse_kind
from seals.vocab import RevocationReason, SealAction, SealKind, values

from .common import USCC_HELP, Command, container, unreadable
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = [
    "cmd_seal_csr",
    "cmd_seal_esl",
    "cmd_seal_image",
    "cmd_seal_import_cert",
    "cmd_seal_reissue",
    "cmd_seal_resume",
    "cmd_seal_revoke",
    "cmd_seal_suspend",
    "register",
]


def _lifecycle(args: argparse.Namespace, settings: Settings, action: SealAction) -> int:
    """One step through the seal service (the same rules as the HTTP route; the registry's
    revision tells a running server's OCSP cache)."""
    c = container(settings)
    seal = c.seals.change_seal(
        args.uscc,
        parse_kind(args.kind),
        action,
        args.reason,
        code=args.reason_code,
        compromised_at=args.compromised_at,
    )
    print_json(seal.to_json())
    return EXIT_OK


def cmd_seal_suspend(args: argparse.Namespace, settings: Settings) -> int:
    """Put a seal on hold (its certificate on the CRL as ``certificate_hold``)."""
    return _lifecycle(args, settings, SealAction.SUSPEND)


def cmd_seal_resume(args: argparse.Namespace, settings: Settings) -> int:
    return _lifecycle(args, settings, SealAction.RESUME)


def cmd_seal_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke a seal for good; ``key_compromise`` counts from ``--compromised-at``."""
    return _lifecycle(args, settings, SealAction.REVOKE)


def cmd_seal_reissue(args: argparse.Namespace, settings: Settings) -> int:
    """A new key, certificate and version; the old certificate is revoked."""
    return _lifecycle(args, settings, SealAction.REISSUE)


#: the lifecycle commands, in the order ``eseal seal --help`` lists them
_LIFECYCLE: dict[str, Command] = {
    "suspend": cmd_seal_suspend,
    "resume": cmd_seal_resume,
    "revoke": cmd_seal_revoke,
    "reissue": cmd_seal_reissue,
}


def cmd_seal_image(args: argparse.Namespace, settings: Settings) -> int:
    c = container(settings)
    kind = parse_kind(args.kind)
    if args.upload:
        try:
            data = Path(args.upload).read_bytes()
        except OSError as exc:
            raise unreadable(args.upload, exc.strerror or "unreadable") from None
        print_json(c.seals.replace_image(args.uscc, kind, data).to_json())
        return EXIT_OK
    seal = c.seals.seal(args.uscc, kind)
    Path(args.output).write_bytes(seal.image_png)
    print_json({"kind": kind.value, "image_sha256": seal.image_sha256, "output": args.output})
    return EXIT_OK


def cmd_seal_esl(args: argparse.Namespace, settings: Settings) -> int:
    """Write the seal's GB/T 38540 seal data (SESeal, DER) and print what it is."""
    import hashlib

    from seals.esl import SEAL_TYPES

    c = container(settings)
    seal = c.seals.seal_data(args.uscc, parse_kind(args.kind))
    assert seal.esl is not None  # seal_data refuses a seal without one
    Path(args.output).write_bytes(seal.esl)
    print_json(
        {
            "uscc": seal.uscc,
            "kind": seal.kind.value,
            "version": seal.version,
            "es_id": seal.esl_id,
            "type": SEAL_TYPES[seal.kind],
            "ses_version": seal.esl_version,
            "sha256": hashlib.sha256(seal.esl).hexdigest(),
            "output": args.output,
        }
    )
    return EXIT_OK


def cmd_seal_csr(args: argparse.Namespace, settings: Settings) -> int:
    """A PKCS#10 request for a licensed CA, signed by the seal's key in the store."""
    c = container(settings)
    request = c.seals.certificate_request(args.uscc, parse_kind(args.kind), args.algorithm)
    Path(args.output).write_bytes(request)
    print_json({"kind": args.kind, "algorithm": args.algorithm, "output": args.output})
    return EXIT_OK


def cmd_seal_import_cert(args: argparse.Namespace, settings: Settings) -> int:
    """Replace the seal's certificate by one a licensed CA issued for its key."""
    from ..container import trust_bundle

    c = container(settings)
    files = []
    for name in (args.certificate, args.chain):
        try:
            files.append(Path(name).read_bytes() if name else None)
        except OSError as exc:
            raise unreadable(name, exc.strerror or "unreadable") from None
    seal = c.seals.import_certificate(
        args.uscc,
        parse_kind(args.kind),
        files[0] or b"",
        files[1],
        anchors=trust_bundle(settings),
    )
    print_json(seal.to_json())
    return EXIT_OK


def register(sub: Subparsers) -> None:
    seal = sub.add_parser("seal", help="seal lifecycle and images").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    kinds = values(SealKind)
    kind_help = "seal kind: " + ", ".join(kinds)
    #: the reason code an action publishes when --reason-code is not given (the service's
    #: defaults; the help text says them)
    defaults = {
        "revoke": RevocationReason.UNSPECIFIED,
        "suspend": RevocationReason.CERTIFICATE_HOLD,
        "reissue": RevocationReason.SUPERSEDED,
    }
    for action, command in _LIFECYCLE.items():
        s = seal.add_parser(action, help=f"{action} a seal")
        s.add_argument("uscc", help=USCC_HELP)
        s.add_argument("kind", choices=kinds, help=kind_help)
        s.add_argument("--reason", help="free text, kept in the audit log (never published)")
        if action != "resume":
            s.add_argument(
                "--reason-code",
                metavar="CODE",
                help="RFC 5280 reason published in the CRL and OCSP: "
                f"{', '.join(values(RevocationReason))} (default {defaults[action].value})",
            )
        if action in ("revoke", "reissue"):
            s.add_argument(
                "--compromised-at",
                metavar="TIME",
                help="with key_compromise: ISO 8601 time with zone the key is compromised "
                "from (default now); signatures after it are revoked",
            )
        # resume takes neither option, suspend no --compromised-at: None is the service's default
        s.set_defaults(func=command, reason_code=None, compromised_at=None)
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
    s = seal.add_parser("esl", help="write the seal's GB/T 38540 seal data (SESeal, .esl)")
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("kind", choices=kinds, help=kind_help)
    s.add_argument("-o", "--output", required=True, metavar="SEAL.esl", help="the file (DER)")
    s.set_defaults(func=cmd_seal_esl)
    s = seal.add_parser("csr", help="write a PKCS#10 request for a licensed CA")
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("kind", choices=kinds, help=kind_help)
    s.add_argument(
        "--algorithm", required=True, metavar="ALG", help="sm2, or the seal's key type (ec-p256)"
    )
    s.add_argument("-o", "--output", required=True, metavar="REQ.pem", help="the request (PEM)")
    s.set_defaults(func=cmd_seal_csr)
    s = seal.add_parser(
        "import-cert",
        help="replace the seal's certificate by one from a licensed CA (checked against "
        "ESEAL_TRUST_BUNDLE)",
    )
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("kind", choices=kinds, help=kind_help)
    s.add_argument("certificate", metavar="CERT.pem", help="the certificate the CA issued")
    s.add_argument("--chain", metavar="CHAIN.pem", help="the CA's intermediate certificates")
    s.set_defaults(func=cmd_seal_import_cert)
