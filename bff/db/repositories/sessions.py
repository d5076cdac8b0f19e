"""Device sessions (refresh tokens stored as hashes) on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.tables import sessions
from bff.domain.models import Session


class SqlSessions:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(
        self, user_id: UUID, device_name: str, refresh_token_hash: bytes, expires_at: datetime
    ) -> Session:
        statement = (
            insert(sessions)
            .values(
                user_id=user_id,
                device_name=device_name,
                refresh_token_hash=refresh_token_hash,
                expires_at=expires_at,
            )
            .returning(sessions.c.id, sessions.c.created_at)
        )
        row = (await self._connection.execute(statement)).one()
        return Session(row.id, user_id, device_name, row.created_at, expires_at)
