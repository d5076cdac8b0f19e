from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import second_factors
from resolvers.boundary import actor_of, returns_user_errors
from schema.second_factors import (
    EnrollTotpPayload,
    SecondFactorPayload,
    TotpCodeInput,
    TotpEnrollment,
)

_CODE = strawberry.argument(description="A current code of the authenticator app.")


@returns_user_errors
async def enroll_totp(info: Info) -> EnrollTotpPayload:
    """Start enrolling an authenticator app."""
    enrollment = await second_factors.enroll_totp(
        info.context.unit_of_work(), actor_of(info), info.context.runtime.settings.totp_issuer
    )
    return EnrollTotpPayload(
        enrollment=TotpEnrollment(secret=enrollment.secret, uri=enrollment.uri)
    )


@returns_user_errors
async def confirm_totp_enrollment(
    info: Info, input: Annotated[TotpCodeInput, _CODE]
) -> SecondFactorPayload:
    """Activate the pending authenticator app."""
    policy = info.context.runtime.settings.throttle_policy
    await second_factors.confirm_totp(
        info.context.unit_of_work(), actor_of(info), input.code, policy
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
