"""Second factors on PostgreSQL: TOTP secrets sealed with their owner's data key (erasing the
customer destroys the key, and with it the secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.sealing import Sealing
from bff.domain.totp import TotpFactor

# The sealed field's name, bound into its ciphertext.
TOTP_SECRET = "second_factors.secret"  # noqa: S105 (a field name)

_TOTP = text("""
    SELECT id, user_id, status, secret_sealed, last_step FROM second_factors
     WHERE user_id = :user_id AND kind = 'totp'
""")
_DROP_PENDING_TOTP = text("""
    DELETE FROM second_factors WHERE user_id = :user_id AND kind = 'totp' AND status = 'pending'
""")
_ADD_TOTP = text("""
    INSERT INTO second_factors (id, user_id, kind, status, secret_sealed)
    VALUES (:id, :user_id, 'totp', 'pending', :secret_sealed)
""")
_ACTIVATE_TOTP = text("""
    UPDATE second_factors SET status = 'active', activated_at = now(), last_step = :step
     WHERE id = :id AND status = 'pending'
""")
_USE_TOTP = text("""
    UPDATE second_factors SET last_step = :step
     WHERE id = :id AND status = 'active' AND (last_step IS NULL OR last_step < :step)
""")
_REMOVE = text("DELETE FROM second_factors WHERE id = :id")
_HAS_ACTIVE = text("""
    SELECT EXISTS (SELECT 1 FROM second_factors WHERE user_id = :user_id AND status = 'active')
""")


class SqlSecondFactors:
    def __init__(self, connection: AsyncConnection, sealing: Sealing) -> None:
        self._connection = connection
        self._sealing = sealing

    async def totp(self, user_id: UUID) -> TotpFactor | None:
        params = {"user_id": user_id}
        row = (await self._connection.execute(_TOTP, params)).mappings().one_or_none()
        return await self._totp(row) if row is not None else None

    async def _totp(self, row: Mapping[Any, Any]) -> TotpFactor:
        key = await self._sealing.key_for(self._connection, row["user_id"])
        secret = self._sealing.vault.open(key, TOTP_SECRET, row["id"], bytes(row["secret_sealed"]))
        return TotpFactor(
            row["id"], row["user_id"], secret, row["status"] == "active", row["last_step"]
        )

    async def replace_pending_totp(self, user_id: UUID, secret: str) -> TotpFactor:
        await self._connection.execute(_DROP_PENDING_TOTP, {"user_id": user_id})
        factor_id = uuid4()
        key = await self._sealing.key_for(self._connection, user_id)
        sealed = self._sealing.seal(key, TOTP_SECRET, factor_id, secret)
        params = {"id": factor_id, "user_id": user_id, "secret_sealed": sealed}
        await self._connection.execute(_ADD_TOTP, params)
        return TotpFactor(factor_id, user_id, secret, active=False, last_step=None)

    async def activate_totp(self, factor_id: UUID, step: int) -> None:
        await self._connection.execute(_ACTIVATE_TOTP, {"id": factor_id, "step": step})

    async def use_totp(self, factor_id: UUID, step: int) -> bool:
        result = await self._connection.execute(_USE_TOTP, {"id": factor_id, "step": step})
        return bool(result.rowcount)

    async def remove(self, factor_id: UUID) -> None:
        await self._connection.execute(_REMOVE, {"id": factor_id})

    async def has_active(self, user_id: UUID) -> bool:
        return bool((await self._connection.execute(_HAS_ACTIVE, {"user_id": user_id})).scalar())
