"""``eseal init`` and ``eseal serve``: set up a data directory, and run the HTTP server on it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from .common import container
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["cmd_init", "cmd_serve", "register_init", "register_serve"]


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    if settings.mode == "front":
        return _init_front(settings)
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


def _init_front(settings: Settings) -> int:
    """A front system's data dir: its database and a first admin key; no keys, no PKI."""
    from storage.apikeys import ApiKeyStore
    from storage.db import make_engine

    from ..front import initialise_front

    initialise_front(settings)
    engine = make_engine(settings.db_url)
    try:
        store = ApiKeyStore(engine)
        out: dict[str, Any] = {"data_dir": str(settings.data_dir), "mode": "front"}
        if not any(k.role == "admin" for k in store.list()):
            key, token = store.create(role="admin", uscc=None, name="initial admin", actor="cli")
            out["admin_key"] = {**key.to_json(), "token": token}
            out["note"] = "the admin token is shown only now; store it safely"
    finally:
        engine.dispose()
    print_json(out)
    return EXIT_OK


#: the app factory every server process runs
APP = "api.app:create_production_app"


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run uvicorn; the app configures its own JSON logs (``main`` leaves logging alone).

    One worker: uvicorn in this process.  Several: this process accepts and hands each
    connection to the worker with the fewest open connections (:mod:`api.balancer`), each
    worker a process of its own (``serve --balanced-worker FD``)."""
    from .. import balancer

    log_level = settings.log_level.lower()
    if args.balanced_worker is not None:
        return balancer.run_worker(args.balanced_worker, app=APP, log_level=log_level)
    if args.workers > 1 and balancer.balanced_supported():
        from ..observability import configure_logging

        configure_logging(settings.log_level)

        def worker(fd: int) -> list[str]:
            # settings come from the environment, which the worker inherits
            return [sys.executable, "-m", "api.cli", "serve", "--balanced-worker", str(fd)]

        return balancer.Balancer(args.host, args.port, args.workers, worker).run()

    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=log_level,
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
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default %(default)s); with more than one, this process accepts "
        "and hands each connection to the worker with the fewest open connections",
    )
    s.add_argument(
        "--mode",
        choices=("centre", "front"),
        help="centre (the default), or a front system (前置系统) that verifies against a "
        "replica of the centre's registry and seals nothing (ESEAL_MODE)",
    )
    s.add_argument(
        "--upstream", metavar="URL", help="a front's centre, its base URL (ESEAL_UPSTREAM_URL)"
    )
    # internal: a worker of the balancing parent, serving the socket pair end FD
    s.add_argument("--balanced-worker", type=int, metavar="FD", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_serve)
