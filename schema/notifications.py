"""Push devices, notification preferences, the activity feed and spending summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from bff.domain import notification_models as models
from bff.domain.money import Money as DomainMoney
from bff.domain.notification_texts import compose
from schema.enums import Currency, CustomerEventKind, Platform
from schema.ids import encode_id
from schema.money import Money
from schema.scalars import Decimal


@strawberry.type(description="A session's registration for push notifications.")
class PushDevice:
    id: strawberry.ID = strawberry.field(description="The registration's ID.")
    platform: Platform = strawberry.field(description="The push service that delivers to it.")

    @classmethod
    def of(cls, device: models.PushDevice) -> Self:
        return cls(id=strawberry.ID(encode_id("PushDevice", device.id)), platform=device.platform)


@strawberry.type(
    description="What the customer is told by push. Security notifications (a new sign-in, a "
    "password change) and transfers that did not go as asked (held, declined, cancelled) always "
    "go out and are not listed."
)
class NotificationPreferences:
    money_received: bool = strawberry.field(description="When money arrives.")
    money_sent: bool = strawberry.field(
        description="When money leaves, a held transfer's approval included."
    )
    account_changes: bool = strawberry.field(description="When the user's roles change.")
    locale: str = strawberry.field(
        description="How amounts are written, as a CLDR locale such as `en_GB` or `de_DE`."
    )

    @classmethod
    def of(cls, preferences: models.Preferences) -> Self:
        return cls(
            money_received=preferences.money_received,
            money_sent=preferences.money_sent,
            account_changes=preferences.account_changes,
            locale=preferences.locale,
        )


@strawberry.type(description="Something that happened on the customer's accounts or profile.")
class ActivityEntry:
    kind: CustomerEventKind = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    summary: str = strawberry.field(
        description="One sentence for the feed, as the notification said it."
    )
    amount: Money | None = strawberry.field(
        description="The money that moved, or the amount of the transfer it is about; null for "
        "other kinds."
    )
    account_id: strawberry.ID | None = strawberry.field(
        description="The customer's account it happened on; null for other kinds (and for a "
        "step-up request)."
    )

    @classmethod
    def of(cls, entry: models.ActivityEntry, locale: str) -> Self:
        data = entry.data
        # A step-up request names its amount but not its account.
        return cls(
            kind=entry.kind,
            occurred_at=entry.occurred_at,
            summary=compose(entry.kind, data, locale).body,
            amount=Money.of(DomainMoney(int(data["amount"]), str(data["currency"])))
            if "amount" in data
            else None,
            account_id=strawberry.ID(encode_id("Account", data["account_id"]))
            if "account_id" in data
            else None,
        )


@strawberry.type(description="Money sent in a month to one counterparty, in one currency.")
class SpendingLine:
    month: str = strawberry.field(description="The month, `YYYY-MM` (UTC).")
    counterparty: str = strawberry.field(
        description="Who received it: `the bank`, or an account by its last four digits."
    )
    total: Money = strawberry.field(description="The sum sent.")
    transfers: int = strawberry.field(description="How many transfers it took.")

    @classmethod
    def of(cls, line: models.SpendingLine) -> Self:
        return cls(
            month=line.month,
            counterparty=line.counterparty,
            total=Money(
                amount=Decimal(DomainMoney(line.amount, line.currency).format()),
                currency=Currency(line.currency),
            ),
            transfers=line.transfers,
        )
