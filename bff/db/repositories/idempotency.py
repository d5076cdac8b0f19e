"""Idempotency records on PostgreSQL, keyed by (actor, key)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.sqlstate import LOCK_NOT_AVAILABLE, sqlstate_of
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.ports import StoredResult

# Inserting the key takes it; an expired record is taken over. A concurrent transaction holding
# the same key makes this statement wait (bounded by lock_timeout) until it commits or aborts.
_CLAIM = text("""
    INSERT INTO idempotency_keys (actor_id, key, fingerprint, expires_at)
    VALUES (:actor_id, :key, :fingerprint, now() + make_interval(secs => :ttl_s))
    ON CONFLICT (actor_id, key) DO UPDATE
       SET fingerprint = excluded.fingerprint, result = NULL, created_at = now(),
           expires_at = excluded.expires_at
     WHERE idempotency_keys.expires_at < now()
    RETURNING true
""")
# A separate statement: its fresh snapshot sees the record the claim just waited for.
_STORED = text("""
    SELECT fingerprint, result FROM idempotency_keys WHERE actor_id = :actor_id AND key = :key
""")
_COMPLETE = text("""
    UPDATE idempotency_keys SET result = CAST(:result AS jsonb)
     WHERE actor_id = :actor_id AND key = :key
""")


class SqlIdempotency:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def claim(
        self, actor_id: UUID, key: str, fingerprint: str, ttl_s: int
    ) -> StoredResult | None:
        """None when this transaction now owns the key; otherwise the stored first result."""
        params = {"actor_id": actor_id, "key": key}
        try:
            taken = await self._connection.execute(
                _CLAIM, params | {"fingerprint": fingerprint, "ttl_s": float(ttl_s)}
            )
        except DBAPIError as error:
            if sqlstate_of(error) == LOCK_NOT_AVAILABLE:
                raise DomainError(
                    ErrorCode.IDEMPOTENCY_IN_PROGRESS, field="idempotencyKey"
                ) from None
            raise
        if taken.first() is not None:
            return None
        row = (await self._connection.execute(_STORED, params)).one()
        return StoredResult(row.fingerprint, row.result)

    async def complete(self, actor_id: UUID, key: str, result: dict[str, Any]) -> None:
        await self._connection.execute(
            _COMPLETE, {"actor_id": actor_id, "key": key, "result": json.dumps(result)}
        )
