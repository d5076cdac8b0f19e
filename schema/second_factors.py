"""Second factors for step-up confirmation: enrolling an authenticator app (TOTP)."""

from __future__ import annotations

import strawberry

from schema.errors import UserError

_ERRORS = "Expected failures; empty when the mutation succeeded."


@strawberry.type(description="A pending authenticator-app enrollment, shown once.")
class TotpEnrollment:
    secret: str = strawberry.field(description="The shared secret (base32), to type in.")
    uri: str = strawberry.field(
        description="The otpauth:// URI, to show as a QR code for the authenticator app."
    )


@strawberry.input(description="A code your authenticator app shows now.")
class TotpCodeInput:
    code: str = strawberry.field(description="The six digits.")


@strawberry.type(description="The result of enrollTotp.")
class EnrollTotpPayload:
    enrollment: TotpEnrollment | None = strawberry.field(
        default=None, description="The secret; confirm it with confirmTotpEnrollment."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="The result of a change to your second factors.")
class SecondFactorPayload:
    done: bool = strawberry.field(default=False, description="Whether the change was made.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.input(description="Confirm a transfer held for step-up with your second factor.")
class ConfirmTransferInput:
    challenge_id: strawberry.ID = strawberry.field(
        description="The challengeId of createTransfer's STEP_UP_REQUIRED error."
    )
    totp_code: str = strawberry.field(description="A current code of your authenticator app.")
