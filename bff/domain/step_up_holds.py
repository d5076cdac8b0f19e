"""Asking for a step-up inside createTransfer: whether the customer can answer one at all, and
the challenge a held transfer waits on.

A STEP_UP decision the customer cannot answer (no active second factor, or a connected app's
request, which has no session of the customer's to confirm through) is held for an analyst
instead (REVIEW): holding it for a confirmation that cannot come would only void it later.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from bff.domain.actor import Actor
from bff.domain.fraud import Decision
from bff.domain.models import Transfer
from bff.domain.ports import UnitOfWork
from bff.domain.screening import Verdict

NO_FACTOR = "the customer has no second factor to confirm it with"


async def answerable(uow: UnitOfWork, actor: Actor, verdict: Verdict) -> Verdict:
    """The verdict, with STEP_UP turned into REVIEW when the actor cannot answer a step-up."""
    if verdict.screening.decision is not Decision.STEP_UP:
        return verdict
    if actor.delegation is None and actor.session_id is not None:
        async with uow:
            if await uow.second_factors.has_active(actor.user_id):
                return verdict
    screening = replace(
        verdict.screening,
        decision=Decision.REVIEW,
        reasons=(NO_FACTOR, *verdict.screening.reasons),
    )
    return replace(verdict, screening=screening)


async def challenge_of(uow: UnitOfWork, actor: Actor, transfer: Transfer) -> UUID:
    """The challenge the held transfer waits on (opened by its first answer; a retry finds
    it), bound to the actor's session; it expires with the hold."""
    assert actor.session_id is not None
    assert transfer.hold_expires_at is not None
    async with uow:
        challenge_id = await uow.step_up.open(
            transfer.id, actor.user_id, actor.session_id, transfer.hold_expires_at
        )
        await uow.commit()
    return challenge_id
