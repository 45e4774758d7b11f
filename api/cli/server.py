"""``eseal init`` and ``eseal serve``: set up a data directory, and run the HTTP server on it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .common import container
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["cmd_init", "cmd_serve", "register_init", "register_serve"]


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from ..container import initialise

    created = initialise(settings)
    out: dict[str, Any] = {"data_dir": str(settings.data_dir), "pki_created": created}
    if created:
        c = container(settings)
        key, token = c.api_keys.create(role="admin", uscc=None, name="initial admin", actor="cli")
        out["admin_key"] = {**key.to_json(), "token": token}
        out["note"] = "the admin token is shown only now; store it safely"
    print_json(out)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run uvicorn; the app configures its own JSON logs (``main`` leaves logging alone)."""
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
    return EXIT_OK


def register_init(sub: Subparsers) -> None:
    s = sub.add_parser(
        "init",
        help="create data dir, master key, PKI and database; prints the first admin token once",
    )
    s.set_defaults(func=cmd_init)


def register_serve(sub: Subparsers) -> None:
    s = sub.add_parser("serve", help="run the HTTP server")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    s.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    s.add_argument("--workers", type=int, default=1, help="worker processes (default %(default)s)")
    s.set_defaults(func=cmd_serve)
