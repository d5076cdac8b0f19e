"""Housekeeping that operators schedule (`bff purge`, e.g. hourly from cron or a k8s CronJob)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Idempotency keys are kept at least 24 hours (BFF_IDEMPOTENCY_TTL_S); expired ones only take space.
_EXPIRED_KEYS = text("DELETE FROM idempotency_keys WHERE expires_at < now()")
# Published account events past retention: a client resuming from before them is told to reload
# (RESUME_TOO_OLD). Unpublished ones are kept whatever their age: the relay still owes them.
_OLD_EVENTS = text("""
    DELETE FROM account_events
     WHERE published_at IS NOT NULL AND created_at < now() - make_interval(days => :days)
""")


@dataclass(frozen=True)
class Purged:
    idempotency_keys: int
    account_events: int


async def purge(engine: AsyncEngine, event_retention_days: int) -> Purged:
    """Delete expired idempotency keys and account events older than the retention window."""
    async with engine.begin() as connection:
        keys = await connection.execute(_EXPIRED_KEYS)
        events = await connection.execute(_OLD_EVENTS, {"days": event_retention_days})
    return Purged(keys.rowcount, events.rowcount)
