"""``eseal webhook create|list|delete|rotate|deliveries|redeliver``: signed webhooks, as the
HTTP API manages them (the same checks; the running server's worker delivers)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .common import USCC_HELP, lazy
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from ..webhooks import Webhooks
    from .common import Subparsers

__all__ = ["register"]

_MODULE = "api.cli.webhook"


def _webhooks(settings: Settings) -> Webhooks:
    from ..webhooks import webhooks_for
    from .common import container

    return webhooks_for(container(settings))


def cmd_webhook_create(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from seals.uscc import validate_uscc

    from .common import container

    c = container(settings)
    if args.uscc:
        c.seals.enterprise(validate_uscc(args.uscc))  # must be registered
    from ..webhooks import webhooks_for

    hooks = webhooks_for(c)
    events = [e.strip() for e in args.events.split(",") if e.strip()]
    sub, secret = asyncio.run(
        hooks.create(
            uscc=args.uscc, url=args.url, events=events, description=args.description, actor="cli"
        )
    )
    print_json({**sub.to_json(), "secret": secret})
    return EXIT_OK


def cmd_webhook_list(args: argparse.Namespace, settings: Settings) -> int:
    print_json([s.to_json() for s in _webhooks(settings).store.subscriptions(args.uscc)])
    return EXIT_OK


def cmd_webhook_delete(args: argparse.Namespace, settings: Settings) -> int:
    print_json(_webhooks(settings).store.delete(args.id, actor="cli").to_json())
    return EXIT_OK


def cmd_webhook_rotate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from datetime import timedelta

    hooks = _webhooks(settings)
    overlap = timedelta(hours=args.overlap_hours) if args.overlap_hours is not None else None
    sub, secret = asyncio.run(hooks.rotate(args.id, overlap=overlap, actor="cli"))
    print_json({**sub.to_json(), "secret": secret})
    return EXIT_OK


def cmd_webhook_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    store = _webhooks(settings).store
    store.get(args.id)
    items = store.deliveries(args.id, status=args.status, limit=args.limit)
    out: list[dict[str, Any]] = [d.to_json() for d in items]
    print_json(out)
    return EXIT_OK


def cmd_webhook_redeliver(args: argparse.Namespace, settings: Settings) -> int:
    again = _webhooks(settings).store.redeliver(args.id, args.delivery_id, actor="cli")
    print_json(again.to_json(with_log=True))
    return EXIT_OK


def register(sub: Subparsers) -> None:
    hooks = sub.add_parser("webhook", help="signed webhooks: subscriptions and deliveries")
    actions = hooks.add_subparsers(dest="action", required=True, metavar="ACTION")

    s = actions.add_parser("create", help="subscribe; prints the signing secret once")
    s.add_argument("--url", required=True, help="https:// URL of a public address")
    s.add_argument(
        "--events",
        required=True,
        help="comma-separated: document.sealed, seal.* (a group), * (all) ...",
    )
    s.add_argument("--uscc", help=f"the enterprise whose events (default: all). {USCC_HELP}")
    s.add_argument("--description", help="a note shown in listings")
    s.set_defaults(func=lazy(_MODULE, "cmd_webhook_create"))

    s = actions.add_parser("list", help="the subscriptions (secrets are never shown again)")
    s.add_argument("--uscc", help="one enterprise's only")
    s.set_defaults(func=lazy(_MODULE, "cmd_webhook_list"))

    s = actions.add_parser("delete", help="unsubscribe, with its deliveries and their log")
    s.add_argument("id", help="the subscription's id")
    s.set_defaults(func=lazy(_MODULE, "cmd_webhook_delete"))

    s = actions.add_parser("rotate", help="a new secret; the old one signs too for the overlap")
    s.add_argument("id", help="the subscription's id")
    s.add_argument(
        "--overlap-hours",
        type=float,
        help="how long the old secret still signs (default ESEAL_WEBHOOK_SECRET_OVERLAP_HOURS)",
    )
    s.set_defaults(func=lazy(_MODULE, "cmd_webhook_rotate"))

    s = actions.add_parser("deliveries", help="the delivery log, newest first")
    s.add_argument("id", help="the subscription's id")
    s.add_argument("--status", choices=("pending", "delivered", "failed"), help="only these")
    s.add_argument("--limit", type=int, default=50, help="how many (default %(default)s)")
    s.set_defaults(func=lazy(_MODULE, "cmd_webhook_deliveries"))

    s = actions.add_parser("redeliver", help="send a delivery's event again (end of the queue)")
    s.add_argument("id", help="the subscription's id")
    s.add_argument("delivery_id", type=int, help="the delivery's id")
    s.set_defaults(func=lazy(_MODULE, "cmd_webhook_redeliver"))
