"""Turns what a process knows into metric samples, every few seconds: its pools' use, its
cache counters, the Redis breaker, and the outbox relay's lag (asked of PostgreSQL, so that a
dead relay shows as growing lag)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from bff.metrics.families import (
    CACHE_LOOKUPS,
    DB_POOL_CAPACITY,
    DB_POOL_CONNECTIONS,
    REDIS_BREAKER_OPEN,
    RELAY_LAG,
    REPLICA_LAG,
)
from bff.periodic import Periodic

log = logging.getLogger("bff.metrics")

INTERVAL_S = 5.0


class Counted(Protocol):
    """A cache that keeps its own counters (`hits`, `misses`, ... in `stats`)."""

    stats: Any


@dataclass
class Sampler:
    engines: Mapping[str, AsyncEngine]
    capacity: int
    relay_lag_s: Callable[[], Awaitable[float]]
    caches: Mapping[str, Counted | None] = field(default_factory=dict)
    breaker_open: Callable[[], bool] = lambda: False
    replica_lag_s: Callable[[], Awaitable[float | None]] | None = None
    _reported: dict[tuple[str, str], int] = field(default_factory=dict)

    def job(self) -> Periodic:
        """Sampling every INTERVAL_S seconds in the background (a sample missed is no reason
        to stop sampling)."""
        return Periodic("metrics-sampler", self.sample, INTERVAL_S, log)

    async def sample(self) -> None:
        """Bring every sampled family up to date."""
        for name, engine in self.engines.items():
            pool = engine.pool
            assert isinstance(pool, QueuePool)  # create_engine's TimedQueuePool
            DB_POOL_CONNECTIONS.labels(name, "in_use").set(pool.checkedout())
            DB_POOL_CONNECTIONS.labels(name, "idle").set(pool.checkedin())
            DB_POOL_CAPACITY.labels(name).set(self.capacity)
        for cache, counted in self.caches.items():
            if counted is not None:
                self._count(cache, "hit", counted.stats.hits)
                self._count(cache, "miss", counted.stats.misses)
                self._count(cache, "stale", getattr(counted.stats, "stale", 0))
                self._count(cache, "error", getattr(counted.stats, "errors", 0))
        REDIS_BREAKER_OPEN.set(1 if self.breaker_open() else 0)
        RELAY_LAG.set(await self.relay_lag_s())
        if self.replica_lag_s is not None:
            lag = await self.replica_lag_s()
            if lag is not None:
                REPLICA_LAG.set(lag)

    def _count(self, cache: str, result: str, total: int) -> None:
        """Counters only go up: add what the cache counted since the last sample."""
        reported = self._reported.get((cache, result), 0)
        if total > reported:
            CACHE_LOOKUPS.labels(cache, result).inc(total - reported)
            self._reported[(cache, result)] = total
