"""The root Mutation type: assembles one resolver module per mutation."""

from __future__ import annotations

import strawberry

from resolvers.mutations.account_status import freeze_account, unfreeze_account
from resolvers.mutations.app_builds import register_app_build, retire_app_build
from resolvers.mutations.change_password import change_password
from resolvers.mutations.confirm_transfer import begin_passkey_confirmation, confirm_transfer
from resolvers.mutations.connected_apps import register_oauth_client, revoke_app_access
from resolvers.mutations.create_transfer import create_transfer
from resolvers.mutations.deposit_funds import deposit_funds
from resolvers.mutations.end_sessions import logout, logout_everywhere, revoke_session
from resolvers.mutations.fraud_rules import update_fraud_rules
from resolvers.mutations.login import login
from resolvers.mutations.notifications import (
    register_push_device,
    update_notification_preferences,
)
from resolvers.mutations.open_account import open_account
from resolvers.mutations.privacy import erase_user, export_my_data
from resolvers.mutations.refresh_session import refresh_session
from resolvers.mutations.review import approve_transfer, reject_transfer
from resolvers.mutations.roles import assign_role, revoke_role
from resolvers.mutations.second_factors import (
    begin_passkey_registration,
    begin_passkey_removal,
    confirm_totp_enrollment,
    enroll_totp,
    finish_passkey_registration,
    remove_passkey,
    remove_totp,
)
from resolvers.mutations.sign_up import sign_up
from schema.cost import WRITE


@strawberry.type(
    description="Change the bank. Every mutation returns `userErrors` for expected failures."
)
class Mutation:
    sign_up = strawberry.mutation(
        directives=[WRITE], resolver=sign_up, description="Register as a customer."
    )
    login = strawberry.mutation(
        directives=[WRITE], resolver=login, description="Log in on a device and get tokens."
    )
    refresh_session = strawberry.mutation(
        directives=[WRITE],
        resolver=refresh_session,
        description="Trade a refresh token for a new token pair; reusing a spent one ends the "
        "session.",
    )
    logout = strawberry.mutation(
        directives=[WRITE], resolver=logout, description="End the current session."
    )
    logout_everywhere = strawberry.mutation(
        directives=[WRITE], resolver=logout_everywhere, description="End every session of the user."
    )
    revoke_session = strawberry.mutation(
        directives=[WRITE], resolver=revoke_session, description="End one of the user's sessions."
    )
    change_password = strawberry.mutation(
        directives=[WRITE],
        resolver=change_password,
        description="Replace the password; other sessions end.",
    )
    assign_role = strawberry.mutation(
        directives=[WRITE],
        resolver=assign_role,
        description="Give a user a role (admins, never themselves).",
    )
    revoke_role = strawberry.mutation(
        directives=[WRITE],
        resolver=revoke_role,
        description="Take a role from a user (admins, never themselves).",
    )
    open_account = strawberry.mutation(
        directives=[WRITE], resolver=open_account, description="Open a new account."
    )
    create_transfer = strawberry.mutation(
        directives=[WRITE],
        resolver=create_transfer,
        description="Send money from one of your accounts; idempotent per `idempotencyKey`.",
    )
    deposit_funds = strawberry.mutation(
        directives=[WRITE],
        resolver=deposit_funds,
        description="Credit a customer account (operators and admins); idempotent.",
    )
    freeze_account = strawberry.mutation(
        directives=[WRITE],
        resolver=freeze_account,
        description="Freeze an account (support and admins).",
    )
    unfreeze_account = strawberry.mutation(
        directives=[WRITE],
        resolver=unfreeze_account,
        description="Unfreeze a frozen account (support and admins).",
    )
    register_push_device = strawberry.mutation(
        directives=[WRITE],
        resolver=register_push_device,
        description="Register this session's device for push notifications.",
    )
    update_notification_preferences = strawberry.mutation(
        directives=[WRITE],
        resolver=update_notification_preferences,
        description="Change what you are told by push (security notifications always go out).",
    )
    register_app_build = strawberry.mutation(
        directives=[WRITE],
        resolver=register_app_build,
        description="Register an app build's trusted documents from its manifest (admins).",
    )
    retire_app_build = strawberry.mutation(
        directives=[WRITE],
        resolver=retire_app_build,
        description="Retire an app build: its documents stop running (admins).",
    )
    register_oauth_client = strawberry.mutation(
        directives=[WRITE],
        resolver=register_oauth_client,
        name="registerOAuthClient",
        description="Register a third-party OAuth client (admins).",
    )
    revoke_app_access = strawberry.mutation(
        directives=[WRITE],
        resolver=revoke_app_access,
        description="Disconnect an app you connected: its tokens stop working at once.",
    )
    export_my_data = strawberry.mutation(
        directives=[WRITE],
        resolver=export_my_data,
        description="A copy of everything the bank keeps about you, as one JSON document.",
    )
    erase_user = strawberry.mutation(
        directives=[WRITE],
        resolver=erase_user,
        description="Erase a customer by destroying their data key (admins; empty accounts only).",
    )
    enroll_totp = strawberry.mutation(
        directives=[WRITE],
        resolver=enroll_totp,
        description="Start enrolling an authenticator app as your second factor (TOTP).",
    )
    confirm_totp_enrollment = strawberry.mutation(
        directives=[WRITE],
        resolver=confirm_totp_enrollment,
        description="Activate the authenticator app you are enrolling with a code it shows.",
    )
    remove_totp = strawberry.mutation(
        directives=[WRITE],
        resolver=remove_totp,
        description="Remove your authenticator app; takes one of its current codes.",
    )
    begin_passkey_registration = strawberry.mutation(
        directives=[WRITE],
        resolver=begin_passkey_registration,
        description="Start registering a passkey as a second factor: creation options for "
        "your device (its challenge is good once, for BFF_WEBAUTHN_TIMEOUT_S).",
    )
    finish_passkey_registration = strawberry.mutation(
        directives=[WRITE],
        resolver=finish_passkey_registration,
        description="Register the passkey your device made for beginPasskeyRegistration's options.",
    )
    begin_passkey_removal = strawberry.mutation(
        directives=[WRITE],
        resolver=begin_passkey_removal,
        description="Request options for your passkeys to sign, as removePasskey's proof (kept "
        "until a proof answers them or you ask again).",
    )
    remove_passkey = strawberry.mutation(
        directives=[WRITE],
        resolver=remove_passkey,
        description="Remove one of your passkeys; takes proof by a second factor of yours (a "
        "current code, or a passkey's assertion over beginPasskeyRemoval's options).",
    )
    approve_transfer = strawberry.mutation(
        directives=[WRITE],
        resolver=approve_transfer,
        description="Approve a transfer held for review: it posts for exactly its reserved "
        "amount (fraud analysts; never their own transfers).",
    )
    reject_transfer = strawberry.mutation(
        directives=[WRITE],
        resolver=reject_transfer,
        description="Reject a transfer held for review: it is voided and its reservation "
        "released (fraud analysts; never their own transfers).",
    )
    confirm_transfer = strawberry.mutation(
        directives=[WRITE],
        resolver=confirm_transfer,
        description="Confirm a transfer screening held for step-up with your second factor: it "
        "posts. Wrong answers count; too many, or too late, void it.",
    )
    begin_passkey_confirmation = strawberry.mutation(
        directives=[WRITE],
        resolver=begin_passkey_confirmation,
        description="Options for your passkey to sign, to confirm a transfer held for step-up "
        "with (confirmTransfer's passkeyAssertion); they replace ones given before for it.",
    )
    update_fraud_rules = strawberry.mutation(
        directives=[WRITE],
        resolver=update_fraud_rules,
        description="Change the fraud screening rules: thresholds, allow and block lists, "
        "per-customer limits; a new audited version (fraud analysts).",
    )
