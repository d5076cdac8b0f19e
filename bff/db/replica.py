"""Lag-tolerant reads on a streaming replica (`DATABASE_REPLICA_URL`): history pages.

Read-your-writes is kept by sequence, not by a time window: a reader asks for a page of an
account whose sequence it has already seen (from the primary or the fenced cache), and the
replica serves the page only if it has replayed that account up to that sequence; otherwise
the primary does. So a customer who just sent money sees the transfer in the history at once,
and a page cached under an account's sequence is never missing an entry of that sequence.

The replica is skipped altogether while its measured replay lag is beyond
`BFF_DB_REPLICA_MAX_LAG_S` (or not yet measured), and for a few seconds after it failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.config import Settings
from bff.db.engine import create_engine
from bff.db.reads import Reads
from bff.db.sealing import Sealing
from bff.domain.models import Entry
from bff.domain.pages import TransactionPageKey
from bff.metrics.families import REPLICA_READS

log = logging.getLogger("bff.db.replica")

# After a failure, the replica is left alone this long before it is tried again.
FAILURE_PAUSE_S = 5.0
# Zero while the replica has replayed all it received (an idle primary sends nothing new).
_LAG = text("""
    SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
           END AS lag
""")
_SEQUENCES = text("SELECT id, last_sequence FROM accounts WHERE id = ANY(CAST(:ids AS uuid[]))")


class Replica:
    """A replica's engine (autocommit, its own pool) and what is known of its health."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.engine: AsyncEngine = create_engine(settings, url, name="replica").execution_options(
            isolation_level="AUTOCOMMIT"
        )
        self.max_lag_s = settings.db_replica_max_lag_s
        self.lag_s: float | None = None
        self._failed_at = -FAILURE_PAUSE_S

    @property
    def usable(self) -> bool:
        recovering = time.monotonic() - self._failed_at < FAILURE_PAUSE_S
        return not recovering and self.lag_s is not None and self.lag_s <= self.max_lag_s

    def failed(self, error: BaseException) -> None:
        log.warning("replica unavailable; reading from the primary: %r", error)
        self._failed_at = time.monotonic()

    async def measure_lag(self) -> float | None:
        """The replica's replay lag in seconds (None when it cannot be asked)."""
        try:
            async with self.engine.connect() as connection:
                self.lag_s = float((await connection.execute(_LAG)).scalar_one())
        except Exception as error:  # unreachable, or not a replica at all: not usable
            self.lag_s = None
            self.failed(error)
        return self.lag_s

    async def caught_up(self, needed: dict[UUID, int]) -> set[UUID]:
        """The accounts the replica has replayed up to the sequence `needed` for each."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(_SEQUENCES, {"ids": list(needed)})
            return {row.id for row in rows if row.last_sequence >= needed[row.id]}

    async def dispose(self) -> None:
        await self.engine.dispose()


class ReplicaReads(Reads):
    """The primary's reads, with history pages from the replica wherever it is fresh enough."""

    def __init__(self, engine: AsyncEngine, sealing: Sealing, replica: Replica) -> None:
        super().__init__(engine, sealing)
        self.replica = replica
        self._on_replica = Reads(replica.engine, sealing)

    async def transaction_pages(
        self, keys: Sequence[TransactionPageKey], fresh_as_of: Sequence[int] | None = None
    ) -> list[list[Entry]]:
        if fresh_as_of is None or not self.replica.usable:
            target = "primary" if fresh_as_of is None else "primary_lagging"
            REPLICA_READS.labels(target).inc(len(keys))
            return await super().transaction_pages(keys)
        pages: list[list[Entry] | None] = [None] * len(keys)
        try:
            needed: dict[UUID, int] = {}
            for key, sequence in zip(keys, fresh_as_of, strict=True):
                needed[key.account_id] = max(sequence, needed.get(key.account_id, 0))
            caught_up = await self.replica.caught_up(needed)
            served = [i for i, key in enumerate(keys) if key.account_id in caught_up]
            if served:
                found = await self._on_replica.transaction_pages([keys[i] for i in served])
                for i, page in zip(served, found, strict=True):
                    pages[i] = page
            REPLICA_READS.labels("replica").inc(len(served))
            REPLICA_READS.labels("primary_behind").inc(len(keys) - len(served))
        except Exception as error:
            # Whatever the replica did (went away, cancelled a query in conflict with its
            # recovery), the primary can answer: it is optional, the primary is not.
            self.replica.failed(error)
            REPLICA_READS.labels("primary_failed").inc(len(keys))
        rest = [i for i, page in enumerate(pages) if page is None]
        if rest:
            found = await super().transaction_pages([keys[i] for i in rest])
            for i, page in zip(rest, found, strict=True):
                pages[i] = page
        return [page if page is not None else [] for page in pages]
