"""A receiver of eseal's signed webhooks, with the standard library only.

    ESEAL_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py 8080

It checks ``Eseal-Signature`` over the exact bytes received (before parsing them), refuses a
``t`` older than five minutes (a captured request replayed later), and acts on each event id
once: eseal delivers at least once and retries with the same id (signed afresh, so a retry
passes the ``t`` check), so an id seen before is acknowledged without acting again.  During a
secret rotation eseal sends one ``v1`` per valid secret: accept the request if any matches one
of yours (set ``ESEAL_WEBHOOK_SECRET`` to both, comma-separated, while you switch).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: how old a signature's ``t`` may be, in seconds
TOLERANCE = 300
#: how long event ids are remembered: eseal retries an event for 24 hours
REMEMBER = 25 * 3600


class Rejected(Exception):
    """The request is not from eseal (or is a replay): answer 400 and do nothing."""


def verify(body: bytes, header: str, secrets: list[str], now: float | None = None) -> Any:
    """The event (parsed JSON) if ``header`` (``Eseal-Signature``) signs ``body`` with one of
    ``secrets`` and its ``t`` is recent; else :class:`Rejected`."""
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    macs = [value for key, _, value in fields if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not macs:
        raise Rejected("malformed Eseal-Signature")
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > TOLERANCE:
        raise Rejected("signature too old (or clock skew)")
    signed = stamps[0].encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, mac) for mac in macs):
            return json.loads(body)
    raise Rejected("no valid signature")


class SeenEvents:
    """Event ids acted on.  In production: a table with the id as its key, written in the
    transaction that acts on the event, so that acting and remembering happen together."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._seen

    def add(self, event_id: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._seen = {k: v for k, v in self._seen.items() if now - v < REMEMBER}
        self._seen[event_id] = now


def handle(event: Any) -> None:
    print(event["type"], json.dumps(event["data"], ensure_ascii=False), flush=True)


def main(port: int, secrets: list[str]) -> None:
    seen = SeenEvents()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                event = verify(body, self.headers.get("Eseal-Signature", ""), secrets)
            except Rejected as exc:
                self.send_error(400, str(exc))
                return
            # the id inside the signed body, not the (unsigned) Eseal-Event-Id header; an id
            # seen before is a retry (or a replay): acknowledge it, do not act again
            if event["id"] not in seen:
                handle(event)  # if this raises, no 2xx goes back and eseal retries
                seen.add(event["id"])
            self.send_response(204)
            self.end_headers()

    ThreadingHTTPServer(("", port), Receiver).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), os.environ["ESEAL_WEBHOOK_SECRET"].split(","))
