"""Accounts on PostgreSQL, including the row locks that serialise money movement. Customer account
numbers are sealed with the owner's data key; the last four digits are kept for display and a
blind index finds an account by its number."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.cache import keys as cache_keys
from bff.db.rows import KEY_COLUMNS, to_account
from bff.db.sealing import Sealing
from bff.domain.models import Account, AccountChange

_SET_STATUS = text(f"""
    WITH changed AS (
        UPDATE accounts SET status = :status, last_sequence = :sequence
         WHERE id = :account_id
     RETURNING *
    ), event AS (
        INSERT INTO account_events (account_id, sequence, kind, balance, available_balance, status)
        SELECT id, last_sequence, :kind, balance, available_balance, status FROM changed
    )
    SELECT changed.*, {KEY_COLUMNS}
      FROM changed LEFT JOIN data_keys k ON k.user_id = changed.owner_id
""")  # noqa: S608 (constant SQL fragments)

# An array parameter, not an expanding IN list: one cached statement whatever the number of ids.
_LOCK = text(f"""
    SELECT a.*, {KEY_COLUMNS} FROM accounts a LEFT JOIN data_keys k ON k.user_id = a.owner_id
     WHERE a.id = ANY(:ids) ORDER BY a.id FOR UPDATE OF a
""")  # noqa: S608 (constant SQL fragments)

# The owner's list of accounts gets a new version with every account opened.
_ADD = text("""
    WITH listed AS (
        UPDATE users SET accounts_version = accounts_version + 1 WHERE id = :owner_id
     RETURNING accounts_version
    )
    INSERT INTO accounts (id, owner_id, kind, name, currency, number_index, number_sealed,
                          number_last_four)
    VALUES (:id, :owner_id, 'customer', :name, :currency, :number_index, :number_sealed,
            :last_four)
    ON CONFLICT (number_index) DO NOTHING
    RETURNING *, (SELECT accounts_version FROM listed) AS list_version
""")


class SqlAccounts:
    def __init__(
        self, connection: AsyncConnection, fences: cache_keys.Fences, sealing: Sealing
    ) -> None:
        self._connection = connection
        self._fences = fences
        self._sealing = sealing

    async def add(
        self, owner_id: UUID, name: str, currency: str, account_number: str
    ) -> Account | None:
        """The new account, or None when the account number is already taken."""
        sealing, account_id = self._sealing, uuid4()
        key = await sealing.key_for(self._connection, owner_id)
        params = {
            "id": account_id,
            "owner_id": owner_id,
            "name": name,
            "currency": currency,
            "number_index": sealing.index("account_number", account_number),
            "number_sealed": sealing.seal(
                key, "accounts.account_number", account_id, account_number
            ),
            "last_four": account_number[-4:],
        }
        row = (await self._connection.execute(_ADD, params)).mappings().one_or_none()
        if row is None:
            return None
        self._fences.append((cache_keys.account_list(owner_id), row["list_version"]))
        # Its number is the one just sealed: nothing to open.
        return to_account({**row, "account_number": account_number})

    async def lock(self, ids: Sequence[UUID]) -> dict[UUID, Account]:
        """Lock the accounts for update, always in id order, so that two transfers touching the
        same pair of accounts queue up instead of deadlocking."""
        rows = (await self._connection.execute(_LOCK, {"ids": sorted(set(ids))})).mappings()
        return {row["id"]: self._sealing.account(row) for row in rows}

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
        return self._sealing.account(row)
