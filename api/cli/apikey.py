"""``eseal apikey create``: an API key, its token printed once."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from .common import container, read_json
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["ROLES", "cmd_apikey_create", "register"]

#: the roles of api.auth.Role, spelled out here because api/auth.py imports FastAPI (start-up
#: cost); the request model (api.models.ApiKeyRequest) refuses any other word
ROLES = ("admin", "enterprise", "verifier", "approver")


def cmd_apikey_create(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from ..models import ApiKeyRequest

    form = read_json(args.access_form) if args.access_form else None
    try:
        request = ApiKeyRequest.model_validate(
            {"role": args.role, "name": args.name, "uscc": args.uscc, "access_form": form}
        )
    except ValidationError as exc:
        msg = "; ".join(e["msg"] for e in exc.errors())
        raise InvalidRequest(f"invalid API key request: {msg}") from None
    c = container(settings)
    if request.uscc:
        c.seals.enterprise(request.uscc)
    key, token = c.api_keys.create(
        role=request.role,
        uscc=request.uscc,
        name=request.name,
        actor="cli",
        access_form=request.access_form.model_dump(mode="json") if request.access_form else None,
    )
    print_json({**key.to_json(), "token": token})
    return EXIT_OK


def register(sub: Subparsers) -> None:
    keys = sub.add_parser("apikey", help="API keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    s = keys.add_parser("create", help="create a key; prints the token once")
    s.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="admin: everything; enterprise: its own seals and archive (needs "
        "--uscc); verifier: verification and license faces; approver: approves or rejects "
        "the sealing requests of one enterprise that need approval (needs --uscc)",
    )
    s.add_argument("--uscc", help="the enterprise of an enterprise or approver key")
    s.add_argument("--name", required=True, help="who the key is for, shown in listings")
    s.add_argument(
        "--access-form",
        metavar="FORM.json",
        help="JSON file: a relying party's access form (附件2), for a verifier key; "
        "see examples/access-form.json",
    )
    s.set_defaults(func=cmd_apikey_create)
