from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import transfers
from bff.domain.screening import StepUpRequired
from resolvers.boundary import actor_of, returns_user_errors
from schema.errors import UserError
from schema.ids import decode_id
from schema.inputs import CreateTransferInput
from schema.payloads import TransferPayload
from schema.transfer import Transfer


@returns_user_errors
async def create_transfer(
    info: Info,
    input: Annotated[CreateTransferInput, strawberry.argument(description="The transfer to make.")],
) -> TransferPayload:
    """Send money; safe to retry with the same idempotency key."""
    actor = actor_of(info)
    request = transfers.TransferRequest(
        idempotency_key=input.idempotency_key,
        from_account_id=decode_id(input.from_account_id, "Account", "fromAccountId"),
        to_account_id=(
            decode_id(input.to_account_id, "Account", "toAccountId")
            if input.to_account_id
            else None
        ),
        to_account_number=input.to_account_number,
        amount=input.amount.amount,
        currency=input.amount.currency.value,
        memo=input.memo,
    )
    runtime = info.context.runtime
    try:
        transfer = await transfers.create_transfer(
            info.context.unit_of_work(),
            actor,
            request,
            runtime.settings.idempotency_ttl_s,
            runtime.screener,
        )
    except StepUpRequired as held:
        # Held, not refused: the transfer is there, waiting for the customer's confirmation.
        return TransferPayload(
            transfer=Transfer.of(held.transfer), user_errors=[UserError.of(held)]
        )
    return TransferPayload(transfer=Transfer.of(transfer))
