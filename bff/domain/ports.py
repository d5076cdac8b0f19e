"""What the domain needs from storage. `bff.db` implements these on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from bff.domain.audit_models import AuditEntry, AuditPageKey, AuditRecord
from bff.domain.challenges import Challenge, ChallengeStatus
from bff.domain.delegation import Client, Grant, GrantRevocation
from bff.domain.documents import Build, TrustedDocument
from bff.domain.errors import ErrorCode
from bff.domain.fraud import Rules, Screening
from bff.domain.fraud_signals import Signals
from bff.domain.models import (
    Account,
    AccountChange,
    AccountStatus,
    RefreshGrant,
    RevocationReason,
    SecurityEventKind,
    Session,
    Transfer,
    TransferKind,
    TransferStatus,
    User,
)
from bff.domain.money import Money
from bff.domain.notification_models import (
    ActivityEntry,
    ActivityPageKey,
    Platform,
    Preferences,
    PushDevice,
    SpendingLine,
)
from bff.domain.passkeys import Passkey, PendingPasskey, Registered
from bff.domain.rbac import Role
from bff.domain.review_models import HeldTransfer, Review, ReviewClaim, ReviewPageKey
from bff.domain.throttle import ThrottleScope, ThrottleState
from bff.domain.totp import TotpFactor


class UserRepository(Protocol):
    async def add(
        self, email: str, password_hash: str, display_name: str, roles: frozenset[Role]
    ) -> User: ...
    async def get(self, user_id: UUID) -> User | None: ...
    async def lock(self, user_id: UUID) -> User | None: ...
    async def credentials(self, email: str) -> tuple[User, str] | None: ...
    async def credentials_of(self, user_id: UUID) -> tuple[User, str] | None: ...
    async def set_password(self, user_id: UUID, password_hash: str) -> None: ...
    async def set_roles(self, user_id: UUID, roles: frozenset[Role]) -> User: ...


class SessionRepository(Protocol):
    async def add(
        self, user_id: UUID, device_name: str, refresh_token_hash: bytes, expires_at: datetime
    ) -> Session: ...
    async def get(self, session_id: UUID) -> Session | None: ...
    async def active(self, user_id: UUID) -> list[Session]: ...
    async def lock_refresh_token(self, token_hash: bytes) -> RefreshGrant | None: ...
    async def rotate(self, session_id: UUID, used_hash: bytes, new_hash: bytes) -> Session: ...
    async def revoke(self, session_id: UUID, reason: RevocationReason) -> bool: ...
    async def revoke_all(
        self, user_id: UUID, reason: RevocationReason, keep: UUID | None = None
    ) -> int: ...


class ThrottleRepository(Protocol):
    async def lock(
        self, keys: Sequence[tuple[ThrottleScope, str]]
    ) -> dict[tuple[ThrottleScope, str], ThrottleState]: ...
    async def save(self, key: tuple[ThrottleScope, str], state: ThrottleState) -> None: ...


class SecurityEventRepository(Protocol):
    async def record(
        self,
        kind: SecurityEventKind,
        user_id: UUID | None,
        actor_id: UUID | None,
        session_id: UUID | None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...


class AuditRepository(Protocol):
    async def record(self, record: AuditRecord) -> None:
        """Append an entry to the audit log, in this unit of work's transaction."""
        ...

    async def page(self, key: AuditPageKey) -> list[AuditEntry]:
        """Up to `key.first + 1` entries matching the filter, newest first."""
        ...


class PrivacyRepository(Protocol):
    async def lock_user(self, user_id: UUID) -> tuple[User, list[Account]] | None:
        """The user and their accounts, locked for the rest of the transaction."""
        ...

    async def export(self, user_id: UUID) -> dict[str, Any] | None:
        """Everything kept about the user, opened, as one JSON-ready document."""
        ...

    async def shred(self, user_id: UUID) -> None:
        """Destroy the user's data key and blind indexes (and what only they unlock)."""
        ...


class AccountRepository(Protocol):
    async def add(
        self, owner_id: UUID, name: str, currency: str, account_number: str
    ) -> Account | None: ...
    async def lock(self, ids: Sequence[UUID]) -> dict[UUID, Account]: ...
    async def set_status(self, change: AccountChange) -> Account: ...


@dataclass(frozen=True, slots=True)
class PostingFields:
    """The input fields a refusal names: each side's account, the amount and its currency."""

    source: str
    destination: str
    amount: str
    currency: str


@dataclass(frozen=True, slots=True)
class PostingCommand:
    """One money movement, to be posted at most once under the actor's idempotency key.

    A transfer names its source by `source_id`; a deposit leaves it None, meaning the bank's
    settlement account in the amount's currency. The destination is `destination_id` or the
    customer account numbered `destination_number`; with neither it is not found.
    """

    actor_id: UUID
    key: str
    fingerprint: str
    ttl_s: int
    kind: TransferKind
    transfer_id: UUID
    money: Money
    memo: str | None
    # What both ledger entries say.
    description: str
    fields: PostingFields
    source_id: UUID | None = None
    destination_id: UUID | None = None
    destination_number: str | None = None
    # Hold instead of posting: reserve the amount for this many seconds (PENDING).
    hold_s: int | None = None
    # The request's screening, stored with it; and, for BLOCK, the refusal it answers (after
    # the posting rules, so that it never tells about an account the actor may not see).
    screening: Screening | None = None
    features: tuple[float, ...] = ()
    refusal: Refusal | None = None


class PostingOutcome(StrEnum):
    POSTED = "posted"
    # The key's first request was posted: this is its transfer.
    REPLAYED = "replayed"
    # A posting rule refused the request, now or when the key was first used.
    REFUSED = "refused"
    # The key was first used for a different request.
    KEY_REUSED = "key_reused"
    # The key's first request is still in flight (it held the key past the lock timeout).
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The posting rule a request broke, as it is stored under the request's key."""

    code: ErrorCode
    field: str | None
    # Which status refused the account, for ACCOUNT_FROZEN.
    status: AccountStatus | None = None
    # Refusals stored before post_once carry their message; they are replayed with it.
    message: str | None = None

    def to_stored(self) -> dict[str, str]:
        stored = {"code": self.code.value, "field": self.field, "status": self.status}
        return {name: str(value) for name, value in stored.items() if value is not None}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Refusal:
        status = stored.get("status")
        return cls(
            code=ErrorCode[stored["code"]],
            field=stored.get("field"),
            status=AccountStatus(status) if status is not None else None,
            message=stored.get("message"),
        )


@dataclass(frozen=True, slots=True)
class PostingResult:
    """What `post_once` did: the transfer (posted or replayed), or the refusal, or neither."""

    outcome: PostingOutcome
    transfer: Transfer | None = None
    refusal: Refusal | None = None
    # The screening of the key's first request, when it was screened.
    screening: Screening | None = None


class HoldOutcome(StrEnum):
    RESOLVED = "resolved"
    # Settled, voided or expired already (the transfer says which), or, for expiry, not due.
    NOT_PENDING = "not_pending"
    NOT_FOUND = "not_found"
    # Settling was refused (an account is no longer active); nothing changed.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class HoldResult:
    """What `resolve` did, with the transfer as it is now (None when not found)."""

    outcome: HoldOutcome
    transfer: Transfer | None = None
    refusal: Refusal | None = None


class LedgerRepository(Protocol):
    async def post_once(self, command: PostingCommand) -> PostingResult:
        """Atomically: claim the command's (actor, key), or replay what it stored (its
        transfer or its refusal; KEY_REUSED when it answered a different fingerprint,
        IN_PROGRESS when another transaction holds it past the lock timeout); lock both
        accounts in id order; check the posting rules in the domain's order
        (`bff.domain.transfers.refusal`); post the transfer, both entries, both balances and
        sequences and both outbox events; store the result under the key.

        It is a transaction of its own: call it alone in its unit of work. What it did is
        settled when it returns, whether or not `commit()` follows; `commit()` then runs what
        must follow a commit (the cache fences of both accounts)."""
        ...

    async def resolve(
        self, transfer_id: UUID, outcome: TransferStatus, description: str, *, due_only: bool
    ) -> HoldResult:
        """Atomically settle (COMPLETED) or void (CANCELLED) a PENDING transfer: lock both
        accounts in id order, then the transfer; post both legs for the reserved amount or
        release the reservation; next sequences and outbox events. Only a pending transfer
        changes (with `due_only`, only one whose hold has expired), so concurrent resolutions
        resolve it exactly once. A transaction of its own, like `post_once`."""
        ...

    async def due_holds(self, limit: int) -> list[UUID]:
        """Up to `limit` pending transfers whose hold has expired, oldest expiry first."""
        ...


class NotificationRepository(Protocol):
    async def register_device(
        self, user_id: UUID, session_id: UUID, platform: Platform, token: str
    ) -> PushDevice:
        """The session's push registration, replacing any earlier one of the session."""
        ...

    async def preferences(self, user_id: UUID) -> Preferences:
        """The user's preferences (the defaults until they change one)."""
        ...

    async def save_preferences(self, user_id: UUID, preferences: Preferences) -> None: ...
    async def activity(self, key: ActivityPageKey) -> list[ActivityEntry]:
        """Up to `key.first + 1` feed entries, newest first."""
        ...

    async def spending(self, user_id: UUID, month: str) -> list[SpendingLine]:
        """Money sent in `month` (YYYY-MM, UTC) by counterparty and currency, largest first."""
        ...


class DocumentRepository(Protocol):
    async def register(
        self, app: str, version: str, documents: Sequence[TrustedDocument]
    ) -> Build: ...
    async def builds(self) -> list[Build]: ...
    async def retire(self, app: str, version: str) -> Build | None: ...


@dataclass(frozen=True, slots=True)
class ScreeningFacts:
    """What one read tells screening: whether the key already answered (then nothing is scored
    again), the transfer's signals, the payee's id if it exists, and the rules in force."""

    answered: bool
    signals: Signals
    destination_id: UUID | None
    rules: Rules


class FraudRepository(Protocol):
    async def facts(
        self,
        actor_id: UUID,
        session_id: UUID | None,
        key: str,
        amount: int,
        source_id: UUID,
        destination_id: UUID | None,
        destination_number: str | None,
    ) -> ScreeningFacts:
        """Everything screening reads, in one statement (a transaction of its own)."""
        ...

    async def rules(self) -> Rules:
        """The rules in force (the defaults until an analyst saves some)."""
        ...

    async def save_rules(self, rules: Rules, changed_by: UUID, note: str) -> Rules | None:
        """Store `rules` as version `rules.version + 1`, with who and why; None when another
        change took that version first (the caller edited rules that are no longer current)."""
        ...

    async def review_queue(self, key: ReviewPageKey) -> list[HeldTransfer]:
        """Up to `key.first + 1` transfers held for review and not decided, oldest first."""
        ...

    async def claim_review(self, transfer_id: UUID) -> ReviewClaim | None:
        """The transfer's screening, locked until the transaction ends, when it was held for
        review (None otherwise). Begins the unit of work's transaction, so the ledger's
        `resolve` that follows takes part in it."""
        ...

    async def record_review(
        self, transfer_id: UUID, review: Review, reviewer_id: UUID, note: str
    ) -> None:
        """Store an analyst's decision on the screening (its training label)."""
        ...


@dataclass(frozen=True, slots=True)
class PushedRequest:
    """An authorization request a client pushed (RFC 9126)."""

    client_id: str
    params: dict[str, str]
    expires_at: datetime
    used: bool


@dataclass(frozen=True, slots=True)
class CodeUse:
    """What presenting an authorization code found: its binding, and whether it was spent."""

    grant: Grant
    redirect_uri: str
    code_challenge: str
    dpop_jkt: str | None
    expired: bool
    replayed: bool


@dataclass(frozen=True, slots=True)
class RefreshUse:
    grant: Grant
    jkt: str
    used: bool


class OAuthRepository(Protocol):
    async def add_client(self, client: Client, created_by: UUID | None) -> None: ...
    async def client(self, client_id: str) -> Client | None: ...
    async def add_request(
        self, request_id: str, client_id: str, params: dict[str, str], expires_at: datetime
    ) -> None: ...
    async def request(self, request_id: str) -> PushedRequest | None: ...
    async def use_request(self, request_id: str) -> bool:
        """Mark a live pushed request used; False when it was used or expired already."""
        ...

    async def add_grant(
        self,
        user_id: UUID,
        client_id: str,
        scopes: frozenset[str],
        account_ids: Sequence[UUID],
        daily_limit: int,
    ) -> Grant:
        """A new grant; the customer's earlier live grants to the same client end (replaced)."""
        ...

    async def grant(self, grant_id: UUID) -> Grant | None: ...
    async def grants_of(self, user_id: UUID) -> list[Grant]: ...
    async def revoke_grant(self, grant_id: UUID, reason: GrantRevocation) -> bool: ...
    async def touch_grant(self, grant_id: UUID) -> None: ...
    async def add_code(
        self,
        code_hash: bytes,
        grant_id: UUID,
        redirect_uri: str,
        code_challenge: str,
        dpop_jkt: str | None,
        expires_at: datetime,
    ) -> None: ...
    async def use_code(self, code_hash: bytes) -> CodeUse | None:
        """Spend a code (locked until the transaction ends); `replayed` when already spent."""
        ...

    async def add_refresh_token(self, token_hash: bytes, grant_id: UUID, jkt: str) -> None: ...
    async def lock_refresh_token(self, token_hash: bytes) -> RefreshUse | None: ...
    async def use_refresh_token(self, token_hash: bytes) -> None: ...
    async def first_use_of_jti(self, jti: str, expires_at: datetime) -> bool:
        """Remember a JWT ID until `expires_at`; False when it was seen before."""
        ...

    async def lock_grant(self, grant_id: UUID) -> Grant | None: ...
    async def spent_today(self, grant_id: UUID, currency: str) -> int: ...
    async def record_transfer(
        self, transfer_id: UUID, grant_id: UUID, client_id: str, money: Money
    ) -> None:
        """Count `money` against the grant's day, as the transfer `transfer_id` will be."""
        ...

    async def release_transfer(self, transfer_id: UUID) -> None:
        """Give back a reservation whose posting did not happen."""
        ...


class SecondFactorRepository(Protocol):
    async def totp(self, user_id: UUID) -> TotpFactor | None:
        """The user's authenticator app (pending or active), its secret opened."""
        ...

    async def replace_pending_totp(
        self, user_id: UUID, secret: str, challenge: bytes | None
    ) -> TotpFactor:
        """A pending TOTP factor with this secret (sealed) and the challenge a passkey signs
        as proof, replacing a pending one."""
        ...

    async def activate_totp(self, factor_id: UUID, step: int) -> None: ...
    async def use_totp(self, factor_id: UUID, step: int) -> bool:
        """Record that a code of `step` was accepted; False when that step or a later one was
        (a replayed or concurrent code)."""
        ...

    async def remove(self, factor_id: UUID) -> None: ...
    async def has_active(self, user_id: UUID) -> bool:
        """Whether the user has a second factor to confirm a step-up with."""
        ...

    async def passkeys(self, user_id: UUID) -> list[Passkey]:
        """The user's active passkeys, oldest first."""
        ...

    async def passkey(self, credential_id: bytes) -> Passkey | None:
        """The active passkey of this credential, whoever's it is."""
        ...

    async def replace_pending_passkey(self, user_id: UUID, challenge: bytes) -> None:
        """Begin a registration with this challenge, replacing one begun before."""
        ...

    async def pending_passkey(self, user_id: UUID) -> PendingPasskey | None: ...
    async def activate_passkey(self, factor_id: UUID, registered: Registered) -> Passkey | None:
        """Bind the credential to the pending registration, which ends (its challenge is
        spent); None when the registration is gone or the credential is already registered."""
        ...

    async def use_passkey(self, factor_id: UUID, sign_count: int) -> bool:
        """Record an accepted assertion's counter; False when the stored one moved to it or
        past it meanwhile (a concurrent or replayed assertion)."""
        ...

    async def remove_passkey(self, user_id: UUID, factor_id: UUID) -> bool:
        """Delete the user's active passkey; False when they have none of that id."""
        ...

    async def ask_removal(self, user_id: UUID, factor_id: UUID, challenge: bytes | None) -> bool:
        """Keep `challenge` on the user's active passkey for the proof of its removal (None
        spends the one kept); False when they have no passkey of that id."""
        ...


class StepUpRepository(Protocol):
    async def open(
        self, transfer_id: UUID, user_id: UUID, session_id: UUID, expires_at: datetime
    ) -> UUID:
        """The transfer's challenge: created once, found again on a retry."""
        ...

    async def lock(self, challenge_id: UUID) -> Challenge | None: ...
    async def fail(self, challenge_id: UUID) -> int:
        """Count a wrong answer; the challenge's failures now."""
        ...

    async def close(self, challenge_id: UUID, status: ChallengeStatus) -> None: ...
    async def set_assertion(self, challenge_id: UUID, assertion_challenge: bytes | None) -> None:
        """Hand out (or, once an assertion was checked against it, spend) the WebAuthn
        challenge a passkey answers the step-up with."""
        ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block without `commit()` rolls it back."""

    @property
    def users(self) -> UserRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def throttles(self) -> ThrottleRepository: ...
    @property
    def security_events(self) -> SecurityEventRepository: ...
    @property
    def notifications(self) -> NotificationRepository: ...
    @property
    def documents(self) -> DocumentRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def privacy(self) -> PrivacyRepository: ...
    @property
    def fraud(self) -> FraudRepository: ...
    @property
    def oauth(self) -> OAuthRepository: ...
    @property
    def second_factors(self) -> SecondFactorRepository: ...
    @property
    def step_up(self) -> StepUpRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
