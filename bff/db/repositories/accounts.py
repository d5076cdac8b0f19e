"""Accounts on PostgreSQL, including the row locks that serialise money movement."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.rows import to_account
from bff.db.tables import accounts
from bff.domain.models import Account, AccountChange, AccountKind

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


class SqlAccounts:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(
        self, owner_id: UUID, name: str, currency: str, account_number: str
    ) -> Account | None:
        """The new account, or None when the account number is already taken."""
        statement = (
            pg_insert(accounts)
            .values(
                owner_id=owner_id,
                kind=AccountKind.CUSTOMER.value,
                name=name,
                currency=currency,
                account_number=account_number,
            )
            .on_conflict_do_nothing(index_elements=[accounts.c.account_number])
            .returning(accounts)
        )
        row = (await self._connection.execute(statement)).mappings().one_or_none()
        return to_account(row) if row else None

    async def id_by_number(self, account_number: str) -> UUID | None:
        statement = select(accounts.c.id).where(
            accounts.c.account_number == account_number,
            accounts.c.kind == AccountKind.CUSTOMER.value,
        )
        return (await self._connection.execute(statement)).scalar_one_or_none()

    async def settlement_id(self, currency: str) -> UUID | None:
        statement = select(accounts.c.id).where(
            accounts.c.currency == currency, accounts.c.kind == AccountKind.SETTLEMENT.value
        )
        return (await self._connection.execute(statement)).scalar_one_or_none()

    async def lock(self, ids: Sequence[UUID]) -> dict[UUID, Account]:
        """Lock the accounts for update, always in id order, so that two transfers touching the
        same pair of accounts queue up instead of deadlocking."""
        statement = (
            select(accounts)
            .where(accounts.c.id.in_(sorted(set(ids))))
            .order_by(accounts.c.id)
            .with_for_update()
        )
        rows = (await self._connection.execute(statement)).mappings()
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
        return to_account(row)
