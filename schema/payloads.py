"""Mutation payloads: the changed object plus `userErrors`."""

from __future__ import annotations

import strawberry

from schema.account import Account
from schema.app_build import AppBuild
from schema.cost import SMALL_LIST
from schema.errors import UserError
from schema.fraud_rules import FraudRules
from schema.notifications import NotificationPreferences, PushDevice
from schema.transfer import Transfer
from schema.user import User

_ERRORS = "Expected failures; empty when the mutation succeeded."


@strawberry.type(description="The result of a mutation that changes a user.")
class UserPayload:
    user: User | None = strawberry.field(default=None, description="The user as it is now.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of a mutation that ends sessions.")
class EndSessionsPayload:
    sessions_ended: int = strawberry.field(
        default=0, description="How many live sessions were ended."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of login or refreshSession: a session's token pair.")
class AuthPayload:
    access_token: str | None = strawberry.field(
        default=None, description="Send as `Authorization: Bearer <token>`; short-lived."
    )
    refresh_token: str | None = strawberry.field(
        default=None, description="Opaque; keep in secure storage to obtain new access tokens."
    )
    expires_in: int | None = strawberry.field(
        default=None, description="Seconds until the access token expires."
    )
    user: User | None = strawberry.field(default=None, description="The logged-in user.")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With LOGIN_THROTTLED: seconds to wait before trying again."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of a mutation that changes an account.")
class AccountPayload:
    account: Account | None = strawberry.field(
        default=None, description="The account as it is now."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of a mutation that moves money.")
class TransferPayload:
    transfer: Transfer | None = strawberry.field(
        default=None, description="The posted transfer (the first result, on a retry)."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of registerPushDevice.")
class PushDevicePayload:
    device: PushDevice | None = strawberry.field(
        default=None, description="The session's registration."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of updateNotificationPreferences.")
class NotificationPreferencesPayload:
    preferences: NotificationPreferences | None = strawberry.field(
        default=None, description="The preferences as they are now."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of a mutation that registers or retires an app build.")
class AppBuildPayload:
    build: AppBuild | None = strawberry.field(default=None, description="The build as it is now.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of approveTransfer or rejectTransfer.")
class ReviewTransferPayload:
    transfer: Transfer | None = strawberry.field(
        default=None,
        description="The transfer as the decision left it: COMPLETED or CANCELLED (its memo, "
        "the customer's own words, is not shown to analysts).",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.type(description="The result of updateFraudRules.")
class FraudRulesPayload:
    rules: FraudRules | None = strawberry.field(
        default=None, description="The rules now in force (the new version)."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )
