"""``eseal keys rotate-master``: re-wrap the soft key store under a new master key."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from .output import EXIT_OK, print_json

if TYPE_CHECKING:
    from ..settings import Settings
    from .common import Subparsers

__all__ = ["cmd_keys_rotate_master", "register"]


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
    print_json(
        {
            "keys_dir": str(settings.keys_dir),
            **report.to_json(),
            "master_key_source": "ESEAL_MASTER_KEY" if from_env else "key file",
            "key_file": None if from_env else str(settings.master_key_file),
            "installed": bool(args.install),
            "next": nxt,
        }
    )
    return EXIT_OK


def register(sub: Subparsers) -> None:
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
