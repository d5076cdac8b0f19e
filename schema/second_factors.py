"""Second factors for step-up confirmation: enrolling an authenticator app (TOTP), registering
passkeys (WebAuthn), and answering a step-up with either."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from bff.domain import passkeys
from schema.cost import SMALL_LIST
from schema.errors import UserError
from schema.ids import encode_id

PASSKEY = "Passkey"

_ERRORS = "Expected failures; empty when the mutation succeeded."


@strawberry.type(description="A pending authenticator-app enrollment, shown once.")
class TotpEnrollment:
    secret: str = strawberry.field(description="The shared secret (base32), to type in.")
    uri: str = strawberry.field(
        description="The otpauth:// URI, to show as a QR code for the authenticator app."
    )
    proof_options: str | None = strawberry.field(
        default=None,
        description="When you have passkeys: PublicKeyCredentialRequestOptionsJSON one of them "
        "signs, as confirmTotpEnrollment's passkeyAssertion.",
    )


@strawberry.input(description="A code your authenticator app shows now.")
class TotpCodeInput:
    code: str = strawberry.field(description="The six digits.")


@strawberry.input(
    description="A code your new authenticator app shows now; if you have passkeys, with proof "
    "by one of them."
)
class ConfirmTotpEnrollmentInput:
    code: str = strawberry.field(description="The six digits.")
    passkey_assertion: str | None = strawberry.field(
        default=None,
        description="An assertion (AuthenticationResponseJSON) of one of your passkeys over "
        "enrollTotp's proofOptions.",
    )


@strawberry.type(description="The result of enrollTotp.")
class EnrollTotpPayload:
    enrollment: TotpEnrollment | None = strawberry.field(
        default=None, description="The secret; confirm it with confirmTotpEnrollment."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of a change to your second factors.")
class SecondFactorPayload:
    done: bool = strawberry.field(default=False, description="Whether the change was made.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="A passkey (WebAuthn credential) of yours.")
class Passkey:
    id: strawberry.ID = strawberry.field(description="What removePasskey takes.")
    created_at: datetime = strawberry.field(description="When it was registered (UTC).")

    @classmethod
    def of(cls, passkey: passkeys.Passkey) -> Self:
        return cls(id=strawberry.ID(encode_id(PASSKEY, passkey.id)), created_at=passkey.created_at)


@strawberry.type(description="Options for a WebAuthn ceremony on the customer's device.")
class PasskeyOptionsPayload:
    options: str | None = strawberry.field(
        default=None,
        description="The options as JSON (WebAuthn's PublicKeyCredentialCreationOptionsJSON or "
        "PublicKeyCredentialRequestOptionsJSON), for navigator.credentials.create() or get(), "
        "or the platform's passkey API.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of beginPasskeyRegistration.")
class PasskeyRegistrationPayload:
    options: str | None = strawberry.field(
        default=None,
        description="PublicKeyCredentialCreationOptionsJSON for navigator.credentials.create() "
        "or the platform's passkey API.",
    )
    proof_options: str | None = strawberry.field(
        default=None,
        description="When you have passkeys already: PublicKeyCredentialRequestOptionsJSON one "
        "of them signs, as finishPasskeyRegistration's passkeyAssertion.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.input(
    description="The device's answer to beginPasskeyRegistration's options; if you have a "
    "second factor already, with proof by it (one of totpCode and passkeyAssertion)."
)
class PasskeyRegistrationInput:
    credential: str = strawberry.field(
        description="The new credential as JSON (WebAuthn's RegistrationResponseJSON, what "
        "PublicKeyCredential.toJSON() gives): good once, within the options' timeout."
    )
    totp_code: str | None = strawberry.field(
        default=None, description="A current code of your authenticator app, as the proof."
    )
    passkey_assertion: str | None = strawberry.field(
        default=None,
        description="An assertion (AuthenticationResponseJSON) of one of your passkeys over "
        "the registration's proofOptions, as the proof.",
    )


@strawberry.type(description="The result of finishPasskeyRegistration.")
class PasskeyPayload:
    passkey: Passkey | None = strawberry.field(
        default=None, description="The passkey, now a second factor of yours."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.input(description="Which of your passkeys you will remove.")
class BeginPasskeyRemovalInput:
    passkey_id: strawberry.ID = strawberry.field(description="The passkey's ID.")


@strawberry.input(
    description="Which of your passkeys to remove, with proof by one of your second factors "
    "(exactly one of totpCode and passkeyAssertion)."
)
class RemovePasskeyInput:
    passkey_id: strawberry.ID = strawberry.field(description="The passkey's ID.")
    totp_code: str | None = strawberry.field(
        default=None, description="A current code of your authenticator app, as the proof."
    )
    passkey_assertion: str | None = strawberry.field(
        default=None,
        description="An assertion (AuthenticationResponseJSON) of one of your passkeys, the one "
        "removed or another, over beginPasskeyRemoval's options, as the proof.",
    )


@strawberry.input(description="A transfer held for step-up you will confirm with a passkey.")
class PasskeyConfirmationInput:
    challenge_id: strawberry.ID = strawberry.field(
        description="The challengeId of createTransfer's STEP_UP_REQUIRED error."
    )


@strawberry.input(
    description="Confirm a transfer held for step-up with your second factor: give exactly one "
    "of totpCode and passkeyAssertion."
)
class ConfirmTransferInput:
    challenge_id: strawberry.ID = strawberry.field(
        description="The challengeId of createTransfer's STEP_UP_REQUIRED error."
    )
    totp_code: str | None = strawberry.field(
        default=None, description="A current code of your authenticator app."
    )
    passkey_assertion: str | None = strawberry.field(
        default=None,
        description="Your passkey's assertion as JSON (WebAuthn's AuthenticationResponseJSON) "
        "over the options beginPasskeyConfirmation gave for this challenge; those options are "
        "spent by it, right or wrong.",
    )
