"""The Transfer type."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self
from uuid import UUID

import strawberry

from bff.domain import models
from schema.context import Info
from schema.enums import TransferKind, TransferStatus
from schema.ids import encode_id
from schema.money import Money
from schema.node import Node

if TYPE_CHECKING:
    from schema.account import Account


@strawberry.type(description="Money moved from one account to another, posted as two transactions.")
class Transfer(Node):
    kind: TransferKind = strawberry.field(description="A transfer between accounts or a deposit.")
    status: TransferStatus = strawberry.field(description="Where the transfer is in its life.")
    amount: Money = strawberry.field(description="The positive amount moved.")
    memo: str | None = strawberry.field(description="The sender's note, or a deposit's reference.")
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    hold_expires_at: datetime | None = strawberry.field(
        description="For a transfer that was held: when the hold is (or was) to be voided "
        "unless resolved first (UTC); null for one posted at once."
    )
    record: strawberry.Private[models.Transfer]

    @classmethod
    def of(cls, transfer: models.Transfer) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Transfer", transfer.id)),
            kind=transfer.kind,
            status=transfer.status,
            amount=Money.of(transfer.money),
            memo=transfer.memo,
            created_at=transfer.created_at,
            hold_expires_at=transfer.hold_expires_at,
            record=transfer,
        )

    @strawberry.field(description="The paying account; null when the viewer may not see it.")
    async def from_account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.account")] | None:
        return await _account(info, self.record.from_account_id)

    @strawberry.field(description="The receiving account; null when the viewer may not see it.")
    async def to_account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.account")] | None:
        return await _account(info, self.record.to_account_id)


async def _account(info: Info, account_id: UUID) -> Account | None:
    from schema.account import Account

    account = await info.context.loaders.accounts.load(account_id)
    return Account.of(account) if account else None
