"""GraphQL enums. Domain enumerations are registered as they are, so one Python type serves both."""

from __future__ import annotations

from enum import Enum

import strawberry

from bff.domain.errors import ErrorCode
from bff.domain.models import AccountStatus, TransferKind, TransferStatus
from bff.domain.money import Currency
from bff.domain.rbac import Role

strawberry.enum(
    Currency,
    name="CurrencyCode",
    description="ISO 4217 code of a currency the bank holds accounts in.",
)
strawberry.enum(
    AccountStatus,
    description="Whether an account can move money: ACTIVE can, FROZEN and CLOSED cannot.",
)
strawberry.enum(TransferStatus, description="Where a transfer is in its life: COMPLETED is posted.")
strawberry.enum(
    TransferKind,
    description="TRANSFER moves money between two accounts; DEPOSIT brings money into the bank.",
)
strawberry.enum(Role, description="A role a user holds; each grants a fixed set of permissions.")
strawberry.enum(
    ErrorCode,
    name="UserErrorCode",
    description="Stable machine-readable codes of expected failures. New codes may be added.",
)
for _value in ErrorCode.__strawberry_definition__.values:  # type: ignore[attr-defined]
    _value.description = ErrorCode[_value.name].description


@strawberry.enum(description="Whether a transaction took money out of the account or put it in.")
class TransactionDirection(Enum):
    DEBIT = strawberry.enum_value("debit", description="Money left the account.")
    CREDIT = strawberry.enum_value("credit", description="Money entered the account.")


__all__ = [
    "AccountStatus",
    "Currency",
    "ErrorCode",
    "Role",
    "TransactionDirection",
    "TransferKind",
    "TransferStatus",
]
