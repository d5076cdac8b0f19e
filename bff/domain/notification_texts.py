"""The words of a push notification: short, in the customer's locale's number format, and with no
full account number (only its last four digits)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency

from bff.domain.money import exponent_of
from bff.domain.notification_models import CustomerEventKind


@dataclass(frozen=True, slots=True)
class PushText:
    title: str
    body: str
    # Opaque to the user; the app routes on it (which screen to open).
    data: dict[str, str]


def amount_in(minor: int, currency: str, locale: str) -> str:
    """`minor` units of `currency` as `locale` writes money, e.g. "€1.234,50" for de_DE."""
    return format_currency(Decimal(minor).scaleb(-exponent_of(currency)), currency, locale=locale)


def _counterparty(payload: dict[str, Any]) -> str:
    if payload.get("counterparty_is_bank"):
        return "the bank"
    return f"account ••{payload.get('counterparty_last_four', '')}"


_RELEASED = "The money is available to you again."
# Why a held transfer was voided without an analyst's rejection (the event's `reason`).
_VOIDED = {
    "not_reviewed": "was cancelled: it could not be checked in time",
    "not_confirmed": "was cancelled: it was not confirmed in time",
    "step_up_failed": "was cancelled: it was not confirmed (too many wrong codes)",
}


def _held_transfer(kind: CustomerEventKind, payload: dict[str, Any], locale: str) -> PushText:
    amount = amount_in(int(payload["amount"]), str(payload["currency"]), locale)
    what = f"Your transfer of {amount} from {payload['account_name']} to {_counterparty(payload)}"
    data = {
        "kind": kind.value,
        "accountId": str(payload["account_id"]),
        "transferId": str(payload["transfer_id"]),
    }
    if kind is CustomerEventKind.TRANSFER_HELD:
        return PushText(
            "Transfer on hold",
            f"{what} is held for a check before it goes. The money is set aside until then; "
            "you will be told the outcome.",
            data,
        )
    if kind is CustomerEventKind.TRANSFER_APPROVED:
        return PushText("Transfer approved", f"{what} was checked and sent.", data)
    if kind is CustomerEventKind.TRANSFER_REJECTED:
        return PushText(
            "Transfer declined", f"{what} was declined after a check. {_RELEASED}", data
        )
    return PushText("Transfer cancelled", f"{what} {_VOIDED[payload['reason']]}. {_RELEASED}", data)


def compose(kind: CustomerEventKind, payload: dict[str, Any], locale: str) -> PushText:
    """The notification telling a customer about an event of `kind` with `payload`."""
    data = {"kind": kind.value}
    match kind:
        case CustomerEventKind.MONEY_RECEIVED | CustomerEventKind.MONEY_SENT:
            amount = amount_in(int(payload["amount"]), str(payload["currency"]), locale)
            data["accountId"] = str(payload["account_id"])
            if kind is CustomerEventKind.MONEY_RECEIVED:
                return PushText(
                    "Money received",
                    f"{amount} from {_counterparty(payload)} to {payload['account_name']}.",
                    data,
                )
            return PushText(
                "Money sent",
                f"{amount} from {payload['account_name']} to {_counterparty(payload)}.",
                data,
            )
        case CustomerEventKind.NEW_SIGN_IN:
            return PushText(
                "New sign-in",
                "Your account was signed in to on a new device. Not you? Change your password.",
                data,
            )
        case CustomerEventKind.PASSWORD_CHANGED:
            return PushText(
                "Password changed",
                "Your password was changed and your other devices were signed out.",
                data,
            )
        case CustomerEventKind.ROLE_CHANGED:
            return PushText("Account access changed", "Your account's access was changed.", data)
        case CustomerEventKind.APP_CONNECTED:
            return PushText(
                "App connected",
                f"{payload['client_name']} can now access the accounts you chose. Not you? "
                "Disconnect it in Connected apps.",
                data,
            )
        case CustomerEventKind.APP_DISCONNECTED:
            return PushText(
                "App disconnected", f"{payload['client_name']} no longer has access.", data
            )
        case CustomerEventKind.STEP_UP_REQUESTED:
            amount = amount_in(int(payload["amount"]), str(payload["currency"]), locale)
            return PushText(
                "Confirm your transfer",
                f"Your transfer of {amount} waits for your confirmation. Not you? Do not "
                "confirm it, and change your password.",
                data,
            )
        case (
            CustomerEventKind.TRANSFER_HELD
            | CustomerEventKind.TRANSFER_APPROVED
            | CustomerEventKind.TRANSFER_REJECTED
            | CustomerEventKind.TRANSFER_EXPIRED
        ):
            return _held_transfer(kind, payload, locale)
