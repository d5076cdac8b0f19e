"""Sealing the rows written before personal fields were sealed (migration 0021).

Emails, display names, device names and customer account numbers of older rows move from their
plaintext columns into sealed ones, with the blind indexes that logins and transfers by number
look them up by; then the constraints that refuse plaintext are validated for every row, not
only new ones. `bff migrate` (and `bff serve --migrate`) runs it after the migrations, in
batches of one transaction each, while servers run (SKIP LOCKED: nobody waits); a sealed row is
not selected again, so running it twice does nothing the second time.

Not covered: memos of transfers posted before migration 0022, which the append-only ledger keeps
as they were written (its triggers refuse any change to a posted row).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bff.db.sealing import Sealing

BATCH = 500
_Batch = Callable[[AsyncConnection, Sealing, int], Awaitable[int]]

_USERS = text("""
    SELECT id, email, display_name FROM users
     WHERE email IS NOT NULL OR display_name IS NOT NULL
     ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_SEAL_USER = text("""
    UPDATE users SET email = NULL, display_name = NULL, email_index = :email_index,
                     email_sealed = :email_sealed, display_name_sealed = :display_name_sealed
     WHERE id = :id
""")
_SESSIONS = text("""
    SELECT id, user_id, device_name FROM sessions WHERE device_name IS NOT NULL
     ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_SEAL_SESSION = text("""
    UPDATE sessions SET device_name = NULL, device_name_index = :device_name_index,
                        device_name_sealed = :device_name_sealed
     WHERE id = :id
""")
_ACCOUNTS = text("""
    SELECT id, owner_id, account_number FROM accounts
     WHERE kind = 'customer' AND account_number IS NOT NULL
     ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_SEAL_ACCOUNT = text("""
    UPDATE accounts SET account_number = NULL, number_index = :number_index,
                        number_sealed = :number_sealed, number_last_four = :last_four
     WHERE id = :id
""")
_VALIDATE = [
    text("ALTER TABLE users VALIDATE CONSTRAINT users_no_plaintext"),
    text("ALTER TABLE sessions VALIDATE CONSTRAINT sessions_no_plaintext"),
    text("ALTER TABLE accounts VALIDATE CONSTRAINT accounts_customer_number_sealed"),
]


@dataclass(frozen=True, slots=True)
class Sealed:
    """How many older rows of each table were sealed."""

    users: int = 0
    sessions: int = 0
    accounts: int = 0


async def seal_unsealed_rows(engine: AsyncEngine, sealing: Sealing, batch: int = BATCH) -> Sealed:
    """Seal every row still holding plaintext personal fields, then validate the constraints
    that keep them out."""
    counts = Sealed(
        users=await _all_batches(engine, sealing, _seal_users, batch),
        sessions=await _all_batches(engine, sealing, _seal_sessions, batch),
        accounts=await _all_batches(engine, sealing, _seal_accounts, batch),
    )
    async with engine.begin() as connection:
        for statement in _VALIDATE:
            await connection.execute(statement)
    return counts


async def _all_batches(engine: AsyncEngine, sealing: Sealing, seal: _Batch, batch: int) -> int:
    total = 0
    while True:
        async with engine.begin() as connection:
            done = await seal(connection, sealing, batch)
        total += done
        if done < batch:
            return total


async def _seal_users(connection: AsyncConnection, sealing: Sealing, limit: int) -> int:
    rows = (await connection.execute(_USERS, {"limit": limit})).mappings().all()
    for row in rows:
        key = await sealing.key_for(connection, row["id"])
        email, name = row["email"], row["display_name"]
        params = {
            "id": row["id"],
            "email_index": sealing.index("email", email) if email is not None else None,
            "email_sealed": (
                sealing.seal(key, "users.email", row["id"], email) if email is not None else None
            ),
            "display_name_sealed": (
                sealing.seal(key, "users.display_name", row["id"], name)
                if name is not None
                else None
            ),
        }
        await connection.execute(_SEAL_USER, params)
    return len(rows)


async def _seal_sessions(connection: AsyncConnection, sealing: Sealing, limit: int) -> int:
    rows = (await connection.execute(_SESSIONS, {"limit": limit})).mappings().all()
    for row in rows:
        key = await sealing.key_for(connection, row["user_id"])
        device = row["device_name"]
        params = {
            "id": row["id"],
            "device_name_index": sealing.device(row["user_id"], device),
            "device_name_sealed": sealing.seal(key, "sessions.device_name", row["id"], device),
        }
        await connection.execute(_SEAL_SESSION, params)
    return len(rows)


async def _seal_accounts(connection: AsyncConnection, sealing: Sealing, limit: int) -> int:
    rows = (await connection.execute(_ACCOUNTS, {"limit": limit})).mappings().all()
    for row in rows:
        key = await sealing.key_for(connection, row["owner_id"])
        number = row["account_number"]
        params = {
            "id": row["id"],
            "number_index": sealing.index("account_number", number),
            "number_sealed": sealing.seal(key, "accounts.account_number", row["id"], number),
            "last_four": number[-4:],
        }
        await connection.execute(_SEAL_ACCOUNT, params)
    return len(rows)
