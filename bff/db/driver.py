"""Statements sent on the asyncpg connection behind a pooled SQLAlchemy connection: the hot
path, without SQLAlchemy's per-statement work, failing as statements sent through it fail."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.failures import POSTGRESQL, RETRY_AFTER_S, is_connection_failure
from bff.domain.errors import ServiceUnavailable
from bff.tracing.sql import statement_span


async def fetchrow(connection: AsyncConnection, query: str, *args: Any) -> asyncpg.Record:
    """The one row `query` returns (see `fetch_optional`)."""
    row = await fetch_optional(connection, query, *args)
    assert row is not None, "the statement returns one row"
    return row


async def fetch_optional(
    connection: AsyncConnection, query: str, *args: Any
) -> asyncpg.Record | None:
    """The first row `query` returns, if any, sent on `connection`'s driver connection, whose
    statement cache keeps it prepared. In a transaction the connection has begun it takes part
    in it; with none begun (SQLAlchemy begins on its first statement) it is a transaction of its
    own.

    A failure on a connection the server or the network closed (SQLAlchemy's test for a
    disconnect) invalidates it, so that it never goes back to the pool, and is raised as
    `ServiceUnavailable`."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    try:
        with statement_span(query):
            row = await driver.fetchrow(query, *args)
    except Exception as error:
        if not (driver.is_closed() or is_connection_failure(error)):
            raise
        await connection.invalidate()
        raise ServiceUnavailable(POSTGRESQL, RETRY_AFTER_S) from error
    return row
