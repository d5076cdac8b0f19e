"""`approveTransfer` and `rejectTransfer`: an analyst's decision on a held transfer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

import strawberry

from bff.api.context import Info
from bff.domain import models, review
from bff.domain.actor import Actor
from bff.domain.ports import UnitOfWork
from resolvers.boundary import actor_of, returns_user_errors
from schema.ids import decode_id
from schema.inputs import ReviewTransferInput
from schema.payloads import ReviewTransferPayload
from schema.transfer import Transfer

Decision = Callable[[UnitOfWork, Actor, UUID, str], Awaitable[models.Transfer]]
_INPUT = strawberry.argument(description="The held transfer and the analyst's note.")


@returns_user_errors
async def approve_transfer(
    info: Info, input: Annotated[ReviewTransferInput, _INPUT]
) -> ReviewTransferPayload:
    """Post a held transfer for exactly its reserved amount (fraud analysts)."""
    return await _decide(info, input, review.approve_transfer)


@returns_user_errors
async def reject_transfer(
    info: Info, input: Annotated[ReviewTransferInput, _INPUT]
) -> ReviewTransferPayload:
    """Void a held transfer, releasing its reservation (fraud analysts)."""
    return await _decide(info, input, review.reject_transfer)


async def _decide(
    info: Info, input: ReviewTransferInput, decision: Decision
) -> ReviewTransferPayload:
    transfer = await decision(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.transfer_id, "Transfer", "transferId"),
        input.note,
    )
    return ReviewTransferPayload(transfer=Transfer.of(transfer))
