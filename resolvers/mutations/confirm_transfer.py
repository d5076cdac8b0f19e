from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import step_up
from resolvers.boundary import actor_of, returns_user_errors
from schema.errors import CHALLENGE
from schema.ids import decode_id
from schema.payloads import TransferPayload
from schema.second_factors import (
    ConfirmTransferInput,
    PasskeyConfirmationInput,
    PasskeyOptionsPayload,
)
from schema.transfer import Transfer


@returns_user_errors
async def confirm_transfer(
    info: Info,
    input: Annotated[
        ConfirmTransferInput, strawberry.argument(description="The challenge and your answer.")
    ],
) -> TransferPayload:
    """Post a transfer held for step-up."""
    settings = info.context.runtime.settings
    confirmation = step_up.Confirmation(
        challenge_id=decode_id(input.challenge_id, CHALLENGE, "challengeId"),
        totp_code=input.totp_code,
        passkey_assertion=input.passkey_assertion,
    )
    transfer = await step_up.confirm_transfer(
        info.context.unit_of_work(),
        actor_of(info),
        confirmation,
        settings.throttle_policy,
        settings.step_up_max_failures,
        settings.relying_party,
    )
    return TransferPayload(transfer=Transfer.of(transfer))


@returns_user_errors
async def begin_passkey_confirmation(
    info: Info,
    input: Annotated[
        PasskeyConfirmationInput, strawberry.argument(description="The challenge to answer.")
    ],
) -> PasskeyOptionsPayload:
    """Options for the viewer's passkey to answer a step-up challenge with."""
    options = await step_up.begin_passkey_confirmation(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.challenge_id, CHALLENGE, "challengeId"),
        info.context.runtime.settings.relying_party,
    )
    return PasskeyOptionsPayload(options=options)
