"""``eseal permit add|list|show|update``: permits and filings under a license (许可 / 备案).

The same records, rules and answers as ``POST/GET/PATCH /v1/enterprises/{uscc}/permits`` (and
``PUT .../{id}/document`` for ``--document``): each command asks
:class:`seals.permits.PermitService` what the route asks, and prints the JSON the route
answers, the status as it stands today (a permit past its last day reads ``expired``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import USCC_HELP, lazy
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from seals.permits import Permit, PermitService

    from ..settings import Settings
    from .common import Subparsers

__all__ = ["register"]

_MODULE = "api.cli.permit"

#: the words ``--type`` takes (as the HTTP API: the English value or the Chinese word)
TYPES = ("permit", "filing", "许可", "备案")
#: the words ``--status`` takes
STATUSES = ("valid", "suspended", "revoked", "expired", "有效", "暂停", "撤销", "过期")
#: ``--valid-to`` for a permit without an end (长期)
OPEN_ENDED = ("none", "长期")

#: option → field of the request body, for the fields ``add`` and ``update`` share
_FIELDS = {
    "name": "name",
    "number": "number",
    "authority": "issuing_authority",
    "scope": "scope",
    "valid_from": "valid_from",
    "valid_to": "valid_to",
    "status": "status",
    "reason": "reason",
}


def _body(args: argparse.Namespace) -> dict[str, Any]:
    """The request body the options make: only the options given."""
    body = {field: getattr(args, option) for option, field in _FIELDS.items()}
    body = {k: v for k, v in body.items() if v is not None}
    if isinstance(body.get("valid_to"), str) and body["valid_to"].lower() in OPEN_ENDED:
        body["valid_to"] = None
    return body


def _validated(model: Any, body: dict[str, Any]) -> Any:
    """``body`` as the route's request model, or the route's 422 ``invalid_request``."""
    from pydantic import ValidationError

    from ..errors import InvalidRequest

    try:
        return model.model_validate(body)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'permit'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(f"invalid permit: {detail}") from None


def _document(path: str | None) -> bytes | None:
    """The PDF named by ``--document``, read and checked before anything is recorded."""
    if path is None:
        return None
    from seals.permits import check_document

    from .common import read_bytes

    content = read_bytes(path)
    check_document(content)
    return content


def _run(settings: Settings, work: Any) -> int:
    """Run ``work(permits)`` on the container's permit service; print its permit(s)."""
    from .common import container

    c = container(settings)
    try:
        service: PermitService = c.permits
        done = work(service)
        now = service.now()
        if isinstance(done, list):
            print_json([p.to_json(now) for p in done])
        else:
            print_json(done.to_json(now))
    finally:
        c.close()
    return EXIT_OK


def _attach(service: PermitService, permit: Permit, args: argparse.Namespace, pdf: bytes) -> Permit:
    return service.attach(permit.uscc, permit.id, pdf, Path(args.document).name, actor="cli")


def cmd_permit_add(args: argparse.Namespace, settings: Settings) -> int:
    from seals.permits import PermitInput
    from seals.uscc import validate_uscc

    uscc = validate_uscc(args.uscc)
    data = _validated(PermitInput, {"type": args.type, **_body(args)})
    pdf = _document(args.document)

    def work(service: PermitService) -> Permit:
        permit = service.add(uscc, data, actor="cli")
        return permit if pdf is None else _attach(service, permit, args, pdf)

    return _run(settings, work)


def cmd_permit_list(args: argparse.Namespace, settings: Settings) -> int:
    from seals.uscc import validate_uscc

    uscc = validate_uscc(args.uscc)
    return _run(settings, lambda service: service.permits(uscc))


def cmd_permit_show(args: argparse.Namespace, settings: Settings) -> int:
    from seals.uscc import validate_uscc

    uscc = validate_uscc(args.uscc)

    def work(service: PermitService) -> Permit:
        permit = service.permit(uscc, args.id)
        if args.save_document:
            _, content = service.document(uscc, permit.id)  # its digest checked on read
            Path(args.save_document).write_bytes(content)
        return permit

    return _run(settings, work)


def cmd_permit_update(args: argparse.Namespace, settings: Settings) -> int:
    from seals.permits import PermitChange
    from seals.uscc import validate_uscc

    from ..errors import InvalidRequest

    uscc = validate_uscc(args.uscc)
    body = _body(args)
    if not body and args.document is None:
        raise InvalidRequest("name a field to change, or --document")
    change = _validated(PermitChange, body) if body else None
    pdf = _document(args.document)

    def work(service: PermitService) -> Permit:
        permit = service.permit(uscc, args.id)
        if change is not None:
            permit = service.change(uscc, permit.id, change, actor="cli")
        return permit if pdf is None else _attach(service, permit, args, pdf)

    return _run(settings, work)


def _fields(s: argparse.ArgumentParser, *, adding: bool) -> None:
    s.add_argument("--name", required=adding, help="e.g. 食品经营许可证, ICP备案")
    s.add_argument("--number", required=adding, help="the permit's number (编号)")
    s.add_argument("--authority", required=adding, help="the issuing authority (发证机关)")
    s.add_argument("--scope", help="what it permits (许可范围)")
    s.add_argument("--valid-from", required=adding, help="first day of validity, YYYY-MM-DD")
    s.add_argument(
        "--valid-to",
        help="last day of validity, YYYY-MM-DD; none (or 长期) for no end"
        + ("" if adding else "; a date past today reads expired"),
    )
    s.add_argument(
        "--status",
        choices=STATUSES,
        help="as recorded (default valid)" if adding else "revoked is final",
    )
    s.add_argument("--reason", help="why the status is what it is (kept with the status)")
    s.add_argument(
        "--document",
        metavar="FILE.pdf",
        help="attach a copy of the permit (PDF, archived; earlier copies stay stored)",
    )


def register(sub: Subparsers) -> None:
    permits = sub.add_parser(
        "permit", help="permits and filings under a license (许可 / 备案), as the HTTP API"
    )
    actions = permits.add_subparsers(dest="action", required=True, metavar="ACTION")

    s = actions.add_parser("add", help="record a permit or filing of an active license")
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("--type", required=True, choices=TYPES, help="permit (许可) or filing (备案)")
    _fields(s, adding=True)
    s.set_defaults(func=lazy(_MODULE, "cmd_permit_add"))

    s = actions.add_parser("list", help="the enterprise's permits and filings, status now")
    s.add_argument("uscc", help=USCC_HELP)
    s.set_defaults(func=lazy(_MODULE, "cmd_permit_list"))

    s = actions.add_parser("show", help="one permit or filing, status now")
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("id", help="the permit's id (pmt_...)")
    s.add_argument(
        "--save-document", metavar="FILE.pdf", help="write its attached copy (PDF) there"
    )
    s.set_defaults(func=lazy(_MODULE, "cmd_permit_show"))

    s = actions.add_parser("update", help="change the fields given, or attach a document")
    s.add_argument("uscc", help=USCC_HELP)
    s.add_argument("id", help="the permit's id (pmt_...)")
    _fields(s, adding=False)
    s.set_defaults(func=lazy(_MODULE, "cmd_permit_update"))
