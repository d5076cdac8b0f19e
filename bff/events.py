"""Account events on the wire (broker messages) and as read back from the outbox table."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import RowMapping

from bff.cache.codec import decoder, dumps
from bff.cache.codec import encode as encode_record
from bff.domain.models import AccountEvent, AccountStatus, Entry, EventKind

# Outbox rows with what subscribers need: the account's currency and the posted entry.
EVENTS_WITH_ENTRIES = """
    SELECT e.id, e.account_id, e.sequence, e.kind, e.balance, e.available_balance, e.status,
           a.currency, le.id AS entry_id, le.transfer_id, le.amount, le.balance_after,
           le.description, le.created_at AS entry_created_at
      FROM account_events e
      JOIN accounts a ON a.id = e.account_id
      LEFT JOIN ledger_entries le ON le.id = e.entry_id
"""


def event_from_row(row: RowMapping | dict[str, Any]) -> AccountEvent:
    entry = None
    if row["entry_id"] is not None:
        entry = Entry(
            id=row["entry_id"],
            transfer_id=row["transfer_id"],
            account_id=row["account_id"],
            sequence=row["sequence"],
            amount=row["amount"],
            balance_after=row["balance_after"],
            currency=row["currency"],
            description=row["description"],
            created_at=row["entry_created_at"],
        )
    return AccountEvent(
        account_id=row["account_id"],
        sequence=row["sequence"],
        kind=EventKind(row["kind"]),
        balance=row["balance"],
        available_balance=row["available_balance"],
        status=AccountStatus(row["status"]),
        currency=row["currency"],
        entry=entry,
    )


_decode = decoder(AccountEvent)


def encode(event: AccountEvent) -> bytes:
    return dumps(encode_record(event))


def decode(message: bytes) -> AccountEvent:
    return _decode(json.loads(message))
