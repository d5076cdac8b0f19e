"""Security events (refresh-token reuse, role and password changes) on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.domain.models import SecurityEventKind

_RECORD = text("""
    INSERT INTO security_events (kind, user_id, actor_id, session_id, detail)
    VALUES (:kind, :user_id, :actor_id, :session_id, CAST(:detail AS jsonb))
""")


class SqlSecurityEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record(
        self,
        kind: SecurityEventKind,
        user_id: UUID | None,
        actor_id: UUID | None,
        session_id: UUID | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self._connection.execute(
            _RECORD,
            {
                "kind": kind.value,
                "user_id": user_id,
                "actor_id": actor_id,
                "session_id": session_id,
                "detail": json.dumps(detail or {}),
            },
        )
