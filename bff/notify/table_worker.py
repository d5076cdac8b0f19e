"""Workers without a broker: they take due events straight from the `customer_events` table
(FOR UPDATE SKIP LOCKED), so `make run` needs nothing beyond PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from bff.db.customer_events import SqlCustomerEvents
from bff.domain.errors import ServiceUnavailable
from bff.notify.handler import EventHandler
from bff.notify.retries import RetryPolicy

log = logging.getLogger("bff.notify")

BATCH = 100


class TableWorker:
    def __init__(
        self,
        transaction: Callable[[], AbstractAsyncContextManager[SqlCustomerEvents]],
        handler: EventHandler,
        retries: RetryPolicy,
        poll_s: float = 0.1,
    ) -> None:
        self._transaction = transaction
        self._handler = handler
        self._retries = retries
        self._poll_s = poll_s

    async def run(self) -> None:
        """Handle events until cancelled; an outage only pauses the loop."""
        while True:
            try:
                if await self.run_once() == BATCH:
                    continue
            except ServiceUnavailable as error:
                log.warning("customer events unavailable", extra={"error": str(error)})
            await asyncio.sleep(self._poll_s)

    async def run_once(self) -> int:
        """Handle one batch of due events; returns how many were taken."""
        # The claim's transaction stays open while the batch is handled: the rows stay locked,
        # so no other worker takes them, and a worker that dies releases them.
        async with self._transaction() as claim:
            due = await claim.claim_due(BATCH)
            if not due:
                return 0
            failed = await self._handler.handle_isolating([event for event, _ in due])
            done = [event.event_id for event, _ in due if event.event_id not in failed]
            await claim.mark_dispatched(done)
            for event, attempts in due:
                if event.event_id in failed:
                    delay = self._retries.delay_after(attempts + 1)
                    if delay is None:
                        await claim.bury(event.event_id, failed[event.event_id])
                    else:
                        await claim.retry_later(event.event_id, delay, failed[event.event_id])
            return len(due)
