"""Account events on the wire (broker messages) and as read back from the outbox table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import RowMapping

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


def encode(event: AccountEvent) -> bytes:
    entry = event.entry
    return json.dumps(
        {
            "account_id": str(event.account_id),
            "sequence": event.sequence,
            "kind": event.kind.value,
            "balance": event.balance,
            "available_balance": event.available_balance,
            "status": event.status.value,
            "currency": event.currency,
            "entry": None
            if entry is None
            else {
                "id": str(entry.id),
                "transfer_id": str(entry.transfer_id),
                "amount": entry.amount,
                "balance_after": entry.balance_after,
                "description": entry.description,
                "created_at": entry.created_at.isoformat(),
            },
        },
        separators=(",", ":"),
    ).encode()


def decode(message: bytes) -> AccountEvent:
    data = json.loads(message)
    account_id = UUID(data["account_id"])
    raw_entry = data["entry"]
    entry = None
    if raw_entry is not None:
        entry = Entry(
            id=UUID(raw_entry["id"]),
            transfer_id=UUID(raw_entry["transfer_id"]),
            account_id=account_id,
            sequence=data["sequence"],
            amount=raw_entry["amount"],
            balance_after=raw_entry["balance_after"],
            currency=data["currency"],
            description=raw_entry["description"],
            created_at=datetime.fromisoformat(raw_entry["created_at"]),
        )
    return AccountEvent(
        account_id=account_id,
        sequence=data["sequence"],
        kind=EventKind(data["kind"]),
        balance=data["balance"],
        available_balance=data["available_balance"],
        status=AccountStatus(data["status"]),
        currency=data["currency"],
        entry=entry,
    )
