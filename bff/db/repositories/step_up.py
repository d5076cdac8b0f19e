"""Step-up challenges on PostgreSQL (migration 0096)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.domain.challenges import Challenge, ChallengeStatus

# A retried createTransfer finds the challenge its first answer opened.
_OPEN = text("""
    WITH added AS (
        INSERT INTO step_up_challenges (id, transfer_id, user_id, session_id, expires_at)
        VALUES (:id, :transfer_id, :user_id, :session_id, :expires_at)
        ON CONFLICT (transfer_id) DO NOTHING
        RETURNING id)
    SELECT id FROM added
    UNION ALL SELECT id FROM step_up_challenges WHERE transfer_id = :transfer_id
    LIMIT 1
""")
_LOCK = text("""
    SELECT id, transfer_id, user_id, session_id, status, failures, expires_at,
           assertion_challenge
      FROM step_up_challenges WHERE id = :id FOR UPDATE
""")
_FAIL = text("""
    UPDATE step_up_challenges SET failures = failures + 1 WHERE id = :id RETURNING failures
""")
_SET_ASSERTION = text("""
    UPDATE step_up_challenges SET assertion_challenge = :assertion_challenge WHERE id = :id
""")
_CLOSE = text("""
    UPDATE step_up_challenges SET status = :status, resolved_at = now() WHERE id = :id
""")


class SqlStepUp:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def open(
        self, transfer_id: UUID, user_id: UUID, session_id: UUID, expires_at: datetime
    ) -> UUID:
        params = {
            "id": uuid4(),
            "transfer_id": transfer_id,
            "user_id": user_id,
            "session_id": session_id,
            "expires_at": expires_at,
        }
        found: UUID = (await self._connection.execute(_OPEN, params)).scalar_one()
        return found

    async def lock(self, challenge_id: UUID) -> Challenge | None:
        row = (await self._connection.execute(_LOCK, {"id": challenge_id})).mappings().one_or_none()
        if row is None:
            return None
        assertion = row["assertion_challenge"]
        return Challenge(
            **{
                **row,
                "status": ChallengeStatus(row["status"]),
                "assertion_challenge": bytes(assertion) if assertion is not None else None,
            }
        )

    async def fail(self, challenge_id: UUID) -> int:
        failures: int = (await self._connection.execute(_FAIL, {"id": challenge_id})).scalar_one()
        return failures

    async def close(self, challenge_id: UUID, status: ChallengeStatus) -> None:
        await self._connection.execute(_CLOSE, {"id": challenge_id, "status": status.value})

    async def set_assertion(self, challenge_id: UUID, assertion_challenge: bytes | None) -> None:
        params = {"id": challenge_id, "assertion_challenge": assertion_challenge}
        await self._connection.execute(_SET_ASSERTION, params)
