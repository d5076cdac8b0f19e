"""The Transaction type: one ledger entry, seen from its account."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry

from bff.domain import models
from bff.domain.money import Money as DomainMoney
from schema.context import Info
from schema.enums import TransactionDirection
from schema.ids import encode_id
from schema.money import Money
from schema.node import Node

if TYPE_CHECKING:
    from schema.transfer import Transfer


@strawberry.type(description="A movement of money on one account: one leg of a transfer.")
class Transaction(Node):
    sequence: str = strawberry.field(
        description="The position of this transaction in its account's history, as a decimal "
        "string of a 64-bit integer. Increases by one with every change to the account."
    )
    amount: Money = strawberry.field(description="The signed amount: negative when money left.")
    direction: TransactionDirection = strawberry.field(description="DEBIT or CREDIT.")
    balance_after: Money = strawberry.field(description="The account's balance right after it.")
    description: str = strawberry.field(description="The memo, or what kind of movement it was.")
    created_at: datetime = strawberry.field(description="When it was posted (UTC).")
    record: strawberry.Private[models.Entry]

    @classmethod
    def of(cls, entry: models.Entry) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Transaction", entry.id)),
            sequence=str(entry.sequence),
            amount=Money.of(DomainMoney(entry.amount, entry.currency)),
            direction=TransactionDirection.CREDIT
            if entry.amount > 0
            else TransactionDirection.DEBIT,
            balance_after=Money.of(DomainMoney(entry.balance_after, entry.currency)),
            description=entry.description,
            created_at=entry.created_at,
            record=entry,
        )

    @strawberry.field(description="The transfer this transaction is a leg of.")
    async def transfer(self, info: Info) -> Annotated[Transfer, strawberry.lazy("schema.transfer")]:
        from schema.transfer import Transfer

        transfer = await info.context.loaders.transfers.load(self.record.transfer_id)
        # Whoever may read an account may read the transfers posted to it.
        assert transfer is not None
        return Transfer.of(transfer)
