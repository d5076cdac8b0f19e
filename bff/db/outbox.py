"""The outbox relay's own PostgreSQL session: the advisory lock that elects the one active
relay, notifications of commits, and the committed events not yet published."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Self

import asyncpg

from bff.db.rows import EVENTS_WITH_ENTRIES
from bff.db.sealing import Sealing
from bff.domain.models import AccountEvent

RELAY_LOCK_ID = 0x0B_FF_0E_7E  # the advisory lock that elects the active relay
# Migration 0003 makes every commit that adds account events NOTIFY this channel.
COMMIT_CHANNEL = "account_events"
_PENDING = EVENTS_WITH_ENTRIES + " WHERE e.published_at IS NULL ORDER BY e.id LIMIT $1"
_MARK = "UPDATE account_events SET published_at = now() WHERE id = ANY($1::bigint[])"


class OutboxSession:
    def __init__(self, connection: asyncpg.Connection, sealing: Sealing) -> None:
        self._connection = connection
        self._sealing = sealing

    @classmethod
    async def open(cls, dsn: str, timeout_s: float, sealing: Sealing) -> Self:
        """A session whose events come with their descriptions opened by `sealing`."""
        return cls(await asyncpg.connect(dsn, timeout=timeout_s), sealing)

    async def become_active(self) -> None:
        """Block while another process relays; return the moment its session ends."""
        await self._connection.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK_ID)

    async def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever a transaction that added events commits."""
        await self._connection.add_listener(COMMIT_CHANNEL, lambda *_: callback())

    async def pending(self, limit: int) -> list[tuple[int, AccountEvent]]:
        """Up to `limit` unpublished events, oldest first, with their outbox ids."""
        rows = await self._connection.fetch(_PENDING, limit)
        return [(row["id"], self._sealing.event(row)) for row in rows]

    async def mark_published(self, ids: Sequence[int]) -> None:
        await self._connection.execute(_MARK, list(ids))

    async def close(self) -> None:
        with suppress(Exception):  # it may already be broken: that is why it is being closed
            await self._connection.close(timeout=2)
