from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import second_factors
from resolvers.boundary import actor_of, returns_user_errors
from schema.ids import decode_id
from schema.second_factors import (
    PASSKEY,
    BeginPasskeyRemovalInput,
    ConfirmTotpEnrollmentInput,
    EnrollTotpPayload,
    Passkey,
    PasskeyOptionsPayload,
    PasskeyPayload,
    PasskeyRegistrationInput,
    PasskeyRegistrationPayload,
    RemovePasskeyInput,
    SecondFactorPayload,
    TotpCodeInput,
    TotpEnrollment,
)

_CODE = strawberry.argument(description="A current code of the authenticator app.")


@returns_user_errors
async def enroll_totp(info: Info) -> EnrollTotpPayload:
    """Start enrolling an authenticator app."""
    settings = info.context.runtime.settings
    enrollment = await second_factors.enroll_totp(
        info.context.unit_of_work(), actor_of(info), settings.totp_issuer, settings.relying_party
    )
    return EnrollTotpPayload(
        enrollment=TotpEnrollment(
            secret=enrollment.secret,
            uri=enrollment.uri,
            proof_options=enrollment.proof_options_json,
        )
    )


@returns_user_errors
async def confirm_totp_enrollment(
    info: Info,
    input: Annotated[
        ConfirmTotpEnrollmentInput,
        strawberry.argument(description="A current code of the new app, and proof if needed."),
    ],
) -> SecondFactorPayload:
    """Activate the pending authenticator app."""
    settings = info.context.runtime.settings
    await second_factors.confirm_totp(
        info.context.unit_of_work(),
        actor_of(info),
        input.code,
        settings.throttle_policy,
        settings.relying_party,
        input.passkey_assertion,
    )
    return SecondFactorPayload(done=True)


@returns_user_errors
async def remove_totp(info: Info, input: Annotated[TotpCodeInput, _CODE]) -> SecondFactorPayload:
    """Remove the enrolled authenticator app."""
    policy = info.context.runtime.settings.throttle_policy
    await second_factors.remove_totp(
        info.context.unit_of_work(), actor_of(info), input.code, policy
    )
    return SecondFactorPayload(done=True)


@returns_user_errors
async def begin_passkey_registration(info: Info) -> PasskeyRegistrationPayload:
    """Start registering a passkey."""
    begun = await second_factors.begin_passkey_registration(
        info.context.unit_of_work(), actor_of(info), info.context.runtime.settings.relying_party
    )
    return PasskeyRegistrationPayload(
        options=begun.options_json, proof_options=begun.proof_options_json
    )


@returns_user_errors
async def finish_passkey_registration(
    info: Info,
    input: Annotated[
        PasskeyRegistrationInput, strawberry.argument(description="The device's new credential.")
    ],
) -> PasskeyPayload:
    """Bind the device's new passkey to the viewer."""
    settings = info.context.runtime.settings
    passkey = await second_factors.finish_passkey_registration(
        info.context.unit_of_work(),
        actor_of(info),
        settings.relying_party,
        input.credential,
        second_factors.Proof(input.totp_code, input.passkey_assertion),
        settings.throttle_policy,
    )
    return PasskeyPayload(passkey=Passkey.of(passkey))


@returns_user_errors
async def begin_passkey_removal(
    info: Info,
    input: Annotated[BeginPasskeyRemovalInput, strawberry.argument(description="The passkey.")],
) -> PasskeyOptionsPayload:
    """Request options for the viewer's passkeys to sign, as proof to remove one."""
    options = await second_factors.begin_passkey_removal(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.passkey_id, PASSKEY, "passkeyId"),
        info.context.runtime.settings.relying_party,
    )
    return PasskeyOptionsPayload(options=options)


@returns_user_errors
async def remove_passkey(
    info: Info,
    input: Annotated[
        RemovePasskeyInput, strawberry.argument(description="The passkey, and the proof.")
    ],
) -> SecondFactorPayload:
    """Remove one of the viewer's passkeys."""
    settings = info.context.runtime.settings
    await second_factors.remove_passkey(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.passkey_id, PASSKEY, "passkeyId"),
        second_factors.Proof(input.totp_code, input.passkey_assertion),
        settings.throttle_policy,
        settings.relying_party,
    )
    return SecondFactorPayload(done=True)
