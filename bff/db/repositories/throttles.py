"""Login throttle counters on PostgreSQL (shared by every server process)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.domain.throttle import ThrottleScope, ThrottleState

Key = tuple[ThrottleScope, str]

_ENSURE = text("""
    INSERT INTO login_throttles (scope, key)
    SELECT * FROM unnest(CAST(:scopes AS text[]), CAST(:keys AS text[]))
    ON CONFLICT DO NOTHING
""")
# Rows are locked in key order so that concurrent logins touching the same pair queue up.
_LOCK = text("""
    SELECT scope, key, failures, last_attempt_at, locked_until FROM login_throttles
     WHERE (scope, key) IN (SELECT * FROM unnest(CAST(:scopes AS text[]), CAST(:keys AS text[])))
     ORDER BY scope, key
       FOR UPDATE
""")
_SAVE = text("""
    UPDATE login_throttles
       SET failures = :failures, last_attempt_at = :last_attempt_at, locked_until = :locked_until
     WHERE scope = :scope AND key = :key
""")


class SqlThrottles:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock(self, keys: Sequence[Key]) -> dict[Key, ThrottleState]:
        params = {"scopes": [scope.value for scope, _ in keys], "keys": [key for _, key in keys]}
        await self._connection.execute(_ENSURE, params)
        rows = (await self._connection.execute(_LOCK, params)).mappings()
        return {
            (ThrottleScope(row["scope"]), row["key"]): ThrottleState(
                row["failures"], row["last_attempt_at"], row["locked_until"]
            )
            for row in rows
        }

    async def save(self, key: Key, state: ThrottleState) -> None:
        await self._connection.execute(
            _SAVE,
            {
                "scope": key[0].value,
                "key": key[1],
                "failures": state.failures,
                "last_attempt_at": state.last_attempt_at,
                "locked_until": state.locked_until,
            },
        )
