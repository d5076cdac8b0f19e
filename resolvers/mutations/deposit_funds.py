from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import transfers
from resolvers.boundary import actor_of, returns_user_errors
from schema.ids import decode_id
from schema.inputs import DepositFundsInput
from schema.payloads import TransferPayload
from schema.transfer import Transfer


@returns_user_errors
async def deposit_funds(
    info: Info,
    input: Annotated[DepositFundsInput, strawberry.argument(description="The deposit to credit.")],
) -> TransferPayload:
    """Credit a customer account from the bank's settlement account (operator, admin)."""
    actor = actor_of(info)
    request = transfers.DepositRequest(
        idempotency_key=input.idempotency_key,
        account_id=decode_id(input.account_id, "Account", "accountId"),
        amount=input.amount.amount,
        currency=input.amount.currency.value,
        reference=input.reference,
    )
    transfer = await transfers.deposit_funds(
        info.context.unit_of_work(), actor, request, info.context.runtime.settings.idempotency_ttl_s
    )
    return TransferPayload(transfer=Transfer.of(transfer))
