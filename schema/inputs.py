"""Mutation inputs."""

from __future__ import annotations

import strawberry

from schema.enums import Currency, Platform, Role
from schema.money import MoneyInput
from schema.scalars import Decimal


@strawberry.input(description="Register as a customer.")
class SignUpInput:
    email: str = strawberry.field(description="The address to log in with.")
    password: str = strawberry.field(description="At least 12 characters.")
    display_name: str = strawberry.field(
        description="The name shown in the app, 1 to 80 characters."
    )


@strawberry.input(description="Log in on a device.")
class LoginInput:
    email: str = strawberry.field(description="The address the user signed up with.")
    password: str = strawberry.field(description="The user's password.")
    device_name: str = strawberry.field(
        default="unknown device", description='A name for the session, such as "Ana\'s iPhone".'
    )


@strawberry.input(description="Open a new, empty account.")
class OpenAccountInput:
    name: str = strawberry.field(description="A name for the account, 1 to 60 characters.")
    currency: Currency = strawberry.field(description="The currency the account will hold.")


@strawberry.input(description="Send money from one of your accounts. Give exactly one destination.")
class CreateTransferInput:
    idempotency_key: str = strawberry.field(
        description="A unique key per transfer (a UUID): retrying with the same key and input "
        "returns the first result instead of paying twice. Kept for at least 24 hours."
    )
    from_account_id: strawberry.ID = strawberry.field(description="One of your accounts.")
    to_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="The receiving account's ID."
    )
    to_account_number: str | None = strawberry.field(
        default=None, description="Or the receiving account's 12-digit number."
    )
    amount: MoneyInput = strawberry.field(description="How much, in the accounts' currency.")
    memo: str | None = strawberry.field(default=None, description="A note, up to 140 characters.")


@strawberry.input(description="Credit a customer account with money that entered the bank.")
class DepositFundsInput:
    idempotency_key: str = strawberry.field(
        description="A unique key per deposit: retries with the same key and input apply once."
    )
    account_id: strawberry.ID = strawberry.field(description="The account to credit.")
    amount: MoneyInput = strawberry.field(description="How much, in the account's currency.")
    reference: str | None = strawberry.field(
        default=None, description="The external reference, up to 140 characters."
    )


@strawberry.input(description="Identify an account to freeze or unfreeze.")
class AccountStatusInput:
    account_id: strawberry.ID = strawberry.field(description="The account.")


@strawberry.input(description="Trade a refresh token for a new token pair.")
class RefreshSessionInput:
    refresh_token: str = strawberry.field(
        description="The refresh token from login or the last refresh; it works once."
    )


@strawberry.input(description="End one of your sessions, such as a lost phone's.")
class RevokeSessionInput:
    session_id: strawberry.ID = strawberry.field(description="The session's ID.")


@strawberry.input(description="Replace your password; every other session ends.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(description="At least 12 characters.")


@strawberry.input(description="A role to give to or take from a user.")
class RoleInput:
    user_id: strawberry.ID = strawberry.field(description="The user (never yourself).")
    role: Role = strawberry.field(description="The role.")


@strawberry.input(description="Register this session's device for push notifications.")
class RegisterPushDeviceInput:
    token: str = strawberry.field(
        description="The push token from the device (`ExponentPushToken[...]` or an FCM token)."
    )
    platform: Platform = strawberry.field(description="The push service the token belongs to.")


@strawberry.input(description="What to be told by push; omitted fields stay as they are.")
class UpdateNotificationPreferencesInput:
    money_received: bool | None = strawberry.field(default=None, description="When money arrives.")
    money_sent: bool | None = strawberry.field(default=None, description="When money leaves.")
    account_changes: bool | None = strawberry.field(
        default=None, description="When the user's roles change."
    )
    locale: str | None = strawberry.field(
        default=None, description="How amounts are written, a CLDR locale such as `de_DE`."
    )


@strawberry.input(description="An app build and the manifest of the documents it sends.")
class RegisterAppBuildInput:
    app: str = strawberry.field(description="The app, as its requests name it (`ios`).")
    version: str = strawberry.field(description="The build's version (`4.2.0`).")
    manifest: str = strawberry.field(
        description="The JSON text of an Apollo persisted-query manifest or of GraphQL Code "
        "Generator's `persisted-documents.json`."
    )


@strawberry.input(description="An app build to retire.")
class AppBuildInput:
    app: str = strawberry.field(description="The app (`ios`).")
    version: str = strawberry.field(description="The build's version (`4.2.0`).")


@strawberry.input(description="An analyst's decision on a transfer held for review.")
class ReviewTransferInput:
    transfer_id: strawberry.ID = strawberry.field(description="The held transfer.")
    note: str = strawberry.field(
        description="Why, 1 to 500 characters: audited, and never shown to the customer."
    )


@strawberry.input(description="A customer's largest single transfer before it is reviewed.")
class CustomerLimitInput:
    user_id: strawberry.ID = strawberry.field(description="The customer.")
    max_minor_units: Decimal = strawberry.field(
        description='A positive whole number of minor units, of any currency, e.g. "50000".'
    )


@strawberry.input(
    description="Change the fraud rules of `version`; omitted settings stay, a given list "
    "replaces the whole list."
)
class UpdateFraudRulesInput:
    version: int = strawberry.field(
        description="The version you read (fraudRules.version); RULES_CHANGED when it is not "
        "the current one any more."
    )
    note: str = strawberry.field(description="Why, 1 to 500 characters (audited).")
    step_up_at: float | None = strawberry.field(default=None, description="0 to 1.")
    review_at: float | None = strawberry.field(
        default=None, description="0 to 1, at least stepUpAt."
    )
    block_at: float | None = strawberry.field(
        default=None, description="0 to 1, at least reviewAt."
    )
    allow_account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts always allowed (either side)."
    )
    block_account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts always refused (either side)."
    )
    limits: list[CustomerLimitInput] | None = strawberry.field(
        default=None, description="Per-customer limits per transfer."
    )
