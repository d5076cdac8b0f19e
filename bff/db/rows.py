"""Mapping database rows to domain records: one mapping per row type, for every reader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bff.domain.models import (
    Account,
    AccountEvent,
    AccountKind,
    AccountStatus,
    Entry,
    EventKind,
    Session,
    Transfer,
    TransferKind,
    TransferStatus,
    User,
)
from bff.domain.notification_models import (
    ActivityEntry,
    CustomerEvent,
    CustomerEventKind,
    Platform,
    PushDevice,
    SpendingLine,
)
from bff.domain.rbac import Role

# SQLAlchemy's RowMapping and asyncpg's Record both read like this.
Row = Mapping[Any, Any]


def to_user(row: Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        roles=frozenset(Role(role) for role in row["roles"]),
        created_at=row["created_at"],
    )


def to_account(row: Row) -> Account:
    return Account(
        id=row["id"],
        owner_id=row["owner_id"],
        kind=AccountKind(row["kind"]),
        name=row["name"],
        currency=row["currency"],
        status=AccountStatus(row["status"]),
        balance=row["balance"],
        available_balance=row["available_balance"],
        overdraft_limit=row["overdraft_limit"],
        account_number=row["account_number"],
        last_sequence=row["last_sequence"],
        created_at=row["created_at"],
    )


def to_transfer(row: Row) -> Transfer:
    """A transfer row joined with `from_owner_id` and `to_owner_id` (see TRANSFER_WITH_OWNERS)."""
    return Transfer(
        id=row["id"],
        kind=TransferKind(row["kind"]),
        status=TransferStatus(row["status"]),
        amount=row["amount"],
        currency=row["currency"],
        from_account_id=row["from_account_id"],
        to_account_id=row["to_account_id"],
        from_owner_id=row["from_owner_id"],
        to_owner_id=row["to_owner_id"],
        memo=row["memo"],
        initiated_by=row["initiated_by"],
        created_at=row["created_at"],
        version=row["version"],
        hold_expires_at=row["hold_expires_at"],
    )


def to_session(row: Row) -> Session:
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        device_name=row["device_name"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
    )


def to_entry(row: Row) -> Entry:
    return Entry(
        id=row["id"],
        transfer_id=row["transfer_id"],
        account_id=row["account_id"],
        sequence=row["sequence"],
        amount=row["amount"],
        balance_after=row["balance_after"],
        currency=row["currency"],
        description=row["description"],
        created_at=row["created_at"],
    )


# A row's owner's data key, as columns of a row joined with `data_keys k` (bff/db/sealing.py).
KEY_COLUMNS = "k.version AS key_version, k.kek_version AS key_kek_version, k.wrapped AS key_wrapped"

# Transfers are read with the owners of both sides, which their read policy needs, and with the
# data key of who wrote the memo (sealed with it).
TRANSFER_WITH_OWNERS = """
    SELECT t.*, src.owner_id AS from_owner_id, dst.owner_id AS to_owner_id,
           k.version AS key_version, k.kek_version AS key_kek_version, k.wrapped AS key_wrapped
      FROM transfers t
      JOIN accounts src ON src.id = t.from_account_id
      JOIN accounts dst ON dst.id = t.to_account_id
      LEFT JOIN data_keys k ON k.user_id = t.initiated_by
"""


# Outbox rows with what subscribers need: the account's currency and the posted entry.
# With the data key that opens the entry's description (the transfer's writer's).
EVENTS_WITH_ENTRIES = """
    SELECT e.id, e.account_id, e.sequence, e.kind, e.balance, e.available_balance, e.status,
           e.transfer_id AS event_transfer_id, a.currency, le.id AS entry_id, le.transfer_id,
           le.amount, le.balance_after, le.description, le.created_at AS entry_created_at,
           lt.initiated_by AS writer_id,
           k.version AS key_version, k.kek_version AS key_kek_version, k.wrapped AS key_wrapped
      FROM account_events e
      JOIN accounts a ON a.id = e.account_id
      LEFT JOIN ledger_entries le ON le.id = e.entry_id
      LEFT JOIN transfers lt ON lt.id = le.transfer_id
      LEFT JOIN data_keys k ON k.user_id = lt.initiated_by
"""
# Ledger entries with the data key that opens their description.
ENTRIES_WITH_KEY = """
    SELECT e.*, t.initiated_by AS writer_id,
           k.version AS key_version, k.kek_version AS key_kek_version, k.wrapped AS key_wrapped
      FROM ledger_entries e
      JOIN transfers t ON t.id = e.transfer_id
      LEFT JOIN data_keys k ON k.user_id = t.initiated_by
"""


def to_event(row: Row) -> AccountEvent:
    """An EVENTS_WITH_ENTRIES row."""
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
        transfer_id=row["event_transfer_id"],
    )


def to_push_device(row: Row) -> PushDevice:
    return PushDevice(
        id=row["id"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        platform=Platform(row["platform"]),
        token=row["token"],
    )


def to_customer_event(row: Row) -> CustomerEvent:
    return CustomerEvent(
        event_id=row["event_id"],
        user_id=row["user_id"],
        kind=CustomerEventKind(row["kind"]),
        payload=_json(row["payload"]),
        occurred_at=row["occurred_at"],
    )


def to_activity_entry(row: Row) -> ActivityEntry:
    return ActivityEntry(
        id=row["id"],
        kind=CustomerEventKind(row["kind"]),
        occurred_at=row["occurred_at"],
        data=_json(row["data"]),
    )


def to_spending_line(row: Row) -> SpendingLine:
    return SpendingLine(
        month=row["month"],
        counterparty=row["counterparty"],
        currency=row["currency"],
        amount=int(row["amount"]),
        transfers=int(row["transfers"]),
    )


def _json(value: Any) -> dict[str, Any]:
    # asyncpg hands jsonb over as text unless a codec is set; SQLAlchemy decodes it.
    return json.loads(value) if isinstance(value, str) else dict(value)
