"""The double-entry ledger on PostgreSQL: one statement posts a whole transfer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.cache import keys as cache_keys
from bff.db.rows import TRANSFER_WITH_OWNERS, to_transfer
from bff.domain.models import Posting, Transfer

# The transfer, both legs, both balance updates and both outbox events in one round trip.
# The deferred trigger `transfers_balanced` re-checks the legs at commit.
_POST = text("""
    WITH new_transfer AS (
        INSERT INTO transfers (id, kind, status, amount, currency, from_account_id, to_account_id,
                               memo, initiated_by, created_at)
        VALUES (:transfer_id, :kind, :status, :amount, :currency, :from_id, :to_id,
                :memo, :initiated_by, :now)
    ), legs (entry_id, account_id, sequence, amount, balance, available, status, description) AS (
        VALUES (CAST(:e1 AS uuid), CAST(:a1 AS uuid), CAST(:s1 AS bigint), CAST(:m1 AS bigint),
                CAST(:b1 AS bigint), CAST(:v1 AS bigint), CAST(:st1 AS text), CAST(:d1 AS text)),
               (CAST(:e2 AS uuid), CAST(:a2 AS uuid), CAST(:s2 AS bigint), CAST(:m2 AS bigint),
                CAST(:b2 AS bigint), CAST(:v2 AS bigint), CAST(:st2 AS text), CAST(:d2 AS text))
    ), new_entries AS (
        INSERT INTO ledger_entries (id, transfer_id, account_id, sequence, amount, balance_after,
                                    currency, description, created_at)
        SELECT entry_id, :transfer_id, account_id, sequence, amount, balance, :currency,
               description, :now
          FROM legs
    ), moved AS (
        UPDATE accounts a
           SET balance = legs.balance, available_balance = legs.available,
               last_sequence = legs.sequence
          FROM legs
         WHERE a.id = legs.account_id
    )
    INSERT INTO account_events (account_id, sequence, kind, entry_id, balance, available_balance,
                                status, created_at)
    SELECT account_id, sequence, 'transaction_posted', entry_id, balance, available, status, :now
      FROM legs
""")

_TRANSFER = text(TRANSFER_WITH_OWNERS + " WHERE t.id = :transfer_id")


class SqlLedger:
    def __init__(self, connection: AsyncConnection, fences: cache_keys.Fences) -> None:
        self._connection = connection
        self._fences = fences

    async def post(self, posting: Posting) -> None:
        """Write a transfer whose accounts the caller holds locked."""
        transfer = posting.transfer
        params: dict[str, Any] = {
            "transfer_id": transfer.id,
            "kind": transfer.kind.value,
            "status": transfer.status.value,
            "amount": transfer.amount,
            "currency": transfer.currency,
            "from_id": transfer.from_account_id,
            "to_id": transfer.to_account_id,
            "memo": transfer.memo,
            "initiated_by": transfer.initiated_by,
            "now": transfer.created_at,
        }
        for index, change in enumerate(posting.changes, start=1):
            assert change.entry is not None
            params |= {
                f"e{index}": change.entry.id,
                f"a{index}": change.account_id,
                f"s{index}": change.sequence,
                f"m{index}": change.entry.amount,
                f"b{index}": change.balance,
                f"v{index}": change.available_balance,
                f"st{index}": change.status.value,
                f"d{index}": change.entry.description,
            }
        await self._connection.execute(_POST, params)
        self._fences += [
            (cache_keys.account(change.account_id), change.sequence) for change in posting.changes
        ]

    async def transfer(self, transfer_id: UUID) -> Transfer:
        row = (
            (await self._connection.execute(_TRANSFER, {"transfer_id": transfer_id}))
            .mappings()
            .one()
        )
        return to_transfer(row)
