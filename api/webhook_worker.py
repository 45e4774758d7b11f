"""The delivery worker: sends the outbox's events to their subscribers, signed, in order.

One runs in each server process (the app's lifespan).  It looks at the queue when an event
commits in its own process and every ``ESEAL_WEBHOOK_POLL_SECONDS`` (events the CLI or
another process wrote), or when the next retry is due.  Each round takes the head of every
subscription's queue that is due, holds a lease on it (so no other process sends it at the
same time), and POSTs it: the JSON event, ``Eseal-Event-Id``, ``Eseal-Event-Type``,
``Eseal-Delivery-Id`` and ``Eseal-Signature``.  A 2xx answer delivers it; anything else (an
error status, a redirect, a timeout, a refused address) is logged and retried after
``ESEAL_WEBHOOK_BACKOFF_SECONDS``, doubled after each failure up to
``ESEAL_WEBHOOK_BACKOFF_MAX_SECONDS``, until ``ESEAL_WEBHOOK_RETRY_HOURS`` after the event,
when it is given up (``failed``) and the queue moves on.  While the head waits, the events
behind it wait too: a subscriber gets its events in the order they were committed.

Ended deliveries (and the events no subscription still owes) are forgotten after
``ESEAL_WEBHOOK_LOG_DAYS``; pending ones never are.

A process killed while it sends leaves the lease to run out (twice the timeout and five
seconds); then any worker sends the delivery again.  Delivery is at least once: receivers
deduplicate on ``Eseal-Event-Id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx

from storage.outbox import on_commit
from storage.webhooks import Attempt, Claimed, WebhookStore

from .settings import Settings
from .webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    Destination,
    SecretBox,
    WebhookRefused,
    check_destination,
    signature_header,
)

__all__ = ["WebhookWorker"]

log = logging.getLogger("eseal.webhooks")

USER_AGENT = "eseal-webhooks/1"
#: deliveries sent at once (to different subscriptions; one subscription's go one by one)
CONCURRENCY = 8
#: how often the log of ended deliveries is cut to ``ESEAL_WEBHOOK_LOG_DAYS``
PRUNE_EVERY_S = 3600.0


class WebhookWorker:
    def __init__(
        self,
        store: WebhookStore,
        box: SecretBox,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._store = store
        self._box = box
        self._settings = settings
        self._timeout = settings.webhook_timeout_seconds
        self._lease = timedelta(seconds=2 * self._timeout + 5)
        self._transport = transport
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run in the current event loop until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()

        def wake() -> None:  # called in the committing thread
            loop.call_soon_threadsafe(self._wake.set)

        remove = on_commit(wake)
        poll = self._settings.webhook_poll_seconds
        try:
            async with httpx.AsyncClient(
                transport=self._transport,
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: it would connect for us
            ) as client:
                pruned_at = 0.0
                while True:
                    self._wake.clear()
                    try:
                        if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                            pruned_at = time.monotonic()
                            await self._prune()
                        if await self.run_once(client):
                            continue  # more may be due behind what was just sent
                        wait = await self._until_next_due(poll)
                    except Exception:
                        log.exception("the webhook worker's round failed; trying again")
                        wait = poll
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            remove()

    async def _prune(self) -> None:
        keep = timedelta(days=self._settings.webhook_log_days)
        gone = await asyncio.to_thread(self._store.prune, self._store.now() - keep)
        if gone:
            log.info("forgot %d ended webhook deliveries older than %s", gone, keep)

    async def _until_next_due(self, poll: float) -> float:
        due = await asyncio.to_thread(self._store.next_due)
        if due is None:
            return poll
        return max(0.05, min(poll, (due - self._store.now()).total_seconds()))

    async def run_once(self, client: httpx.AsyncClient) -> bool:
        """One round: send every due head of a queue; True if any was sent (or tried)."""
        ids = await asyncio.to_thread(self._store.due, 50)
        if not ids:
            return False
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery_id: int) -> bool:
            async with limit:
                claimed = await asyncio.to_thread(self._store.claim, delivery_id, self._lease)
                if claimed is None:
                    return False
                await self._deliver(client, claimed)
                return True

        return any(await asyncio.gather(*(one(i) for i in ids)))

    # -- one delivery ------------------------------------------------------------------------

    async def _deliver(self, client: httpx.AsyncClient, claimed: Claimed) -> None:
        body = json.dumps(claimed.payload(), ensure_ascii=False, separators=(",", ":")).encode()
        secrets = [self._box.unwrap(claimed.subscription_id, s) for s in claimed.secrets]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: claimed.event_id,
            "Eseal-Event-Type": claimed.event_type,
            "Eseal-Delivery-Id": str(claimed.delivery_id),
            SIGNATURE_HEADER: signature_header(secrets, int(time.time()), body),
        }
        at = self._store.now()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            status = await asyncio.wait_for(
                self._post(client, claimed.url, headers, body), self._timeout
            )
            if not 200 <= status < 300:
                error = f"the receiver answered {status}"
        except WebhookRefused as exc:
            error = exc.detail
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within {self._timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        attempt = Attempt(at, int((time.monotonic() - started) * 1000), status, error)
        delivered = error is None
        retry_at = None if delivered else self._retry_at(claimed)
        if not delivered:
            log.info(
                "webhook delivery %s (event %s) failed: %s",
                claimed.delivery_id,
                claimed.event_id,
                error,
            )
        await asyncio.to_thread(
            self._store.finish, claimed, attempt, delivered=delivered, retry_at=retry_at
        )

    def _retry_at(self, claimed: Claimed) -> datetime | None:
        s = self._settings
        delay = s.webhook_backoff_seconds * 2 ** min(claimed.attempts - 1, 30)
        delay = min(delay, s.webhook_backoff_max_seconds)
        delay *= random.uniform(0.9, 1.1)  # receivers back up together less
        when = self._store.now() + timedelta(seconds=delay)
        if when - claimed.created_at > timedelta(hours=s.webhook_retry_hours):
            return None
        return when

    async def _post(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes
    ) -> int:
        """POST to an address the host resolved to now and that passed the check; the answer's
        status (its body is not read)."""
        s = self._settings
        dest = await check_destination(
            url, allow_http=s.webhook_allow_http, allow_private=s.webhook_allow_private
        )
        last: httpx.HTTPError | None = None
        for address in dest.addresses:
            target, extensions = _pinned(url, dest, address)
            try:
                async with client.stream(
                    "POST",
                    target,
                    content=body,
                    headers={**headers, "Host": urlsplit(url).netloc},
                    extensions=extensions,
                ) as response:
                    return response.status_code
            except httpx.ConnectError as exc:  # the next address, if the host has another
                last = exc
        assert last is not None
        raise last


def _pinned(url: str, dest: Destination, address: str) -> tuple[str, dict[str, str]]:
    """``url`` with its host replaced by ``address``; for https, TLS checks the name."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    target = urlunsplit((parts.scheme, f"{host}:{dest.port}", parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": dest.host} if dest.scheme == "https" else {}
    return target, extensions
