"""Statements that watch the database for the metrics: how far the outbox relay is behind."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# The oldest unpublished event by id (the outbox's partial index), not a scan of all of them.
_RELAY_LAG = text("""
    SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) AS lag
      FROM (SELECT created_at FROM account_events
             WHERE published_at IS NULL ORDER BY id LIMIT 1) oldest
""")


async def relay_lag_s(engine: AsyncEngine) -> float:
    """Seconds since the oldest event the relay has not published yet was committed (0: none)."""
    async with engine.connect() as connection:
        return float((await connection.execute(_RELAY_LAG)).scalar_one())
