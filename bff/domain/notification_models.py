"""The records of customer notifications and the activity feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class Platform(StrEnum):
    """Which push service delivers to a device."""

    EXPO = "expo"
    FCM = "fcm"


class CustomerEventKind(StrEnum):
    MONEY_RECEIVED = "money_received"
    MONEY_SENT = "money_sent"
    NEW_SIGN_IN = "new_sign_in"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event kind, not a secret)
    ROLE_CHANGED = "role_changed"
    APP_CONNECTED = "app_connected"
    APP_DISCONNECTED = "app_disconnected"
    # A transfer waits for the customer's second factor (step-up).
    STEP_UP_REQUESTED = "step_up_requested"


# A customer cannot turn these off: they are how a taken-over account gets noticed.
SECURITY_KINDS = frozenset(
    {
        CustomerEventKind.NEW_SIGN_IN,
        CustomerEventKind.PASSWORD_CHANGED,
        # An app given access to the accounts is how a tricked customer would notice.
        CustomerEventKind.APP_CONNECTED,
        # A transfer the customer did not make, waiting for their code, is a takeover's sign.
        CustomerEventKind.STEP_UP_REQUESTED,
    }
)


@dataclass(frozen=True, slots=True)
class CustomerEvent:
    """Something that happened to a customer, as committed in the transaction that did it."""

    event_id: UUID
    user_id: UUID
    kind: CustomerEventKind
    payload: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PushDevice:
    id: UUID
    user_id: UUID
    session_id: UUID
    platform: Platform
    token: str


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a customer chose to be told (security notifications always go out)."""

    money_received: bool = True
    money_sent: bool = True
    account_changes: bool = True
    locale: str = "en_GB"

    def wants(self, kind: CustomerEventKind) -> bool:
        """Whether an event of `kind` is pushed to this customer."""
        if kind in SECURITY_KINDS:
            return True
        return {
            CustomerEventKind.MONEY_RECEIVED: self.money_received,
            CustomerEventKind.MONEY_SENT: self.money_sent,
            CustomerEventKind.ROLE_CHANGED: self.account_changes,
            CustomerEventKind.APP_DISCONNECTED: self.account_changes,
        }[kind]


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    id: int
    kind: CustomerEventKind
    occurred_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ActivityPageKey:
    """A customer's feed, newest first, before an optional entry id."""

    user_id: UUID
    first: int
    before_id: int | None = None


@dataclass(frozen=True, slots=True)
class SpendingLine:
    """Money a customer sent in one month to one counterparty, in one currency."""

    month: str  # YYYY-MM
    counterparty: str
    currency: str
    amount: int
    transfers: int
