"""Accounts on PostgreSQL, including the row locks that serialise money movement."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.cache import keys as cache_keys
from bff.db.rows import to_account
from bff.domain.models import Account, AccountChange

_SET_STATUS = text("""
    WITH changed AS (
        UPDATE accounts SET status = :status, last_sequence = :sequence
         WHERE id = :account_id
     RETURNING *
    ), event AS (
        INSERT INTO account_events (account_id, sequence, kind, balance, available_balance, status)
        SELECT id, last_sequence, :kind, balance, available_balance, status FROM changed
    )
    SELECT * FROM changed
""")

# An array parameter, not an expanding IN list: one cached statement whatever the number of ids.
_LOCK = text("SELECT * FROM accounts WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")

# The owner's list of accounts gets a new version with every account opened.
_ADD = text("""
    WITH listed AS (
        UPDATE users SET accounts_version = accounts_version + 1 WHERE id = :owner_id
     RETURNING accounts_version
    )
    INSERT INTO accounts (owner_id, kind, name, currency, account_number)
    VALUES (:owner_id, 'customer', :name, :currency, :account_number)
    ON CONFLICT (account_number) DO NOTHING
    RETURNING *, (SELECT accounts_version FROM listed) AS list_version
""")


class SqlAccounts:
    def __init__(self, connection: AsyncConnection, fences: cache_keys.Fences) -> None:
        self._connection = connection
        self._fences = fences

    async def add(
        self, owner_id: UUID, name: str, currency: str, account_number: str
    ) -> Account | None:
        """The new account, or None when the account number is already taken."""
        params = {
            "owner_id": owner_id,
            "name": name,
            "currency": currency,
            "account_number": account_number,
        }
        row = (await self._connection.execute(_ADD, params)).mappings().one_or_none()
        if row is None:
            return None
        self._fences.append((cache_keys.account_list(owner_id), row["list_version"]))
        return to_account(row)

    async def lock(self, ids: Sequence[UUID]) -> dict[UUID, Account]:
        """Lock the accounts for update, always in id order, so that two transfers touching the
        same pair of accounts queue up instead of deadlocking."""
        rows = (await self._connection.execute(_LOCK, {"ids": sorted(set(ids))})).mappings()
        return {row["id"]: to_account(row) for row in rows}

    async def set_status(self, change: AccountChange) -> Account:
        """Apply a status change to a locked account and record its event."""
        row = (
            (
                await self._connection.execute(
                    _SET_STATUS,
                    {
                        "account_id": change.account_id,
                        "status": change.status.value,
                        "sequence": change.sequence,
                        "kind": change.event.value,
                    },
                )
            )
            .mappings()
            .one()
        )
        self._fences.append((cache_keys.account(change.account_id), change.sequence))
        return to_account(row)
