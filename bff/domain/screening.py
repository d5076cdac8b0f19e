"""Screening one transfer request: read its facts (one statement), score, apply the rules."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.fraud import Decision, Screener, Screening, decide
from bff.domain.fraud_signals import features
from bff.domain.models import Transfer
from bff.domain.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Verdict:
    """A screening with the feature vector it was scored on (kept for training)."""

    screening: Screening
    features: tuple[float, ...]


class StepUpRequired(DomainError):
    """The transfer is held until the customer confirms it with a second factor."""

    def __init__(self, transfer: Transfer, challenge_id: UUID | None = None) -> None:
        super().__init__(ErrorCode.STEP_UP_REQUIRED)
        self.transfer = transfer
        # What confirmTransfer answers (`bff.domain.step_up`).
        self.challenge_id = challenge_id


async def screen(
    uow: UnitOfWork,
    screener: Screener,
    actor: Actor,
    *,
    key: str,
    amount: int,
    source_id: UUID,
    destination_id: UUID | None,
    destination_number: str | None,
) -> Verdict | None:
    """The verdict on a request, or None when its idempotency key already answered one (a
    retry is never scored again: the first screening, stored with the key's result, stands)."""
    async with uow:
        facts = await uow.fraud.facts(
            actor.user_id,
            actor.session_id,
            key,
            amount,
            source_id,
            destination_id,
            destination_number,
        )
    if facts.answered:
        return None
    vector = features(facts.signals)
    risk, reasons = screener.scorer.explain(vector)
    decision, reasons = decide(
        facts.rules,
        risk,
        reasons,
        customer=actor.user_id,
        source=source_id,
        destination=facts.destination_id,
        amount=amount,
    )
    screener.decided(decision)
    screening = Screening(decision, risk, screener.scorer.version, facts.rules.version, reasons)
    return Verdict(screening, tuple(vector))


HELD = frozenset({Decision.REVIEW, Decision.STEP_UP})
