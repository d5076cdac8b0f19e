"""Keyset pages of records: what a page request names and what comes back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")
# Sequence numbers are PostgreSQL BIGINTs.
MAX_SEQUENCE = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool


@dataclass(frozen=True, slots=True)
class AccountPageKey:
    """An owner's accounts, oldest first, after an optional (created at, id) position."""

    owner_id: UUID
    first: int
    after: tuple[datetime, UUID] | None = None


@dataclass(frozen=True, slots=True)
class TransactionPageKey:
    """An account's transactions, newest first, before an optional sequence number."""

    account_id: UUID
    first: int
    before_sequence: int | None = None


def page_of(items: list[T], first: int) -> Page[T]:
    """The first `first` of `items`, fetched one beyond the page to learn whether more follow."""
    return Page(items[:first], len(items) > first)
