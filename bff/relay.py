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

import asyncpg

from bff.broker import Broker, account_channel
from bff.cache import keys as cache_keys
from bff.cache.read_through import ReadThrough
from bff.events import EVENTS_WITH_ENTRIES, encode, event_from_row

log = logging.getLogger("bff.relay")

RELAY_LOCK_ID = 0x0B_FF_0E_7E  # the advisory lock that elects the active relay
BATCH = 500
_PENDING = EVENTS_WITH_ENTRIES + " WHERE e.published_at IS NULL ORDER BY e.id LIMIT $1"
_MARK = "UPDATE account_events SET published_at = now() WHERE id = ANY($1::bigint[])"


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        broker: Broker,
        cache: ReadThrough | None = None,
        poll_s: float = 1.0,
        connect_timeout_s: float = 3.0,
    ) -> None:
        self._dsn = dsn
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
            connection: asyncpg.Connection | None = None
            try:
                # Bounded: a paused server must not hold the relay past its next attempt.
                connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s)
                await self._become_active(connection)
                await self._relay(connection)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Whatever failed (PostgreSQL, the broker, a timeout), the relay must outlive it:
                # unpublished events stay in the outbox and go out on the next attempt.
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(self._poll_s)
            finally:
                self.active = False
                if connection is not None:
                    with suppress(Exception):
                        await connection.close(timeout=2)

    async def _become_active(self, connection: asyncpg.Connection) -> None:
        # Blocks while another process relays; returns the moment its session ends.
        await connection.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK_ID)
        self.active = True
        await connection.add_listener("account_events", lambda *_: self._wake.set())
        log.info("outbox relay active")

    async def _relay(self, connection: asyncpg.Connection) -> None:
        while True:
            self._wake.clear()
            if await self.publish_pending(connection) == BATCH:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def publish_pending(self, connection: asyncpg.Connection) -> int:
        """Publish one batch of unpublished events; returns how many."""
        rows = await connection.fetch(_PENDING, BATCH)
        events = [event_from_row(dict(row)) for row in rows]
        if self._cache is not None and events:
            await self._cache.fence(
                [(cache_keys.account(event.account_id), event.sequence) for event in events]
            )
        for event in events:
            await self._broker.publish(account_channel(event.account_id), encode(event))
        if rows:
            await connection.execute(_MARK, [row["id"] for row in rows])
        return len(rows)
