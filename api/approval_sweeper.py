"""Ends the approval requests whose time ran out, in the background of each server process.

A waiting request that nobody reads again would otherwise stay ``pending`` past its
``expires_at`` (the store expires a request lazily when it is read or decided), and its
``approval.expired`` webhook event and audit entry would wait for that read.  Every
``ESEAL_APPROVAL_SWEEP_SECONDS`` each process ends the due requests
(:meth:`storage.approvals.ApprovalStore.expire_due`: each in its own transaction, the row
locked and its status checked again, so two processes sweeping at once expire a request once).
An outage of the database is logged and the next round tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from keystore.errors import EsealError

from .approval_flow import ApprovalFlow

__all__ = ["ApprovalSweeper"]

log = logging.getLogger("eseal.approvals")


class ApprovalSweeper:
    """Calls ``flow().expire_due()`` every ``every`` seconds until stopped (0: never)."""

    def __init__(self, flow: Callable[[], ApprovalFlow], every: float) -> None:
        self._flow = flow
        self.every = every
        self._task: asyncio.Task[None] | None = None
        #: requests this sweeper ended (for tests and metrics)
        self.expired = 0

    def start(self) -> None:
        if self.every > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="approval-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                ended = await run_in_threadpool(self._flow().expire_due)
            except EsealError as exc:  # the database away: the next round tries again
                log.warning("approval expiry sweep failed: %s", exc.code)
                continue
            except Exception:  # never let the sweep die with the process still serving
                log.exception("approval expiry sweep failed")
                continue
            if ended:
                self.expired += len(ended)
                log.info("approval requests expired: %d", len(ended))
