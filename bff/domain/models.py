"""Plain records the domain reads and writes. Money fields are integer minor units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from bff.domain.money import Money
from bff.domain.rbac import Role


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class AccountKind(StrEnum):
    CUSTOMER = "customer"
    # Per currency, the bank's own account through which deposits enter the ledger.
    SETTLEMENT = "settlement"


class TransferKind(StrEnum):
    TRANSFER = "transfer"
    DEPOSIT = "deposit"


class TransferStatus(StrEnum):
    # Held: the amount is reserved on the source, nothing is posted yet.
    PENDING = "pending"
    COMPLETED = "completed"
    # A held transfer that was voided (rejected, failed its step-up, or expired).
    CANCELLED = "cancelled"


class EventKind(StrEnum):
    # The account as it is now: the first event of a stream that does not resume.
    SNAPSHOT = "snapshot"
    TRANSACTION_POSTED = "transaction_posted"
    STATUS_CHANGED = "status_changed"
    # A transfer was held: its amount is reserved (the available balance went down).
    TRANSFER_HELD = "transfer_held"
    # A held transfer was voided: its reservation is released.
    HOLD_RELEASED = "hold_released"


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    display_name: str
    roles: frozenset[Role]
    created_at: datetime


class RevocationReason(StrEnum):
    LOGOUT = "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere"
    REVOKED = "revoked"
    PASSWORD_CHANGED = "password_changed"
    REFRESH_TOKEN_REUSE = "refresh_token_reuse"


class SecurityEventKind(StrEnum):
    REFRESH_TOKEN_REUSE = "refresh_token_reuse"
    ROLE_ASSIGNED = "role_assigned"
    ROLE_REVOKED = "role_revoked"
    PASSWORD_CHANGED = "password_changed"
    # A wrong password for a known account; unlike the throttle's counter, a later successful
    # login does not wipe it (screening counts the day's).
    LOGIN_FAILED = "login_failed"


@dataclass(frozen=True, slots=True)
class Session:
    """A device's login: it lives until logout, revocation, idleness or its absolute expiry."""

    id: UUID
    user_id: UUID
    device_name: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """A presented refresh token, locked, with the session it belongs to."""

    session: Session
    used: bool
    revoked: bool


@dataclass(frozen=True, slots=True)
class Account:
    id: UUID
    owner_id: UUID | None
    kind: AccountKind
    name: str
    currency: str
    status: AccountStatus
    balance: int
    available_balance: int
    overdraft_limit: int
    account_number: str
    last_sequence: int
    created_at: datetime

    @property
    def balance_money(self) -> Money:
        return Money(self.balance, self.currency)

    @property
    def available_money(self) -> Money:
        return Money(self.available_balance, self.currency)


@dataclass(frozen=True, slots=True)
class Transfer:
    id: UUID
    kind: TransferKind
    status: TransferStatus
    amount: int
    currency: str
    from_account_id: UUID
    to_account_id: UUID
    from_owner_id: UUID | None
    to_owner_id: UUID | None
    memo: str | None
    initiated_by: UUID
    created_at: datetime
    # Counts status changes: the cache versions a transfer by it.
    version: int = 0
    # While PENDING (and after): when the hold is voided unless resolved first.
    hold_expires_at: datetime | None = None

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True, slots=True)
class Entry:
    """One leg of a transfer, seen from its account: a signed amount and the balance after it."""

    id: UUID
    transfer_id: UUID
    account_id: UUID
    sequence: int
    amount: int
    balance_after: int
    currency: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccountChange:
    """A new balance and sequence for a locked account, with the event it emits."""

    account_id: UUID
    sequence: int
    balance: int
    available_balance: int
    status: AccountStatus
    event: EventKind
    entry: Entry | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """Everything one transfer writes, applied atomically by the ledger repository."""

    transfer: Transfer
    changes: tuple[AccountChange, AccountChange]


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """A change of an account, numbered by the account's sequence, as subscribers receive it."""

    account_id: UUID
    sequence: int
    kind: EventKind
    balance: int
    available_balance: int
    status: AccountStatus
    currency: str
    entry: Entry | None = None
    # The transfer that caused a ledger event (posted, held or released).
    transfer_id: UUID | None = None
