"""Maintenance of customers' data keys: re-wrapping them under the current key-encryption key
(batched, while the service runs) and counting what still uses a KEK version."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.crypto.envelope import Vault, WrappedKey
from bff.domain.audit_models import AuditOperation

KEY_ROTATE = AuditOperation.KEY_ROTATE.value
KEY_REWRAP, KEY_RETIRE = AuditOperation.KEY_REWRAP.value, AuditOperation.KEY_RETIRE.value

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
# Key changes are audited, in the transaction that makes them.
_AUDIT = text("""
    SELECT audit_append(p_operation => :operation, p_result => 'success',
                        p_object_type => 'data_key_ring', p_detail => CAST(:detail AS jsonb))
""")
_NOT_CURRENT = text("SELECT count(*) FROM data_keys WHERE kek_version <> :current")
_USING = text("SELECT count(*) AS n FROM data_keys WHERE kek_version = :version")


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
        if rows:
            detail = json.dumps({"rewrapped": len(rows), "kek_version": current})
            await connection.execute(_AUDIT, {"operation": KEY_REWRAP, "detail": detail})
    return len(rows)


async def not_current(engine: AsyncEngine, vault: Vault) -> int:
    """How many data keys are wrapped by an older KEK."""
    async with engine.connect() as connection:
        current = vault.keys.ring.current_version
        return int((await connection.execute(_NOT_CURRENT, {"current": current})).scalar_one())


async def rotate(engine: AsyncEngine, version: int, add: Callable[[], None]) -> None:
    """Audit the coming KEK `version`, then call `add` (which appends it to the ring), in one
    transaction: a rotation is made only once the log holds its entry."""
    async with engine.begin() as connection:
        detail = json.dumps({"kek_version": version})
        await connection.execute(_AUDIT, {"operation": KEY_ROTATE, "detail": detail})
        add()


async def retire(engine: AsyncEngine, version: int, drop: Callable[[], None]) -> int:
    """Call `drop` (which removes KEK `version` from the ring) unless data keys still use it,
    and audit it; how many data keys use it (0: it was retired)."""
    async with engine.begin() as connection:
        # SHARE: no rewrap or new key can move onto the version while it is being dropped.
        await connection.execute(text("LOCK TABLE data_keys IN SHARE MODE"))
        still = int((await connection.execute(_USING, {"version": version})).scalar_one())
        if still:
            return still
        detail = json.dumps({"kek_version": version})
        await connection.execute(_AUDIT, {"operation": KEY_RETIRE, "detail": detail})
        drop()
    return 0
