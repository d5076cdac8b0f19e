"""Money in the API: decimal strings with a currency code."""

from __future__ import annotations

from typing import Self

import strawberry

from bff.domain import money
from schema.enums import Currency
from schema.scalars import Decimal


@strawberry.type(description="An exact amount of money in a currency.")
class Money:
    amount: Decimal = strawberry.field(
        description='A decimal string with the currency\'s decimal places, e.g. "-12.34".'
    )
    currency: Currency = strawberry.field(description="The ISO 4217 currency code.")

    @classmethod
    def of(cls, value: money.Money) -> Self:
        return cls(amount=Decimal(value.format()), currency=Currency(value.currency))


@strawberry.input(description="An amount of money to move.")
class MoneyInput:
    amount: Decimal = strawberry.field(
        description='A positive decimal string such as "12.34", with at most the currency\'s '
        "decimal places; no signs, exponents or thousands separators."
    )
    currency: Currency = strawberry.field(description="The ISO 4217 currency code.")
