"""The review queue's types: a held transfer with the screening that held it."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from bff.domain.fraud import Screening as ScreeningRecord
from bff.domain.policies import MASK
from bff.domain.review_models import HeldTransfer as HeldTransferRecord
from schema.enums import TransferStatus
from schema.ids import encode_id
from schema.money import Money


@strawberry.type(description="Why screening decided as it did: the score and its explanation.")
class Screening:
    score: float = strawberry.field(description="The model's risk, 0 (safe) to 1 (fraud).")
    model_version: str = strawberry.field(description="The risk model that scored it.")
    rules_version: int = strawberry.field(description="The version of the rules applied.")
    reasons: list[str] = strawberry.field(
        description="What raised the risk most, in plain words, strongest first (a rule that "
        "decided comes first)."
    )

    @classmethod
    def of(cls, screening: ScreeningRecord) -> Self:
        return cls(
            score=screening.risk,
            model_version=screening.model_version,
            rules_version=screening.rules_version,
            reasons=list(screening.reasons),
        )


@strawberry.type(description="A transfer held by fraud screening until an analyst decides it.")
class HeldTransfer:
    transfer_id: strawberry.ID = strawberry.field(
        description="The transfer's global ID (approveTransfer and rejectTransfer take it)."
    )
    status: TransferStatus = strawberry.field(description="PENDING while it waits.")
    amount: Money = strawberry.field(description="The amount reserved on the paying account.")
    from_account_number: str = strawberry.field(
        description="The paying account, by the last four digits of its number only."
    )
    to_account_number: str = strawberry.field(
        description="The receiving account, by the last four digits of its number only."
    )
    held_at: datetime = strawberry.field(description="When screening held it (UTC).")
    age_seconds: int = strawberry.field(description="How long it has waited, in seconds.")
    hold_expires_at: datetime | None = strawberry.field(
        description="When it is voided unless decided first (UTC)."
    )
    screening: Screening = strawberry.field(description="Why it was held.")

    @classmethod
    def of(cls, held: HeldTransferRecord) -> Self:
        transfer = held.transfer
        return cls(
            transfer_id=strawberry.ID(encode_id("Transfer", transfer.id)),
            status=transfer.status,
            amount=Money.of(transfer.money),
            from_account_number=MASK + held.from_last_four,
            to_account_number=MASK + held.to_last_four,
            held_at=held.held_at,
            age_seconds=held.age_s,
            hold_expires_at=transfer.hold_expires_at,
            screening=Screening.of(held.screening),
        )
