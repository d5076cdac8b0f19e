"""The async SQLAlchemy engine over asyncpg, configured from settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bff.config import Settings
from bff.metrics.pool import timed_pool
from bff.tracing import sql as sql_spans

log = logging.getLogger("bff.db")


def asyncpg_url(url: str) -> str:
    """Accept `postgresql://` or `postgres://` URLs and select the asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_postgres_url(url: str) -> str:
    """The URL for asyncpg itself (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(settings: Settings, database_url: str, name: str = "primary") -> AsyncEngine:
    """A pooled engine whose connections carry the statement and lock timeouts, and whose every
    wait is bounded: for a pooled connection, for a new one, and for each statement's answer.
    `name` labels its pool's metrics."""
    engine = create_async_engine(
        asyncpg_url(database_url),
        poolclass=timed_pool(name),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.db_command_timeout_s,
            "server_settings": {
                "application_name": "bff",
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "lock_timeout": str(settings.db_lock_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )
    sql_spans.instrument(engine)
    return engine


async def connection_error(url: str, timeout_s: float = 3.0) -> Exception | None:
    """Why a session cannot be opened at `url` (a plain postgresql:// URL) within `timeout_s`:
    the driver's exception, or None when one opens."""
    try:
        connection = await asyncpg.connect(url, timeout=timeout_s)
    except (
        TimeoutError,
        OSError,
        ValueError,
        OverflowError,  # a port out of range
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as error:
        return error
    await connection.close()
    return None


async def postgres_reachable(url: str) -> bool:
    """Whether a PostgreSQL server answers at `url` (a plain postgresql:// URL) within 3 s."""
    return await connection_error(url) is None


class ReadinessProbe:
    """Whether PostgreSQL answers `SELECT 1`, known within `timeout_s` whatever the server does.

    Cancelling a statement on a server that stopped answering would itself wait for it, so a
    probe past its time is left to end in the background (within the command timeout), and the
    calls that come meanwhile wait on that one instead of tying up one more connection each.
    """

    def __init__(self, ping: Callable[[], Coroutine[Any, Any, None]], timeout_s: float) -> None:
        self._ping = ping
        self._timeout_s = timeout_s
        self._probe: asyncio.Task[None] | None = None

    async def __call__(self) -> bool:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._ping(), name="readiness-probe")
            # Retrieved here, so that a probe nobody waited for to the end logs nothing.
            self._probe.add_done_callback(lambda probe: probe.cancelled() or probe.exception())
        try:
            async with asyncio.timeout(self._timeout_s):
                await asyncio.shield(self._probe)
        except Exception as error:  # any failure means "not ready"
            log.warning("database not ready: %r", error)
            return False
        return True

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(BaseException):
                await self._probe
