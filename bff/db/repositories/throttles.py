"""Login throttle counters on PostgreSQL (shared by every server process). Their keys (a client
address, a digest of an email) are stored as blind indexes: no address or email can be read back,
or found by hashing guesses without the index key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.sealing import Sealing
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
    def __init__(self, connection: AsyncConnection, sealing: Sealing) -> None:
        self._connection = connection
        self._sealing = sealing

    def _stored(self, key: Key) -> str:
        return self._sealing.throttle_key(key[0].value, key[1])

    async def lock(self, keys: Sequence[Key]) -> dict[Key, ThrottleState]:
        given = {(scope.value, self._stored((scope, key))): (scope, key) for scope, key in keys}
        params = {"scopes": [scope for scope, _ in given], "keys": [key for _, key in given]}
        await self._connection.execute(_ENSURE, params)
        rows = (await self._connection.execute(_LOCK, params)).mappings()
        return {
            given[(row["scope"], row["key"])]: ThrottleState(
                row["failures"], row["last_attempt_at"], row["locked_until"]
            )
            for row in rows
        }

    async def save(self, key: Key, state: ThrottleState) -> None:
        await self._connection.execute(
            _SAVE,
            {
                "scope": key[0].value,
                "key": self._stored(key),
                "failures": state.failures,
                "last_attempt_at": state.last_attempt_at,
                "locked_until": state.locked_until,
            },
        )
