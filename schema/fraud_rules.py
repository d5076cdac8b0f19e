"""The screening rules as analysts read and edit them."""

from __future__ import annotations

from typing import Self
from uuid import UUID

import strawberry

from bff.domain.fraud import Rules
from schema.cost import SMALL_LIST
from schema.ids import encode_id
from schema.scalars import Decimal


@strawberry.type(description="A customer's largest single transfer before it is reviewed.")
class CustomerLimit:
    user_id: strawberry.ID = strawberry.field(description="The customer.")
    max_minor_units: Decimal = strawberry.field(
        description='In minor units of any currency, e.g. "50000" (500.00 USD, or 50000 JPY): '
        "a larger transfer is held for review whatever its score."
    )


@strawberry.type(description="One version of the fraud screening rules, applied over the score.")
class FraudRules:
    version: int = strawberry.field(
        description="The version (pass it to updateFraudRules); 0 before any change."
    )
    step_up_at: float = strawberry.field(
        description="From this score the customer confirms with a second factor."
    )
    review_at: float = strawberry.field(description="From this score an analyst reviews it.")
    block_at: float = strawberry.field(description="From this score it is refused.")
    allow_account_ids: list[strawberry.ID] = strawberry.field(
        description="Accounts whose transfers (either side) are always allowed."
    )
    block_account_ids: list[strawberry.ID] = strawberry.field(
        description="Accounts whose transfers (either side) are always refused (checked first)."
    )
    limits: list[CustomerLimit] = strawberry.field(
        description="Per-customer limits.", directives=[SMALL_LIST]
    )

    @classmethod
    def of(cls, rules: Rules) -> Self:
        return cls(
            version=rules.version,
            step_up_at=rules.step_up_at,
            review_at=rules.review_at,
            block_at=rules.block_at,
            allow_account_ids=_accounts(rules.allow_accounts),
            block_account_ids=_accounts(rules.block_accounts),
            limits=[
                CustomerLimit(
                    user_id=strawberry.ID(encode_id("User", user)),
                    max_minor_units=Decimal(str(amount)),
                )
                for user, amount in sorted(rules.limits.items())
            ],
        )


def _accounts(accounts: frozenset[UUID]) -> list[strawberry.ID]:
    return [strawberry.ID(encode_id("Account", account)) for account in sorted(accounts)]
