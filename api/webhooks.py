"""Signed webhooks: where eseal may send events, how it signs them, and their secrets.

* Destinations.  Only ``https://`` URLs (``http://`` when ``ESEAL_WEBHOOK_ALLOW_HTTP`` is
  set, for tests), without user info or fragment.  The host is resolved and every address it
  resolves to must be public (globally routable): no loopback, link-local, private, shared
  (100.64/10), multicast or reserved address, unless ``ESEAL_WEBHOOK_ALLOW_PRIVATE`` is set.
  This is checked when a subscription is made and again at every delivery, and the delivery
  connects to the address that passed the check (the name is not resolved a second time, so
  a DNS answer that changes in between cannot redirect it); TLS still checks the name.
* Signatures.  ``Eseal-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
  one ``v1`` per valid secret (two during a rotation's overlap), the scheme receivers know
  from the large payment platforms.
* Secrets.  ``whsec_`` and 32 random bytes (base64url), shown once (at creation and at each
  rotation) and stored wrapped with AES-256-GCM under the master key, bound to the
  subscription's id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from keystore.errors import ErrorKind, EsealError
from keystore.masterkey import MasterKey, load_master_key
from storage.outbox import valid_pattern
from storage.webhooks import Subscription, WebhookStore, new_subscription_id

from .settings import Settings

if TYPE_CHECKING:
    from .container import Container

__all__ = [
    "SIGNATURE_HEADER",
    "Destination",
    "SecretBox",
    "WebhookRefused",
    "Webhooks",
    "check_destination",
    "new_secret",
    "signature_header",
    "webhooks_for",
]

SIGNATURE_HEADER = "Eseal-Signature"
EVENT_ID_HEADER = "Eseal-Event-Id"
SECRET_PREFIX = "whsec_"
_CONTEXT = b"eseal-webhook-secret:"


class WebhookRefused(EsealError):
    """A subscription's URL or its events cannot be accepted (or delivered to)."""

    code = "invalid_webhook"
    kind = ErrorKind.INVALID
    title = "Webhook refused"


def new_secret() -> str:
    return SECRET_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def signature_header(secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>[,v1=<hex>]``: an HMAC-SHA256 of ``"<t>.<body>"`` per secret."""
    signed = str(timestamp).encode() + b"." + body
    macs = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets_]
    return ",".join([f"t={timestamp}", *(f"v1={m}" for m in macs)])


class SecretBox:
    """Wraps secrets under the master key, each bound to its subscription's id."""

    def __init__(self, master: MasterKey) -> None:
        self._master = master

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        key = settings.master_key.get_secret_value() if settings.master_key else None
        return cls(load_master_key(key, settings.master_key_file))

    def wrap(self, subscription_id: str, secret: str) -> bytes:
        return self._master.wrap(secret.encode(), _CONTEXT + subscription_id.encode())

    def unwrap(self, subscription_id: str, blob: bytes) -> str:
        return self._master.unwrap(blob, _CONTEXT + subscription_id.encode()).decode()


# -- destinations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """A checked URL and the addresses its host resolved to, all allowed."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse_url(url: str, *, allow_http: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL; :class:`WebhookRefused` says what is not."""
    if len(url) > 2000:
        raise WebhookRefused("the URL is longer than 2000 characters", code="invalid_webhook_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused("the URL cannot be read", code="invalid_webhook_url") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise WebhookRefused(
            "webhook URLs must be https://"
            + ("" if allow_http else " (http:// only with ESEAL_WEBHOOK_ALLOW_HTTP)"),
            code="invalid_webhook_url",
        )
    if not parts.hostname:
        raise WebhookRefused("the URL names no host", code="invalid_webhook_url")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused(
            "the URL may not carry a user name or password: the signature authenticates",
            code="invalid_webhook_url",
        )
    if parts.fragment:
        raise WebhookRefused("the URL may not have a #fragment", code="invalid_webhook_url")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_destination(url: str, *, allow_http: bool, allow_private: bool) -> Destination:
    """Parse ``url``, resolve its host, and refuse it if any address is not public (unless
    ``allow_private``).  422 ``invalid_webhook_url``, ``webhook_host_unresolvable`` or
    ``webhook_address_not_allowed``."""
    scheme, host, port = parse_url(url, allow_http=allow_http)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        raise WebhookRefused(
            f"the host {host!r} does not resolve", code="webhook_host_unresolvable"
        ) from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookRefused(
            f"the host {host!r} does not resolve", code="webhook_host_unresolvable"
        )
    if not allow_private:
        refused = [a for a in addresses if not _public(a)]
        if refused:
            raise WebhookRefused(
                f"the host {host!r} resolves to {refused[0]}, which is not a public address "
                "(loopback, link-local, private and reserved ones are refused)",
                code="webhook_address_not_allowed",
            )
    return Destination(scheme, host, port, addresses)


# -- the service the routes (and the CLI) call ---------------------------------------------


class Webhooks:
    """Subscriptions: checked, their secrets made, wrapped and shown once."""

    def __init__(self, store: WebhookStore, box: SecretBox, settings: Settings) -> None:
        self.store = store
        self.box = box
        self._settings = settings

    async def destination(self, url: str) -> Destination:
        s = self._settings
        return await check_destination(
            url, allow_http=s.webhook_allow_http, allow_private=s.webhook_allow_private
        )

    @staticmethod
    def checked_events(events: Sequence[str]) -> list[str]:
        if not events:
            raise WebhookRefused('name at least one event (or "*")', code="invalid_webhook_events")
        unknown = [e for e in events if not valid_pattern(e)]
        if unknown:
            raise WebhookRefused(
                f"unknown event type {unknown[0]!r}", code="invalid_webhook_events"
            )
        return list(dict.fromkeys(events))

    async def create(
        self,
        *,
        uscc: str | None,
        url: str,
        events: Sequence[str],
        description: str | None,
        actor: str,
    ) -> tuple[Subscription, str]:
        """A new subscription and its secret (the only time the secret is shown)."""
        checked = self.checked_events(events)
        await self.destination(url)
        sub_id = new_subscription_id()
        secret = new_secret()
        sub = await asyncio.to_thread(
            self.store.create,
            sub_id,
            uscc=uscc,
            url=url,
            events=checked,
            description=description,
            secret=self.box.wrap(sub_id, secret),
            actor=actor,
        )
        return sub, secret

    async def rotate(
        self, subscription_id: str, *, overlap: timedelta | None, actor: str
    ) -> tuple[Subscription, str]:
        """A new secret; the old one signs beside it for ``overlap`` (default: the setting)."""
        if overlap is None:
            overlap = timedelta(hours=self._settings.webhook_secret_overlap_hours)
        secret = new_secret()
        sub = await asyncio.to_thread(
            self.store.rotate,
            subscription_id,
            self.box.wrap(subscription_id, secret),
            overlap=overlap,
            actor=actor,
        )
        return sub, secret


def webhooks_for(container: Container) -> Webhooks:
    """The service on the container's database, its secrets under the master key."""
    settings = container.settings
    return Webhooks(WebhookStore(container.engine), SecretBox.from_settings(settings), settings)
