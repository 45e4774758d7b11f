"""``eseal seal policy`` and ``eseal approval ...``: seal-use approval (用印审批) from the CLI.

The CLI runs as the operator (actor ``cli``), as every command does: it sets policies (as an
admin would) and asks for seals for an enterprise (as its enterprise key would).  Deciding needs
an approver's own token (``--token`` or ``ESEAL_APPROVER_TOKEN``), checked against the key store
as the API checks it: the operator cannot approve in anyone's name, and the separation of
duties holds here as over HTTP.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seals.vocab import ApprovalMode, ApprovalStatus, DocumentType, SealKind, values

from ..errors import InvalidRequest, Unauthorized
from .common import USCC_HELP, container, read_bytes, unreadable
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..approval_flow import ApprovalFlow
    from ..auth import Principal
    from ..settings import Settings
    from .common import Subparsers

__all__ = [
    "cmd_approval_decide",
    "cmd_approval_expire",
    "cmd_approval_file",
    "cmd_approval_list",
    "cmd_approval_request",
    "cmd_approval_resume",
    "cmd_approval_show",
    "cmd_seal_policy",
    "register",
    "register_policy",
]

TOKEN_ENV = "ESEAL_APPROVER_TOKEN"


def _flow(settings: Settings) -> ApprovalFlow:
    from ..approval_flow import ApprovalFlow

    return ApprovalFlow.of(container(settings))


def _cli(uscc: str) -> Principal:
    from seals.uscc import validate_uscc

    from ..auth import Principal, Role

    return Principal("cli", Role.ENTERPRISE, validate_uscc(uscc), "cli")


def cmd_seal_policy(args: argparse.Namespace, settings: Settings) -> int:
    """Print the enterprise's policies; with a kind, set that kind's (the others stay)."""
    from dataclasses import replace

    from seals.uscc import validate_uscc
    from storage.approvals import SealPolicy, parse_amount

    uscc = validate_uscc(args.uscc)
    flow = _flow(settings)
    policies = flow.store.policies(uscc)
    if args.kind is not None:
        kind = SealKind(args.kind)
        current = next(p for p in policies if p.kind is kind)
        changed = SealPolicy(
            kind,
            ApprovalMode(args.approval) if args.approval else current.approval,
            args.quorum if args.quorum is not None else current.quorum,
            (
                None
                if args.any_approver
                else tuple(args.approver)
                if args.approver
                else current.approvers
            ),
            (
                tuple(DocumentType(t) for t in args.document_type)
                if args.document_type
                else None
                if args.any_document_type
                else current.document_types
            ),
            (
                None
                if args.any_amount
                else parse_amount(args.min_amount)
                if args.min_amount is not None
                else current.min_amount_fen
            ),
        )
        kept = [
            replace(p, updated_at=None, updated_by=None)
            for p in policies
            if p.kind is not kind and p.approval is not ApprovalMode.NONE
        ]
        policies = flow.store.set_policies(uscc, [*kept, changed], actor="cli")
    print_json(
        {
            "uscc": uscc,
            "approver_keys": flow.store.approver_keys(uscc),
            "policies": [p.to_json() for p in policies],
        }
    )
    return EXIT_OK


def cmd_approval_request(args: argparse.Namespace, settings: Settings) -> int:
    """Ask for a seal as the enterprise; prints the request (or seals at once when no
    approval is needed, as ``eseal sign`` would, and prints where it went)."""
    from pydantic import ValidationError

    from storage.approvals import parse_amount

    from ..flows import options_json, to_sealing_options
    from ..models import SignOptions

    try:
        raw = Path(args.options).read_text(encoding="utf-8") if args.options else "{}"
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(args.options, getattr(exc, "strerror", None) or "unreadable") from None
    try:
        options = SignOptions.model_validate(options_json(raw))
    except ValidationError as exc:
        detail = "; ".join(e["msg"] for e in exc.errors())
        raise InvalidRequest(f"invalid options: {detail}", code="invalid_options") from None
    to_sealing_options(options)
    data = read_bytes(args.input)
    flow = _flow(settings)
    who = _cli(args.uscc)
    pending = flow.submit(
        who, data, options, parse_amount(args.amount), args.idempotency_key, Path(args.input).name
    )
    if pending is not None:
        print_json(pending[0].to_json())
        return EXIT_OK
    if args.output is None:
        raise InvalidRequest(
            "these seals need no approval: give -o OUT to seal at once", code="invalid_request"
        )
    done = flow.container.sign_flow.sign(who, data, options, None, Path(args.input).name)
    with Path(args.output).open("wb") as out:
        for chunk in done.chunks():
            out.write(chunk)
    print_json({"output": args.output, "sha256": done.sha256, "archive_id": done.archive_id})
    return EXIT_OK


def cmd_approval_list(args: argparse.Namespace, settings: Settings) -> int:
    from seals.uscc import validate_uscc

    flow = _flow(settings)
    items = flow.store.requests(
        uscc=validate_uscc(args.uscc) if args.uscc else None,
        status=ApprovalStatus(args.status) if args.status else None,
        limit=args.limit,
    )
    print_json([a.to_json() for a in items])
    return EXIT_OK


def cmd_approval_show(args: argparse.Namespace, settings: Settings) -> int:
    print_json(_flow(settings).get(args.id).to_json())
    return EXIT_OK


def _approver(flow: ApprovalFlow, token: str | None) -> Principal:
    from ..auth import Principal, Role

    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        raise Unauthorized(f"deciding needs the approver's token: --token or {TOKEN_ENV}")
    key = flow.container.api_keys.authenticate(token.strip())
    if key is None:
        raise Unauthorized("the token is not valid")
    return Principal(key.id, Role(key.role), key.uscc, key.name)


def cmd_approval_decide(args: argparse.Namespace, settings: Settings) -> int:
    from seals.vocab import ApprovalDecision

    flow = _flow(settings)
    who = _approver(flow, args.token)
    decision = ApprovalDecision(args.decision)
    if decision is ApprovalDecision.REJECT and not (args.comment or "").strip():
        raise InvalidRequest("a rejection says why: --comment TEXT")
    print_json(flow.decide(who, args.id, decision, args.comment).to_json())
    return EXIT_OK


def cmd_approval_resume(args: argparse.Namespace, settings: Settings) -> int:
    flow = _flow(settings)
    approval = flow.get(args.id)
    print_json(flow.resume(_cli(approval.uscc), args.id).to_json())
    return EXIT_OK


def cmd_approval_file(args: argparse.Namespace, settings: Settings) -> int:
    """Write the upload (original), a preview PNG, or the sealed document (document)."""
    flow = _flow(settings)
    approval = flow.get(args.id)
    out: dict[str, Any] = {"output": args.output, "id": approval.id}
    if args.what == "original":
        Path(args.output).write_bytes(flow.original(approval))
        out["sha256"] = approval.document_sha256
    elif args.what == "preview":
        Path(args.output).write_bytes(flow.preview(approval, args.page))
    else:
        done = flow.sealed_document(approval)
        with Path(args.output).open("wb") as f:
            for chunk in done.chunks():
                f.write(chunk)
        out.update(sha256=done.sha256, archive_id=done.archive_id)
    print_json(out)
    return EXIT_OK


def cmd_approval_expire(args: argparse.Namespace, settings: Settings) -> int:
    """End the waiting requests whose time ran out (run it from cron; reads do it too)."""
    print_json([a.to_json() for a in _flow(settings).expire_due()])
    return EXIT_OK


def register_policy(sub: Subparsers) -> None:
    """``eseal seal policy``, added to the ``seal`` group that :mod:`api.cli.seal` made."""
    seal = sub.choices["seal"]
    actions = next(
        a for a in seal._actions if isinstance(a, argparse._SubParsersAction)
    )  # the group's own subcommands (argparse keeps them there)
    s = actions.add_parser(
        "policy",
        help="show the seal-use approval policies of an enterprise; with KIND, set one",
        description="Without KIND: print the five policies. With KIND: change that kind's "
        "policy (flags not given keep their value; the other kinds stay as they are).",
    )
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("kind", nargs="?", choices=values(SealKind), help="the seal kind to set")
    s.add_argument("--approval", choices=values(ApprovalMode), help="none or required")
    s.add_argument("--quorum", type=int, metavar="M", help="how many approvers must approve")
    s.add_argument(
        "--approver",
        action="append",
        metavar="KEY_ID",
        help="an approver key that counts (repeat; default: every approver key)",
    )
    s.add_argument("--any-approver", action="store_true", help="every approver key counts")
    s.add_argument(
        "--document-type",
        action="append",
        choices=values(DocumentType),
        help="approval only for this declared document type (repeat)",
    )
    s.add_argument("--any-document-type", action="store_true", help="drop the type condition")
    s.add_argument("--min-amount", metavar="YUAN", help="approval only from this amount up")
    s.add_argument("--any-amount", action="store_true", help="drop the amount condition")
    s.set_defaults(func=cmd_seal_policy)


def register(sub: Subparsers) -> None:
    group = sub.add_parser(
        "approval", help="sealing requests that need approval (用印审批)"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")

    s = group.add_parser("request", help="ask for a seal as the enterprise (kept until approved)")
    s.add_argument("input", metavar="IN", help="the PDF or OFD to seal (- for stdin)")
    s.add_argument("--uscc", required=True, help=USCC_HELP)
    s.add_argument("--options", metavar="OPTIONS.json", help="the HTTP options object")
    s.add_argument("--amount", metavar="YUAN", help="the amount, for policies that ask")
    s.add_argument("--idempotency-key", help="a retry with the same key finds its request")
    s.add_argument("-o", "--output", help="where to write it when no approval is needed")
    s.set_defaults(func=cmd_approval_request)

    s = group.add_parser("list", help="requests, newest first")
    s.add_argument("--uscc", help="only this enterprise's: " + USCC_HELP)
    s.add_argument("--status", choices=values(ApprovalStatus), help="only requests in this state")
    s.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    s.set_defaults(func=cmd_approval_list)

    s = group.add_parser("show", help="one request")
    s.add_argument("id", help="the request's id")
    s.set_defaults(func=cmd_approval_show)

    for decision, about in (("approve", "approve (as an approver)"), ("reject", "reject")):
        s = group.add_parser(decision, help=f"{about}; needs the approver's token")
        s.add_argument("id", help="the request's id")
        s.add_argument("--token", help=f"the approver's API token (default ${TOKEN_ENV})")
        s.add_argument("--comment", help="why (required to reject)")
        s.set_defaults(func=cmd_approval_decide, decision=decision)

    s = group.add_parser("seal", help="seal an approved request cut short by an outage")
    s.add_argument("id", help="the request's id")
    s.set_defaults(func=cmd_approval_resume)

    for what, about in (
        ("original", "write the uploaded document"),
        ("preview", "write a PNG of where the seals go"),
        ("document", "write the sealed document"),
    ):
        s = group.add_parser(what, help=about)
        s.add_argument("id", help="the request's id")
        s.add_argument("-o", "--output", required=True, help="the file to write")
        if what == "preview":
            s.add_argument("--page", type=int, help="default: the first page with a seal")
        s.set_defaults(func=cmd_approval_file, what=what, page=None)

    s = group.add_parser("expire", help="end the requests whose time ran out")
    s.set_defaults(func=cmd_approval_expire)
