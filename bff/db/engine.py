"""The async SQLAlchemy engine over asyncpg, configured from settings."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bff.config import Settings


def asyncpg_url(url: str) -> str:
    """Accept `postgresql://` or `postgres://` URLs and select the asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_postgres_url(url: str) -> str:
    """The URL for asyncpg itself (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(settings: Settings, database_url: str) -> AsyncEngine:
    """A pooled engine whose connections carry the statement and lock timeouts."""
    return create_async_engine(
        asyncpg_url(database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args={
            "server_settings": {
                "application_name": "bff",
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "lock_timeout": str(settings.db_lock_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            }
        },
    )


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
