"""GraphQL enums. Domain enumerations are registered as they are, so one Python type serves both.

Every enum goes through `expose`, which needs a description for each value: the domain's
enums stay plain Python, and the words frontend developers read live here (or, for error
codes, in the domain's own catalogue).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import strawberry

from bff.domain.errors import ErrorCode
from bff.domain.models import AccountStatus, TransferKind, TransferStatus
from bff.domain.money import Currency
from bff.domain.notification_models import CustomerEventKind, Platform
from bff.domain.rbac import Role

E = TypeVar("E", bound=Enum)


def expose(
    enum: type[E], description: str, values: Mapping[E, str], name: str | None = None
) -> None:
    """Register `enum` as a GraphQL enum with `description`, and each value with its own;
    a value missing from `values` fails at import (KeyError), before any schema is built."""
    strawberry.enum(enum, name=name, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[enum[value.name]]


_CURRENCY_NAMES = {
    Currency.USD: "US dollar",
    Currency.EUR: "Euro",
    Currency.GBP: "Pound sterling",
    Currency.CHF: "Swiss franc",
    Currency.CAD: "Canadian dollar",
    Currency.AUD: "Australian dollar",
    Currency.SEK: "Swedish krona",
    Currency.JPY: "Japanese yen",
    Currency.KRW: "South Korean won",
    Currency.BHD: "Bahraini dinar",
    Currency.KWD: "Kuwaiti dinar",
}
expose(
    Currency,
    "ISO 4217 code of a currency the bank holds accounts in.",
    {
        currency: f"{_CURRENCY_NAMES[currency]}: amounts have {currency.exponent} decimal places."
        for currency in Currency
    },
    name="CurrencyCode",
)
expose(
    AccountStatus,
    "Whether an account can move money.",
    {
        AccountStatus.ACTIVE: "Sends and receives money.",
        AccountStatus.FROZEN: "Stopped by staff: neither sends nor receives until unfrozen.",
        AccountStatus.CLOSED: "Closed for good: neither sends nor receives.",
    },
)
expose(
    TransferStatus,
    "Where a transfer is in its life.",
    {
        TransferStatus.PENDING: "Held: the amount is reserved on the paying account (its "
        "available balance is lower) but nothing is posted until it is approved or confirmed.",
        TransferStatus.COMPLETED: "Posted to both accounts; final (corrections are new transfers).",
        TransferStatus.CANCELLED: "A held transfer that was voided (rejected, not confirmed, or "
        "expired): its reservation was released and nothing was posted.",
    },
)
expose(
    TransferKind,
    "What moved the money.",
    {
        TransferKind.TRANSFER: "Money sent from one account to another.",
        TransferKind.DEPOSIT: "Money that entered the bank, credited by an operator.",
    },
)
expose(
    Role,
    "A role a user holds; each grants a fixed set of permissions.",
    {
        Role.CUSTOMER: "Opens accounts and sends money from them.",
        Role.SUPPORT: "Reads any user and account, and freezes and unfreezes accounts.",
        Role.OPERATOR: "Deposits funds into customer accounts.",
        Role.ADMIN: "Every staff power, and assigns and revokes roles (never their own).",
        Role.AUDITOR: "Reads any user and account, and changes nothing.",
        Role.FRAUD_ANALYST: "Works the review queue of held transfers (approves or rejects "
        "them, never their own) and edits the fraud screening rules.",
    },
)
expose(
    ErrorCode,
    "Stable machine-readable codes of expected failures. New codes may be added.",
    {code: code.description for code in ErrorCode},
    name="UserErrorCode",
)

expose(
    Platform,
    "The push service that delivers to a device.",
    {
        Platform.EXPO: "Expo's push service (an `ExponentPushToken[...]` token).",
        Platform.FCM: "Firebase Cloud Messaging (an FCM registration token).",
    },
    name="PushPlatform",
)
expose(
    CustomerEventKind,
    "What happened, in an activity entry or a notification.",
    {
        CustomerEventKind.MONEY_RECEIVED: "Money arrived in one of the customer's accounts.",
        CustomerEventKind.MONEY_SENT: "Money left one of the customer's accounts.",
        CustomerEventKind.NEW_SIGN_IN: "Someone signed in to the customer's user on a device.",
        CustomerEventKind.PASSWORD_CHANGED: "The customer's password was changed.",
        CustomerEventKind.ROLE_CHANGED: "A role was given to or taken from the customer.",
        CustomerEventKind.APP_CONNECTED: "The customer gave a third-party app access.",
        CustomerEventKind.APP_DISCONNECTED: "A third-party app's access ended.",
        CustomerEventKind.STEP_UP_REQUESTED: (
            "A transfer waits for the customer to confirm it with a second factor."
        ),
        CustomerEventKind.TRANSFER_HELD: (
            "A transfer of the customer's is held for a check; its amount is set aside meanwhile."
        ),
        CustomerEventKind.TRANSFER_APPROVED: (
            "A held transfer of the customer's was approved and sent (told instead of MONEY_SENT)."
        ),
        CustomerEventKind.TRANSFER_REJECTED: (
            "A held transfer of the customer's was declined after a check; nothing was sent."
        ),
        CustomerEventKind.TRANSFER_EXPIRED: (
            "A held transfer of the customer's was cancelled, unchecked or unconfirmed in time "
            "or after a failed confirmation; nothing was sent."
        ),
    },
    name="ActivityKind",
)


class TransactionDirection(Enum):
    DEBIT = "debit"
    CREDIT = "credit"


expose(
    TransactionDirection,
    "Whether a transaction took money out of the account or put it in.",
    {
        TransactionDirection.DEBIT: "Money left the account.",
        TransactionDirection.CREDIT: "Money entered the account.",
    },
)


__all__ = [
    "AccountStatus",
    "Currency",
    "CustomerEventKind",
    "ErrorCode",
    "Platform",
    "Role",
    "TransactionDirection",
    "TransferKind",
    "TransferStatus",
    "expose",
]
