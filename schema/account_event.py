"""The AccountEvent type: what a live account stream delivers."""

from __future__ import annotations

from typing import Self

import strawberry

from bff.domain import models
from bff.domain.models import AccountStatus, EventKind
from bff.domain.money import Money as DomainMoney
from schema.enums import expose
from schema.ids import encode_id
from schema.money import Money
from schema.transaction import Transaction

expose(
    EventKind,
    "What an account event reports.",
    {
        EventKind.SNAPSHOT: "The account as it is now: the first event when not resuming.",
        EventKind.TRANSACTION_POSTED: "A transaction was posted; `transaction` holds it.",
        EventKind.STATUS_CHANGED: "The account was frozen or unfrozen; `status` holds the new one.",
        EventKind.TRANSFER_HELD: "A transfer from the account was held: its amount is reserved "
        "(`availableBalance` went down); `transferId` names it.",
        EventKind.HOLD_RELEASED: "A held transfer was voided: its reservation is released "
        "(`availableBalance` went back up); `transferId` names it.",
    },
    name="AccountEventKind",
)


@strawberry.type(description="A change of an account, in the account's sequence order.")
class AccountEvent:
    account_id: strawberry.ID = strawberry.field(description="The account's global ID.")
    sequence: str = strawberry.field(
        description="The account's sequence after this change (a decimal 64-bit integer). "
        "Keep the last one received: resubscribe with it as `afterSequence` to resume."
    )
    kind: EventKind = strawberry.field(description="What happened.")
    balance: Money = strawberry.field(description="The ledger balance after the change.")
    available_balance: Money = strawberry.field(description="What can be spent after it.")
    status: AccountStatus = strawberry.field(description="The account's status after it.")
    transaction: Transaction | None = strawberry.field(
        description="The transaction posted, for TRANSACTION_POSTED; null otherwise."
    )
    transfer_id: strawberry.ID | None = strawberry.field(
        description="The global ID of the transfer that was posted, held or released; null for "
        "other events."
    )

    @classmethod
    def of(cls, event: models.AccountEvent) -> Self:
        return cls(
            account_id=strawberry.ID(encode_id("Account", event.account_id)),
            sequence=str(event.sequence),
            kind=event.kind,
            balance=Money.of(DomainMoney(event.balance, event.currency)),
            available_balance=Money.of(DomainMoney(event.available_balance, event.currency)),
            status=event.status,
            transaction=Transaction.of(event.entry) if event.entry else None,
            transfer_id=(
                strawberry.ID(encode_id("Transfer", event.transfer_id))
                if event.transfer_id
                else None
            ),
        )
