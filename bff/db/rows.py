"""Mapping database rows to domain records (shared by repositories and dataloaders)."""

from __future__ import annotations

from sqlalchemy import RowMapping

from bff.domain.models import (
    Account,
    AccountKind,
    AccountStatus,
    Entry,
    Transfer,
    TransferKind,
    TransferStatus,
    User,
)
from bff.domain.rbac import Role

Row = RowMapping


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


# Transfers are read with the owners of both sides, which their read policy needs.
TRANSFER_WITH_OWNERS = """
    SELECT t.*, src.owner_id AS from_owner_id, dst.owner_id AS to_owner_id
      FROM transfers t
      JOIN accounts src ON src.id = t.from_account_id
      JOIN accounts dst ON dst.id = t.to_account_id
"""
