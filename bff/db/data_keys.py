"""Maintenance of customers' data keys: re-wrapping them under the current key-encryption key
(batched, while the service runs) and counting what still uses a KEK version."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.crypto.envelope import Vault, WrappedKey

# SKIP LOCKED: several runs share the work, and a key being re-wrapped holds up nobody, since
# readers never lock data keys.
_BATCH = text("""
    SELECT user_id, version, kek_version, wrapped FROM data_keys
     WHERE kek_version <> :current
     ORDER BY user_id
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
""")
_SAVE = text("""
    UPDATE data_keys SET kek_version = :kek_version, wrapped = :wrapped, rewrapped_at = now()
     WHERE user_id = :user_id
""")
_NOT_CURRENT = text("SELECT count(*) FROM data_keys WHERE kek_version <> :current")
_USING = text("SELECT count(*) FROM data_keys WHERE kek_version = :version")


async def rewrap_batch(engine: AsyncEngine, vault: Vault, limit: int) -> int:
    """Re-wrap up to `limit` data keys that are not under the current KEK, in one transaction;
    how many it did (0: none is left)."""
    current = vault.keys.reload().current_version
    async with engine.begin() as connection:
        result = await connection.execute(_BATCH, {"current": current, "limit": limit})
        rows = list(result.mappings())
        for row in rows:
            wrapped = WrappedKey(row["user_id"], row["version"], row["kek_version"], row["wrapped"])
            fresh = vault.rewrap(wrapped)
            params = {
                "user_id": fresh.owner_id,
                "kek_version": fresh.kek_version,
                "wrapped": fresh.wrapped,
            }
            await connection.execute(_SAVE, params)
    return len(rows)


async def not_current(engine: AsyncEngine, vault: Vault) -> int:
    """How many data keys are wrapped by an older KEK."""
    async with engine.connect() as connection:
        current = vault.keys.ring.current_version
        return int((await connection.execute(_NOT_CURRENT, {"current": current})).scalar_one())


async def using(engine: AsyncEngine, version: int) -> int:
    """How many data keys KEK `version` wraps."""
    async with engine.connect() as connection:
        return int((await connection.execute(_USING, {"version": version})).scalar_one())
