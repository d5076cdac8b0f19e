"""Device sessions and their refresh tokens (stored only as hashes) on PostgreSQL. Device names
are sealed with the user's data key."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.changes import Changes
from bff.db.rows import KEY_COLUMNS
from bff.db.sealing import Sealing
from bff.db.sqlstate import LOCK_NOT_AVAILABLE, sqlstate_of
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import RefreshGrant, RevocationReason, Session

_KEY = "LEFT JOIN data_keys k ON k.user_id = s.user_id"
_ADD = text(f"""
    WITH s AS (
        INSERT INTO sessions (id, user_id, device_name_sealed, device_name_index, expires_at)
        VALUES (:id, :user_id, :device_name_sealed, :device_name_index, :expires_at)
        RETURNING *
    ), token AS (
        INSERT INTO refresh_tokens (token_hash, session_id) SELECT :token_hash, id FROM s
    )
    SELECT s.*, {KEY_COLUMNS} FROM s {_KEY}
""")  # noqa: S608 (constant SQL fragments)
# NOWAIT: a second refresh racing the first with the same token is told so at once, instead of
# waiting and then looking like a replay of a stolen token.
_LOCK_TOKEN = text(f"""
    SELECT s.*, {KEY_COLUMNS}, t.used_at IS NOT NULL AS used, s.revoked_at IS NOT NULL AS revoked
      FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id {_KEY}
     WHERE t.token_hash = :token_hash
       FOR UPDATE OF t, s NOWAIT
""")  # noqa: S608 (constant SQL fragments)
_ROTATE = text(f"""
    WITH used AS (
        UPDATE refresh_tokens SET used_at = now() WHERE token_hash = :used_hash
    ), fresh AS (
        INSERT INTO refresh_tokens (token_hash, session_id) VALUES (:new_hash, :session_id)
    ), s AS (
        UPDATE sessions s SET last_used_at = now() WHERE s.id = :session_id RETURNING s.*
    )
    SELECT s.*, {KEY_COLUMNS} FROM s {_KEY}
""")  # noqa: S608 (constant SQL fragments)
_GET = text(f"SELECT s.*, {KEY_COLUMNS} FROM sessions s {_KEY} WHERE s.id = :session_id")  # noqa: S608 (constant SQL fragments)
_ACTIVE = text(f"""
    SELECT s.*, {KEY_COLUMNS} FROM sessions s {_KEY}
     WHERE s.user_id = :user_id AND s.revoked_at IS NULL AND s.expires_at > now()
     ORDER BY s.last_used_at DESC, s.id
""")  # noqa: S608 (constant SQL fragments)
_REVOKE = text("""
    UPDATE sessions SET revoked_at = now(), revoked_reason = :reason
     WHERE id = :session_id AND revoked_at IS NULL
    RETURNING user_id
""")
_REVOKE_ALL = text("""
    UPDATE sessions SET revoked_at = now(), revoked_reason = :reason
     WHERE user_id = :user_id AND revoked_at IS NULL
       AND id IS DISTINCT FROM CAST(:keep AS uuid)
""")


class SqlSessions:
    """Ending sessions is noted in `changes`, so that live streams re-check after the commit."""

    def __init__(self, connection: AsyncConnection, changes: Changes, sealing: Sealing) -> None:
        self._connection = connection
        self._changes = changes
        self._sealing = sealing

    async def add(
        self, user_id: UUID, device_name: str, refresh_token_hash: bytes, expires_at: datetime
    ) -> Session:
        sealing, session_id = self._sealing, uuid4()
        key = await sealing.key_for(self._connection, user_id)
        params = {
            "id": session_id,
            "user_id": user_id,
            "device_name_index": sealing.device(user_id, device_name),
            "device_name_sealed": sealing.seal(
                key, "sessions.device_name", session_id, device_name
            ),
            "expires_at": expires_at,
            "token_hash": refresh_token_hash,
        }
        return sealing.session((await self._connection.execute(_ADD, params)).mappings().one())

    async def get(self, session_id: UUID) -> Session | None:
        row = (
            (await self._connection.execute(_GET, {"session_id": session_id}))
            .mappings()
            .one_or_none()
        )
        return self._sealing.session(row) if row else None

    async def active(self, user_id: UUID) -> list[Session]:
        rows = (await self._connection.execute(_ACTIVE, {"user_id": user_id})).mappings()
        return [self._sealing.session(row) for row in rows]

    async def lock_refresh_token(self, token_hash: bytes) -> RefreshGrant | None:
        try:
            result = await self._connection.execute(_LOCK_TOKEN, {"token_hash": token_hash})
        except DBAPIError as error:
            if sqlstate_of(error) == LOCK_NOT_AVAILABLE:
                raise DomainError(ErrorCode.REFRESH_IN_PROGRESS, field="refreshToken") from None
            raise
        row = result.mappings().one_or_none()
        return (
            RefreshGrant(self._sealing.session(row), row["used"], row["revoked"]) if row else None
        )

    async def rotate(self, session_id: UUID, used_hash: bytes, new_hash: bytes) -> Session:
        params = {"session_id": session_id, "used_hash": used_hash, "new_hash": new_hash}
        return self._sealing.session(
            (await self._connection.execute(_ROTATE, params)).mappings().one()
        )

    async def revoke(self, session_id: UUID, reason: RevocationReason) -> bool:
        params = {"session_id": session_id, "reason": reason.value}
        ended = (await self._connection.execute(_REVOKE, params)).scalar_one_or_none()
        if ended is None:
            return False
        self._changes.users.add(ended)
        return True

    async def revoke_all(
        self, user_id: UUID, reason: RevocationReason, keep: UUID | None = None
    ) -> int:
        params = {"user_id": user_id, "reason": reason.value, "keep": keep}
        ended = int((await self._connection.execute(_REVOKE_ALL, params)).rowcount)
        if ended:
            self._changes.users.add(user_id)
        return ended
