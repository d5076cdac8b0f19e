"""Typed domain errors with stable codes; the API maps them to `userErrors`."""

from __future__ import annotations

from enum import Enum


class ErrorCode(Enum):
    """Stable error codes clients can switch on. Never renumber or rename a member."""

    description: str

    def __new__(cls, value: str, description: str) -> ErrorCode:
        member = object.__new__(cls)
        member._value_ = value
        member.description = description
        return member

    INVALID_INPUT = ("INVALID_INPUT", "A field is malformed or out of range.")
    INVALID_ID = ("INVALID_ID", "An ID is not a valid ID of the expected type.")
    INVALID_AMOUNT = (
        "INVALID_AMOUNT",
        "The amount is not a positive decimal string in the currency's precision.",
    )
    UNSUPPORTED_CURRENCY = ("UNSUPPORTED_CURRENCY", "The currency is not supported.")
    CURRENCY_MISMATCH = (
        "CURRENCY_MISMATCH",
        "The accounts or the amount are in different currencies.",
    )
    UNAUTHENTICATED = ("UNAUTHENTICATED", "The request needs a valid access token.")
    PERMISSION_DENIED = ("PERMISSION_DENIED", "The actor's role does not allow this action.")
    INVALID_CREDENTIALS = ("INVALID_CREDENTIALS", "The email or password is wrong.")
    EMAIL_TAKEN = ("EMAIL_TAKEN", "An account with this email already exists.")
    WEAK_PASSWORD = ("WEAK_PASSWORD", "The password is too short.")
    LOGIN_THROTTLED = (
        "LOGIN_THROTTLED",
        "Too many failed logins for this account or address; retry after the given delay.",
    )
    INVALID_REFRESH_TOKEN = (
        "INVALID_REFRESH_TOKEN",
        "The refresh token is unknown, used, expired or revoked: log in again.",
    )
    REFRESH_IN_PROGRESS = (
        "REFRESH_IN_PROGRESS",
        "Another refresh with this token is in flight; use the tokens it returns.",
    )
    SESSION_NOT_FOUND = ("SESSION_NOT_FOUND", "No such session, or it is not yours.")
    USER_NOT_FOUND = ("USER_NOT_FOUND", "No such user.")
    ACCOUNT_NOT_FOUND = ("ACCOUNT_NOT_FOUND", "No such account, or it is not yours.")
    RESUME_TOO_OLD = (
        "RESUME_TOO_OLD",
        "The events after this sequence are no longer kept: reload the account, then subscribe.",
    )
    SESSION_ENDED = (
        "SESSION_ENDED",
        "The session was ended: log in again, then resume from the last sequence received.",
    )
    TOKEN_EXPIRED = (
        "TOKEN_EXPIRED",
        "The access token expired: refresh it, reconnect, and resume from the last sequence.",
    )
    SUBSCRIBER_TOO_SLOW = (
        "SUBSCRIBER_TOO_SLOW",
        "The client fell too far behind: resume from the last sequence received.",
    )
    ACCOUNT_FROZEN = ("ACCOUNT_FROZEN", "An account of the transfer is frozen or closed.")
    INVALID_STATE = ("INVALID_STATE", "The account is not in a state that allows this change.")
    SAME_ACCOUNT = ("SAME_ACCOUNT", "The source and destination accounts are the same.")
    INSUFFICIENT_FUNDS = (
        "INSUFFICIENT_FUNDS",
        "The source account's available balance and overdraft limit do not cover the amount.",
    )
    IDEMPOTENCY_KEY_REUSED = (
        "IDEMPOTENCY_KEY_REUSED",
        "The idempotency key was already used for a different request.",
    )
    IDEMPOTENCY_IN_PROGRESS = (
        "IDEMPOTENCY_IN_PROGRESS",
        "A request with this idempotency key is still being processed; retry shortly.",
    )
    INVALID_MANIFEST = (
        "INVALID_MANIFEST",
        "The manifest is malformed, or one of its documents does not match its hash or the schema.",
    )
    BUILD_NOT_FOUND = ("BUILD_NOT_FOUND", "No such app build is registered.")
    TRANSFER_BLOCKED = (
        "TRANSFER_BLOCKED",
        "Fraud screening refused the transfer; nothing was reserved or sent.",
    )
    STEP_UP_REQUIRED = (
        "STEP_UP_REQUIRED",
        "The transfer is held until you confirm it with your second factor (see challengeId).",
    )
    TRANSFER_NOT_HELD = (
        "TRANSFER_NOT_HELD",
        "The transfer is not held any more: it was already approved, rejected or expired.",
    )
    RULES_CHANGED = (
        "RULES_CHANGED",
        "The fraud rules changed since you read them: reload them and apply your change again.",
    )
    INSUFFICIENT_SCOPE = (
        "INSUFFICIENT_SCOPE",
        "The connected app was not granted the scope this needs.",
    )
    APP_NOT_FOUND = ("APP_NOT_FOUND", "No such connected app, or it is not yours.")
    TRANSFER_LIMIT_EXCEEDED = (
        "TRANSFER_LIMIT_EXCEEDED",
        "The transfer would exceed the daily limit you set for this connected app.",
    )
    SECOND_FACTOR_ENROLLED = (
        "SECOND_FACTOR_ENROLLED",
        "An authenticator app is already enrolled: remove it before enrolling another.",
    )
    NO_PENDING_ENROLLMENT = (
        "NO_PENDING_ENROLLMENT",
        "There is no enrollment waiting for confirmation, or it expired: start one with "
        "enrollTotp or beginPasskeyRegistration.",
    )
    SECOND_FACTOR_NOT_ENROLLED = (
        "SECOND_FACTOR_NOT_ENROLLED",
        "No such second factor is enrolled (an authenticator app, or a passkey).",
    )
    INVALID_SECOND_FACTOR = (
        "INVALID_SECOND_FACTOR",
        "The code or the passkey's response is wrong, expired or was already used.",
    )
    SECOND_FACTOR_PROOF_REQUIRED = (
        "SECOND_FACTOR_PROOF_REQUIRED",
        "Prove a second factor of yours (a current code, or your passkey's assertion) to add "
        "or remove one.",
    )
    PASSKEY_NOT_FOUND = ("PASSKEY_NOT_FOUND", "You have no passkey of that ID.")
    STEP_UP_CHALLENGE_NOT_FOUND = (
        "STEP_UP_CHALLENGE_NOT_FOUND",
        "No such step-up challenge for this session.",
    )
    STEP_UP_CHALLENGE_USED = (
        "STEP_UP_CHALLENGE_USED",
        "The challenge was already answered; the transfer shows how it ended.",
    )
    STEP_UP_CHALLENGE_EXPIRED = (
        "STEP_UP_CHALLENGE_EXPIRED",
        "The challenge expired before it was confirmed: the transfer was voided.",
    )
    STEP_UP_FAILED = (
        "STEP_UP_FAILED",
        "Too many wrong answers: the challenge failed and the transfer was voided.",
    )


class DomainError(Exception):
    """An expected business failure: shown to the caller as a `UserError`."""

    def __init__(self, code: ErrorCode, message: str | None = None, field: str | None = None):
        super().__init__(message or code.description)
        self.code = code
        self.message = message or code.description
        self.field = field

    def with_field(self, field: str) -> DomainError:
        """The same error, attributed to an input field path."""
        return DomainError(self.code, self.message, field)

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code.value, "message": self.message, "field": self.field}

    @classmethod
    def from_dict(cls, data: dict[str, str | None]) -> DomainError:
        return cls(ErrorCode[str(data["code"])], data["message"], data["field"])


class NotFound(DomainError):
    """The object does not exist or the actor may not see it: the two are indistinguishable."""


class PermissionDenied(DomainError):
    def __init__(self, message: str = ErrorCode.PERMISSION_DENIED.description):
        super().__init__(ErrorCode.PERMISSION_DENIED, message)


class Unauthenticated(DomainError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.UNAUTHENTICATED)


class Throttled(DomainError):
    """Refused for now; the caller may retry after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int):
        super().__init__(
            ErrorCode.LOGIN_THROTTLED, f"Too many attempts; retry in {retry_after_s} seconds."
        )
        self.retry_after_s = retry_after_s


class TransientConflict(Exception):
    """A serialization failure or deadlock: the whole transaction may be retried."""


class ServiceUnavailable(Exception):
    """A dependency (PostgreSQL, Redis) cannot be reached right now: nothing is wrong with the
    request, and the same request may succeed after `retry_after_s` seconds. Not a `DomainError`:
    it is answered as a top-level GraphQL error (`SERVICE_UNAVAILABLE`, HTTP 503), never as a
    `userError`."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, dependency: str, retry_after_s: int = 1) -> None:
        super().__init__(f"{dependency} is unavailable")
        self.dependency = dependency
        self.retry_after_s = retry_after_s

    @property
    def client_message(self) -> str:
        """What the caller is told (which dependency failed is for the logs only)."""
        return f"The service is unavailable for a moment; retry in {self.retry_after_s} seconds."
