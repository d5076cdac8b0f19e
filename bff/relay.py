"""The outbox relay: publishes committed account events to the broker, at least once.

Every server process runs one; a PostgreSQL advisory lock lets exactly one of them work at a
time. The others wait on the lock, so when the active process dies (and its session with it)
one of them takes over at once.
The active relay wakes on NOTIFY (sent at commit) and also polls, publishes events in id order,
then marks them published. A crash between the two republishes: subscribers drop duplicates by
sequence.

Before publishing, it also fences each changed account in the cache. The process that committed
has already done so; this second fence, driven by the durable outbox, covers a writer that could
not reach Redis when it committed while other processes could (they would otherwise serve the
old balance until the entry expired). It lands before the event, so a client that re-reads on
receiving an event never gets what the event replaced.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from bff.broker import Broker, account_channel
from bff.cache import keys as cache_keys
from bff.cache.read_through import ReadThrough
from bff.db.outbox import OutboxSession
from bff.db.sealing import Sealing
from bff.events import encode

log = logging.getLogger("bff.relay")

BATCH = 500


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        broker: Broker,
        sealing: Sealing,
        cache: ReadThrough | None = None,
        poll_s: float = 1.0,
        connect_timeout_s: float = 3.0,
    ) -> None:
        self._dsn = dsn
        self._sealing = sealing
        self._connect_timeout_s = connect_timeout_s
        self._broker = broker
        self._cache = cache
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.active = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            session: OutboxSession | None = None
            try:
                # Bounded: a paused server must not hold the relay past its next attempt.
                session = await OutboxSession.open(
                    self._dsn, self._connect_timeout_s, self._sealing
                )
                await self._become_active(session)
                await self._relay(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Whatever failed (PostgreSQL, the broker, a timeout), the relay must outlive it:
                # unpublished events stay in the outbox and go out on the next attempt.
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(self._poll_s)
            finally:
                self.active = False
                if session is not None:
                    await session.close()

    async def _become_active(self, session: OutboxSession) -> None:
        await session.become_active()
        self.active = True
        await session.on_commit(self._wake.set)
        log.info("outbox relay active")

    async def _relay(self, session: OutboxSession) -> None:
        while True:
            self._wake.clear()
            if await self.publish_pending(session) == BATCH:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def publish_pending(self, session: OutboxSession) -> int:
        """Publish one batch of unpublished events; returns how many."""
        pending = await session.pending(BATCH)
        events = [event for _, event in pending]
        if self._cache is not None and events:
            await self._cache.fence(
                [(cache_keys.account(event.account_id), event.sequence) for event in events]
            )
        if events:
            await self._broker.publish_many(
                [(account_channel(event.account_id), encode(event)) for event in events]
            )
        if pending:
            await session.mark_published([outbox_id for outbox_id, _ in pending])
        return len(pending)
