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
    # A transfer of the customer's, held for review, and how its hold ended: posted after review
    # (told instead of its money_sent), rejected by an analyst, or voided when its hold ran out
    # or its step-up failed.
    TRANSFER_HELD = "transfer_held"
    TRANSFER_APPROVED = "transfer_approved"
    TRANSFER_REJECTED = "transfer_rejected"
    TRANSFER_EXPIRED = "transfer_expired"


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
# Nor these: a payment of theirs that has not gone as they asked (held, or not made at all).
# The money_sent preference mutes confirmations of what the customer did; these say it did not
# happen, which they must know to pay another way, and a held transfer they did not make is a
# takeover's sign. An approved transfer did go: it is their money_sent, muted with it.
PAYMENT_NOT_MADE_KINDS = frozenset(
    {
        CustomerEventKind.TRANSFER_HELD,
        CustomerEventKind.TRANSFER_REJECTED,
        CustomerEventKind.TRANSFER_EXPIRED,
    }
)
# What counts as money the customer sent, in spending summaries.
SENT_KINDS = frozenset({CustomerEventKind.MONEY_SENT, CustomerEventKind.TRANSFER_APPROVED})


@dataclass(frozen=True, slots=True)
class CustomerEvent:
    """Something that happened to a customer, as committed in the transaction that did it."""

    event_id: UUID
    user_id: UUID
    kind: CustomerEventKind
    payload: dict[str, Any]
    occurred_at: datetime

    def concerns(self, device: PushDevice) -> bool:
        """Whether the customer's `device` is told of it: a sign-in is no news to the device
        that signed in (its session registered the device, maybe before the event went out)."""
        return not (
            self.kind is CustomerEventKind.NEW_SIGN_IN
            and self.payload.get("session_id") == str(device.session_id)
        )


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
        if kind in SECURITY_KINDS or kind in PAYMENT_NOT_MADE_KINDS:
            return True
        return {
            CustomerEventKind.MONEY_RECEIVED: self.money_received,
            CustomerEventKind.MONEY_SENT: self.money_sent,
            CustomerEventKind.TRANSFER_APPROVED: self.money_sent,
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
