"""A connection pool that times how long each checkout waits."""

from __future__ import annotations

import time

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from bff.metrics.families import DB_POOL_WAIT


class TimedQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's pool for asyncio engines; `_do_get` (the one step every checkout takes:
    a free connection, a new one, or a wait for one) is timed into `bff_db_pool_wait_seconds`.
    Subclasses name the pool (`timed_pool`): SQLAlchemy recreates a pool from its class."""

    pool_name = "primary"

    def _do_get(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            DB_POOL_WAIT.labels(self.pool_name).observe(time.perf_counter() - started)


def timed_pool(name: str) -> type[TimedQueuePool]:
    """The pool class for the engine called `name` (primary, replica)."""
    return type(f"TimedQueuePool_{name}", (TimedQueuePool,), {"pool_name": name})
