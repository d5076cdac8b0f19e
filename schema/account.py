"""The Account type."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry

from bff.domain import models
from bff.domain.money import Money as DomainMoney
from bff.domain.pages import TransactionPageKey
from bff.domain.policies import visible_account_number
from schema.context import Info
from schema.cost import CONNECTION
from schema.enums import AccountStatus, Currency
from schema.ids import encode_id
from schema.money import Money
from schema.node import Node
from schema.pagination import (
    After,
    Connection,
    First,
    check_first,
    decode_sequence_cursor,
    encode_cursor,
)

if TYPE_CHECKING:
    from schema.transaction import Transaction
    from schema.user import User


@strawberry.type(description="A money account with its balances and its history of transactions.")
class Account(Node):
    name: str = strawberry.field(description="The name the owner gave the account.")
    currency: Currency = strawberry.field(description="The currency the account holds.")
    status: AccountStatus = strawberry.field(description="Whether the account can move money.")
    balance: Money = strawberry.field(
        description="The ledger balance: the sum of all transactions."
    )
    available_balance: Money = strawberry.field(
        description="What can be spent now: the balance less funds on hold."
    )
    overdraft_limit: Money = strawberry.field(
        description="How far below zero the available balance may go."
    )
    created_at: datetime = strawberry.field(description="When the account was opened (UTC).")
    record: strawberry.Private[models.Account]

    @classmethod
    def of(cls, account: models.Account) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Account", account.id)),
            name=account.name,
            currency=Currency(account.currency),
            status=account.status,
            balance=Money.of(account.balance_money),
            available_balance=Money.of(account.available_money),
            overdraft_limit=Money.of(DomainMoney(account.overdraft_limit, account.currency)),
            created_at=account.created_at,
            record=account,
        )

    @strawberry.field(
        description="The 12-digit number others use to send money to this account: in full to "
        "its owner; to staff, masked to its last four digits."
    )
    def account_number(self, info: Info) -> str:
        return visible_account_number(info.context.actor, self.record)

    @strawberry.field(description="The account's owner; null for the bank's own accounts.")
    async def owner(self, info: Info) -> Annotated[User, strawberry.lazy("schema.user")] | None:
        from schema.user import User

        if self.record.owner_id is None:
            return None
        user = await info.context.loaders.users.load(self.record.owner_id)
        return User.of(user) if user else None

    @strawberry.field(
        directives=[CONNECTION], description="The account's transactions, newest first."
    )
    async def transactions(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
    ) -> Connection[Annotated[Transaction, strawberry.lazy("schema.transaction")]]:
        from schema.transaction import Transaction

        key = TransactionPageKey(
            self.record.id, check_first(first), decode_sequence_cursor(after) if after else None
        )
        page = await info.context.loaders.transaction_pages.load(key)
        return Connection.of(
            [Transaction.of(entry) for entry in page.items],
            [encode_cursor(entry.sequence) for entry in page.items],
            page.has_next,
        )
