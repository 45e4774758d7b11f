"""A front system's pull of the centre's registry feed, and its filings upward (issue 19).

One thread per front process: at start and then every ``ESEAL_FEED_INTERVAL_SECONDS`` it
asks the centre for the batches after its cursor until the centre says there is no more,
then sends the access forms it owes the centre (:mod:`storage.filings`).

Each batch is checked before anything of it is used, and refused (logged at WARNING as
``feed batch refused``, counted, and listed by ``GET /v1/registry/status``) unless:
the ``Eseal-Feed-Signature`` verifies over the exact body with the pinned feed certificate
(``ESEAL_UPSTREAM_FEED_CERTIFICATE``, or the centre's ``/v1/registry/feed/certificate`` as
first fetched: trust on first use, kept in the replica's database); the body is the feed's
format; it echoes the random nonce of this request; it starts at the replica's cursor; its
sequence does not go back; and it was issued after the last batch accepted.  A refused batch
changes nothing, and the next round asks again.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import threading
from datetime import datetime
from typing import Any

import httpx

from keystore.feed_key import FeedSignatureInvalid, verify_feed_signature
from storage.feed import FeedKind

from .feed import FEED_FORMAT, SIGNATURE_HEADER
from .front import FrontContainer

__all__ = ["FeedRefused", "FrontSync"]

log = logging.getLogger("eseal.front")


class FeedRefused(Exception):
    """A batch that failed a check; nothing of it was applied."""


class FrontSync:
    def __init__(self, c: FrontContainer, *, client: httpx.Client | None = None) -> None:
        self._c = c
        settings = c.settings
        token = settings.upstream_token.get_secret_value() if settings.upstream_token else ""
        self._client = client or httpx.Client(
            base_url=str(settings.upstream_url).rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            trust_env=False,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="eseal-front-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.round()
            self._stop.wait(self._c.settings.feed_interval_seconds)

    def round(self) -> None:
        """One pull and one pass over the filings; failures are logged, never raised."""
        try:
            self.pull()
        except FeedRefused as refused:
            self._c.refused(str(refused))
            log.warning("feed batch refused: %s", refused)
        except (httpx.HTTPError, OSError) as err:
            log.info("the centre is not reachable: %s", type(err).__name__)
        except Exception as err:
            log.exception("the feed pull failed: %s", type(err).__name__)
        try:
            self.file_forms()
        except (httpx.HTTPError, OSError) as err:
            log.info("access forms not filed yet: %s", type(err).__name__)
        except Exception as err:
            log.exception("filing the access forms failed: %s", type(err).__name__)

    # -- the feed --------------------------------------------------------------------------

    def _pinned(self) -> str:
        """The configured feed certificate (it always wins), else the one pinned on first
        contact."""
        state = self._c.replica.state()
        configured = self._c.settings.upstream_feed_certificate
        if configured is not None:
            pem = configured.read_text()
            if pem != state.feed_certificate:
                self._c.replica.pin(pem)
            return pem
        if state.feed_certificate:
            return state.feed_certificate
        answer = self._client.get("/v1/registry/feed/certificate")
        answer.raise_for_status()
        pem = answer.text
        log.warning("pinned the centre's feed certificate on first contact")
        self._c.replica.pin(pem)
        return pem

    def pull(self) -> int:
        """Apply batches until the centre has no more; the number of records written."""
        written = 0
        pinned = self._pinned()
        while not self._stop.is_set():
            state = self._c.replica.state()
            nonce = secrets.token_urlsafe(16)
            answer = self._client.get(
                "/v1/registry/feed",
                params={
                    "after": state.cursor,
                    "limit": self._c.settings.feed_batch_size,
                    "nonce": nonce,
                },
            )
            if answer.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"feed answered {answer.status_code}", request=answer.request, response=answer
                )
            batch = _checked(answer, pinned, nonce, state.cursor, state.sequence, state.issued_at)
            revoked = self._revoked_keys(batch["changes"])
            try:
                written += self._c.replica.apply(
                    after=batch["after"],
                    next_cursor=batch["next"],
                    sequence=batch["sequence"],
                    issued_at=datetime.fromisoformat(batch["issued_at"]),
                    changes=batch["changes"],
                    pki=batch["pki"],
                    revoked_keys=revoked,
                )
            except ValueError as err:
                if self._c.replica.state().cursor != state.cursor:
                    break  # another worker of this front applied it first: nothing lost
                raise FeedRefused(str(err)) from None
            finally:
                self._c.forget_state()
            if not batch["more"]:
                break
        return written

    def _revoked_keys(self, changes: list[dict[str, Any]]) -> list[str]:
        """The front's keys whose filing at the centre the batch says was revoked."""
        ids = [
            str(change["key"])
            for change in changes
            if change["kind"] == FeedKind.ACCESS.value
            and (change.get("record") or {}).get("revoked_at")
        ]
        return self._c.filings.keys_of_filings(ids)

    # -- the filings -----------------------------------------------------------------------

    def file_forms(self) -> int:
        filed = 0
        for filing in self._c.filings.due():
            answer = self._client.post(
                "/v1/access-forms",
                json={
                    "front_key_id": filing.key_id,
                    "name": filing.name,
                    "access_form": filing.form,
                },
            )
            if answer.status_code in (200, 201):
                self._c.filings.filed(filing.key_id, str(answer.json()["id"]))
                filed += 1
                log.info("access form of key %s filed with the centre", filing.key_id)
            else:
                self._c.filings.failed(
                    filing.key_id,
                    f"HTTP {answer.status_code}",
                    self._c.settings.feed_interval_seconds,
                )
        return filed


def _checked(
    answer: httpx.Response,
    pinned: str,
    nonce: str,
    cursor: int,
    sequence: int,
    last_issued: datetime | None,
) -> dict[str, Any]:
    """The batch of ``answer`` if it passes every check of the module docstring."""
    body = answer.content
    try:
        signature = base64.b64decode(answer.headers.get(SIGNATURE_HEADER, ""), validate=True)
    except (binascii.Error, ValueError):
        raise FeedRefused("the signature header is not base64") from None
    try:
        verify_feed_signature(pinned, body, signature)
    except FeedSignatureInvalid as err:
        raise FeedRefused(err.detail) from None
    try:
        batch = json.loads(body)
        issued = datetime.fromisoformat(batch["issued_at"])
        after, next_cursor, seq = int(batch["after"]), int(batch["next"]), int(batch["sequence"])
        fmt = batch["feed"]
        got_nonce = batch["nonce"]
        if not isinstance(batch["changes"], list) or not isinstance(batch["pki"], dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise FeedRefused("the batch is not a feed batch") from None
    if fmt != FEED_FORMAT:
        raise FeedRefused(f"unknown feed format {str(fmt)[:40]!r}")
    if got_nonce != nonce:
        raise FeedRefused("the batch answers another request (nonce differs): a replay")
    if after != cursor:
        raise FeedRefused(f"the batch starts at {after}, the replica stands at {cursor}")
    if seq < sequence or next_cursor < after:
        raise FeedRefused("the batch's sequence goes back: out of order")
    if last_issued is not None and issued <= last_issued:
        raise FeedRefused("the batch is not newer than the last one accepted: a replay")
    return dict(batch)
