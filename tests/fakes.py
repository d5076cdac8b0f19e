"""In-memory fakes of the domain's ports (bff/domain/ports.py), for fast tests of the rules.

`FakeUnitOfWork` keeps plain dicts of immutable rows, one per table. Each `async with` block
works on a copy of what is committed; `commit()` makes the copy the committed state (so does
`ledger.post_once`, a transaction of its own as on PostgreSQL) and leaving the block discards
anything written after it, as a rolled-back transaction would. There is no
other transaction, so every lock is granted at once. The constraints the domain relies on are
enforced like PostgreSQL does (unique emails and account numbers, balanced legs, no overdraft
beyond the limit, one event per account sequence); tests/test_port_contract.py runs the same
repository behaviours against this fake and the SQL unit of work so that the two cannot drift.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

from bff.domain import transfers
from bff.domain.audit_models import AuditEntry, AuditPageKey, AuditRecord
from bff.domain.challenges import Challenge, ChallengeStatus
from bff.domain.delegation import Client, ClientKind, Grant, GrantRevocation
from bff.domain.documents import Build, TrustedDocument
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.fraud import Rules
from bff.domain.models import (
    Account,
    AccountChange,
    AccountEvent,
    AccountKind,
    AccountStatus,
    Entry,
    Posting,
    RefreshGrant,
    RevocationReason,
    SecurityEventKind,
    Session,
    Transfer,
    TransferStatus,
    User,
)
from bff.domain.money import Currency, Money
from bff.domain.notification_models import (
    SENT_KINDS,
    ActivityEntry,
    ActivityPageKey,
    Platform,
    Preferences,
    PushDevice,
    SpendingLine,
)
from bff.domain.pages import MAX_SEQUENCE
from bff.domain.passkeys import Passkey, PendingPasskey, Registered
from bff.domain.ports import (
    CodeUse,
    HoldResult,
    PostingCommand,
    PostingOutcome,
    PostingResult,
    PushedRequest,
    RefreshUse,
    Refusal,
    ScreeningFacts,
)
from bff.domain.rbac import Role
from bff.domain.review_models import HeldTransfer, Review, ReviewClaim, ReviewPageKey
from bff.domain.throttle import ThrottleScope, ThrottleState
from bff.domain.totp import TotpFactor

ThrottleKey = tuple[ThrottleScope, str]
# The database keeps idempotency records at least this long (idempotency_keys_kept_a_day).
MIN_KEY_TTL = timedelta(hours=24)


class ConstraintViolation(Exception):
    """A write PostgreSQL would refuse; the message names the constraint it would break."""


@dataclass(frozen=True, slots=True)
class StoredUser:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class StoredSession:
    session: Session
    revoked_reason: RevocationReason | None = None


@dataclass(frozen=True, slots=True)
class StoredToken:
    session_id: UUID
    used: bool = False


@dataclass(frozen=True, slots=True)
class StoredKey:
    fingerprint: str
    result: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    kind: SecurityEventKind
    user_id: UUID | None
    actor_id: UUID | None
    session_id: UUID | None
    detail: dict[str, Any]


def _settlement_accounts() -> dict[UUID, Account]:
    """One settlement account per currency, numbered like the first migration numbers them."""
    now = datetime.now(UTC)
    settlements = [
        Account(
            id=uuid4(),
            owner_id=None,
            kind=AccountKind.SETTLEMENT,
            name=f"{currency} settlement",
            currency=currency.value,
            status=AccountStatus.ACTIVE,
            balance=0,
            available_balance=0,
            overdraft_limit=0,
            account_number=f"{index:012d}",
            last_sequence=0,
            created_at=now,
        )
        for index, currency in enumerate(Currency)
    ]
    return {account.id: account for account in settlements}


@dataclass
class Tables:
    """What the database holds: one dict (or list) of immutable rows per table."""

    users: dict[UUID, StoredUser] = field(default_factory=dict)
    sessions: dict[UUID, StoredSession] = field(default_factory=dict)
    refresh_tokens: dict[bytes, StoredToken] = field(default_factory=dict)
    accounts: dict[UUID, Account] = field(default_factory=_settlement_accounts)
    transfers: dict[UUID, Transfer] = field(default_factory=dict)
    entries: dict[UUID, Entry] = field(default_factory=dict)
    events: dict[tuple[UUID, int], AccountEvent] = field(default_factory=dict)
    idempotency_keys: dict[tuple[UUID, str], StoredKey] = field(default_factory=dict)
    throttles: dict[ThrottleKey, ThrottleState] = field(default_factory=dict)
    security_events: list[SecurityEvent] = field(default_factory=list)
    push_devices: dict[UUID, PushDevice] = field(default_factory=dict)  # by session
    preferences: dict[UUID, Preferences] = field(default_factory=dict)
    activity: list[tuple[UUID, ActivityEntry]] = field(default_factory=list)
    builds: dict[tuple[str, str], Build] = field(default_factory=dict)
    build_documents: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    oauth_clients: dict[str, Client] = field(default_factory=dict)
    oauth_requests: dict[str, PushedRequest] = field(default_factory=dict)
    oauth_grants: dict[UUID, Grant] = field(default_factory=dict)
    oauth_codes: dict[bytes, tuple[CodeUse, bool]] = field(default_factory=dict)  # (use, spent)
    oauth_refresh: dict[bytes, tuple[UUID, str, bool]] = field(default_factory=dict)
    oauth_jti: dict[str, datetime] = field(default_factory=dict)
    oauth_transfers: dict[UUID, tuple[UUID, Money]] = field(default_factory=dict)

    def copy(self) -> Tables:
        """A snapshot: the rows are immutable, so copying each table is enough."""
        tables = {f.name: copy.copy(getattr(self, f.name)) for f in fields(self)}
        return Tables(**tables)


def _now() -> datetime:
    return datetime.now(UTC)


class _Repository:
    """A repository over the tables of the open block."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables


class FakeUsers(_Repository):
    async def add(
        self, email: str, password_hash: str, display_name: str, roles: frozenset[Role]
    ) -> User:
        if email != email.lower():
            raise ConstraintViolation("users_email_normalised")
        if any(stored.user.email == email for stored in self._tables.users.values()):
            raise DomainError(ErrorCode.EMAIL_TAKEN, field="email")
        user = User(uuid4(), email, display_name, roles, _now())
        self._tables.users[user.id] = StoredUser(user, password_hash)
        return user

    async def get(self, user_id: UUID) -> User | None:
        stored = self._tables.users.get(user_id)
        return stored.user if stored else None

    async def lock(self, user_id: UUID) -> User | None:
        return await self.get(user_id)

    async def credentials(self, email: str) -> tuple[User, str] | None:
        for stored in self._tables.users.values():
            if stored.user.email == email:
                return stored.user, stored.password_hash
        return None

    async def credentials_of(self, user_id: UUID) -> tuple[User, str] | None:
        stored = self._tables.users.get(user_id)
        return (stored.user, stored.password_hash) if stored else None

    async def set_password(self, user_id: UUID, password_hash: str) -> None:
        stored = self._tables.users[user_id]
        self._tables.users[user_id] = replace(stored, password_hash=password_hash)

    async def set_roles(self, user_id: UUID, roles: frozenset[Role]) -> User:
        if not roles:
            raise ConstraintViolation("users_roles_check: a user keeps at least one role")
        stored = self._tables.users[user_id]
        user = replace(stored.user, roles=roles)
        self._tables.users[user_id] = replace(stored, user=user)
        return user


class FakeSessions(_Repository):
    async def add(
        self, user_id: UUID, device_name: str, refresh_token_hash: bytes, expires_at: datetime
    ) -> Session:
        if user_id not in self._tables.users:
            raise ConstraintViolation("sessions_user_id_fkey")
        now = _now()
        session = Session(uuid4(), user_id, device_name, now, now, expires_at)
        self._tables.sessions[session.id] = StoredSession(session)
        self._tables.refresh_tokens[refresh_token_hash] = StoredToken(session.id)
        return session

    async def get(self, session_id: UUID) -> Session | None:
        stored = self._tables.sessions.get(session_id)
        return stored.session if stored else None

    async def active(self, user_id: UUID) -> list[Session]:
        now = _now()
        live = [
            stored.session
            for stored in self._tables.sessions.values()
            if stored.session.user_id == user_id
            and stored.revoked_reason is None
            and stored.session.expires_at > now
        ]
        # Most recently used first, then by id, as the SQL orders them.
        live.sort(key=lambda session: session.id)
        live.sort(key=lambda session: session.last_used_at, reverse=True)
        return live

    async def lock_refresh_token(self, token_hash: bytes) -> RefreshGrant | None:
        token = self._tables.refresh_tokens.get(token_hash)
        if token is None:
            return None
        stored = self._tables.sessions[token.session_id]
        return RefreshGrant(stored.session, token.used, stored.revoked_reason is not None)

    async def rotate(self, session_id: UUID, used_hash: bytes, new_hash: bytes) -> Session:
        tokens = self._tables.refresh_tokens
        tokens[used_hash] = replace(tokens[used_hash], used=True)
        tokens[new_hash] = StoredToken(session_id)
        stored = self._tables.sessions[session_id]
        session = replace(stored.session, last_used_at=_now())
        self._tables.sessions[session_id] = replace(stored, session=session)
        return session

    async def revoke(self, session_id: UUID, reason: RevocationReason) -> bool:
        stored = self._tables.sessions.get(session_id)
        if stored is None or stored.revoked_reason is not None:
            return False
        self._tables.sessions[session_id] = replace(stored, revoked_reason=reason)
        return True

    async def revoke_all(
        self, user_id: UUID, reason: RevocationReason, keep: UUID | None = None
    ) -> int:
        ended = [
            stored.session.id
            for stored in self._tables.sessions.values()
            if stored.session.user_id == user_id
            and stored.revoked_reason is None
            and stored.session.id != keep
        ]
        for session_id in ended:
            await self.revoke(session_id, reason)
        return len(ended)


class FakeThrottles(_Repository):
    async def lock(self, keys: Sequence[ThrottleKey]) -> dict[ThrottleKey, ThrottleState]:
        for key in keys:
            self._tables.throttles.setdefault(key, ThrottleState())
        return {key: self._tables.throttles[key] for key in sorted(set(keys))}

    async def save(self, key: ThrottleKey, state: ThrottleState) -> None:
        if key in self._tables.throttles:
            self._tables.throttles[key] = state


class FakeSecurityEvents(_Repository):
    async def record(
        self,
        kind: SecurityEventKind,
        user_id: UUID | None,
        actor_id: UUID | None,
        session_id: UUID | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        event = SecurityEvent(kind, user_id, actor_id, session_id, dict(detail or {}))
        self._tables.security_events.append(event)


class FakeDocuments(_Repository):
    """App builds; a build's documents are only counted (the domain reads no more back)."""

    async def register(self, app: str, version: str, documents: Sequence[TrustedDocument]) -> Build:
        old = self._tables.builds.get((app, version))
        count = len({d.hash for d in documents}) + (old.documents if old else 0)
        build = Build(app, version, count, old.registered_at if old else _now(), None)
        self._tables.builds[(app, version)] = build
        return build

    async def builds(self) -> list[Build]:
        return sorted(self._tables.builds.values(), key=lambda b: b.registered_at, reverse=True)

    async def retire(self, app: str, version: str) -> Build | None:
        build = self._tables.builds.get((app, version))
        if build is None:
            return None
        retired = replace(build, retired_at=build.retired_at or _now())
        self._tables.builds[(app, version)] = retired
        return retired


class FakeAudit(_Repository):
    """Keeps the records; the chain and its reads are PostgreSQL's (tests/test_audit*.py)."""

    async def record(self, record: AuditRecord) -> None:
        self._tables.audit.append(record)

    async def page(self, key: AuditPageKey) -> list[AuditEntry]:
        raise NotImplementedError("the audit log is read from PostgreSQL only")


class FakePrivacy(_Repository):
    """Privacy rights are PostgreSQL's (tests/test_privacy.py)."""

    async def lock_user(self, user_id: UUID) -> tuple[User, list[Account]] | None:
        raise NotImplementedError("privacy rights are exercised on PostgreSQL only")

    async def export(self, user_id: UUID) -> dict[str, Any] | None:
        raise NotImplementedError("privacy rights are exercised on PostgreSQL only")

    async def shred(self, user_id: UUID) -> None:
        raise NotImplementedError("privacy rights are exercised on PostgreSQL only")


class FakeAccounts(_Repository):
    async def add(
        self, owner_id: UUID, name: str, currency: str, account_number: str
    ) -> Account | None:
        if owner_id not in self._tables.users:
            raise ConstraintViolation("accounts_owner_id_fkey")
        accounts = self._tables.accounts
        if any(account.account_number == account_number for account in accounts.values()):
            return None
        account = Account(
            id=uuid4(),
            owner_id=owner_id,
            kind=AccountKind.CUSTOMER,
            name=name,
            currency=currency,
            status=AccountStatus.ACTIVE,
            balance=0,
            available_balance=0,
            overdraft_limit=0,
            account_number=account_number,
            last_sequence=0,
            created_at=_now(),
        )
        accounts[account.id] = account
        return account

    async def lock(self, ids: Sequence[UUID]) -> dict[UUID, Account]:
        accounts = self._tables.accounts
        return {id_: accounts[id_] for id_ in sorted(set(ids)) if id_ in accounts}

    async def set_status(self, change: AccountChange) -> Account:
        account = replace(
            self._tables.accounts[change.account_id],
            status=change.status,
            last_sequence=change.sequence,
        )
        _record_event(self._tables, account, change)
        self._tables.accounts[account.id] = account
        return account


def _record_event(tables: Tables, account: Account, change: AccountChange) -> None:
    key = (account.id, change.sequence)
    if key in tables.events:
        raise ConstraintViolation("account_events_account_sequence_key")
    tables.events[key] = AccountEvent(
        account_id=account.id,
        sequence=change.sequence,
        kind=change.event,
        balance=account.balance,
        available_balance=account.available_balance,
        status=account.status,
        currency=account.currency,
        entry=change.entry,
    )


# Two-phase transfers are checked against PostgreSQL itself (tests/test_holds.py): the fake
# covers the posting rules the domain shares with post_transfer().
_HOLDS_IN_POSTGRESQL = "held transfers are tested against PostgreSQL (tests/test_holds.py)"


class FakeLedger(_Repository):
    """`post_once` in Python: the key claimed or replayed as PostgreSQL's post_transfer() does,
    the domain's own posting rules and writes, and the database's checks on what is written."""

    def __init__(self, tables: Tables, commit: Callable[[], None]) -> None:
        super().__init__(tables)
        # post_once is a transaction of its own: what it did is committed when it returns.
        self._commit = commit

    async def post_once(self, command: PostingCommand) -> PostingResult:
        if command.hold_s is not None:
            raise NotImplementedError(_HOLDS_IN_POSTGRESQL)
        stored = self._claim(command)
        if stored is None:
            result = self._post(command)
            self._commit()
            return result
        if stored.fingerprint != command.fingerprint:
            return PostingResult(PostingOutcome.KEY_REUSED)
        # Only the transaction that claimed a key sees it without a result; with one
        # transaction at a time, that is a claim made twice in the same block.
        assert stored.result is not None, "the key was claimed twice in one transaction"
        if "error" in stored.result:
            refusal = Refusal.from_stored(stored.result["error"])
            return PostingResult(PostingOutcome.REFUSED, refusal=refusal)
        transfer = self._tables.transfers[UUID(stored.result["transfer_id"])]
        return PostingResult(PostingOutcome.REPLAYED, transfer=transfer)

    async def resolve(
        self, transfer_id: UUID, outcome: TransferStatus, description: str, *, due_only: bool
    ) -> HoldResult:
        raise NotImplementedError(_HOLDS_IN_POSTGRESQL)

    async def due_holds(self, limit: int) -> list[UUID]:
        raise NotImplementedError(_HOLDS_IN_POSTGRESQL)

    def _claim(self, command: PostingCommand) -> StoredKey | None:
        """None when the key is now the command's (new, or expired and taken over)."""
        now = _now()
        if timedelta(seconds=command.ttl_s) < MIN_KEY_TTL:
            raise ConstraintViolation("idempotency_keys_kept_a_day")
        records = self._tables.idempotency_keys
        key = (command.actor_id, command.key)
        stored = records.get(key)
        if stored is not None and stored.expires_at >= now:
            return stored
        expires_at = now + timedelta(seconds=command.ttl_s)
        records[key] = StoredKey(command.fingerprint, None, now, expires_at)
        return None

    def _post(self, command: PostingCommand) -> PostingResult:
        # Each side as the function's look-ups name it (one account may be both).
        source = self._find(
            lambda account: (
                account.id == command.source_id
                or (
                    command.source_id is None
                    and account.kind is AccountKind.SETTLEMENT
                    and account.currency == command.money.currency
                )
            )
        )
        destination = self._find(
            lambda account: (
                account.id == command.destination_id
                or (
                    command.destination_id is None
                    and account.kind is AccountKind.CUSTOMER
                    and account.account_number == command.destination_number
                )
            )
        )
        key = (command.actor_id, command.key)
        refusal = transfers.refusal(command, source, destination)
        if refusal is not None:
            self._answer(key, {"error": refusal.to_stored()})
            return PostingResult(PostingOutcome.REFUSED, refusal=refusal)
        assert source is not None
        assert destination is not None
        posting = transfers.posting(command, source, destination)
        self._write(posting)
        self._answer(key, {"transfer_id": str(posting.transfer.id)})
        return PostingResult(PostingOutcome.POSTED, transfer=posting.transfer)

    def _find(self, named: Callable[[Account], bool]) -> Account | None:
        return next((account for account in self._tables.accounts.values() if named(account)), None)

    def _answer(self, key: tuple[UUID, str], result: dict[str, Any]) -> None:
        records = self._tables.idempotency_keys
        records[key] = replace(records[key], result=result)

    def _write(self, posting: Posting) -> None:
        transfer = posting.transfer
        _check_posting(self._tables, posting)
        self._tables.transfers[transfer.id] = transfer
        for change in posting.changes:
            assert change.entry is not None
            account = replace(
                self._tables.accounts[change.account_id],
                balance=change.balance,
                available_balance=change.available_balance,
                last_sequence=change.sequence,
            )
            if account.kind is AccountKind.CUSTOMER and (
                min(account.balance, account.available_balance) < -account.overdraft_limit
            ):
                raise ConstraintViolation("accounts_no_overdraft")
            _record_event(self._tables, account, change)
            self._tables.entries[change.entry.id] = change.entry
            self._tables.accounts[account.id] = account


def _check_posting(tables: Tables, posting: Posting) -> None:
    """The checks and the deferred trigger the ledger tables carry in PostgreSQL."""
    transfer = posting.transfer
    if transfer.initiated_by not in tables.users:
        raise ConstraintViolation("transfers_initiated_by_fkey")
    if transfer.amount <= 0:
        raise ConstraintViolation("transfers_amount_positive")
    if transfer.from_account_id == transfer.to_account_id:
        raise ConstraintViolation("transfers_distinct_accounts")
    entries = [change.entry for change in posting.changes if change.entry is not None]
    if any(entry.amount == 0 for entry in entries):
        raise ConstraintViolation("ledger_entries_amount_nonzero")
    legs = {entry.account_id: entry for entry in entries}
    balanced = (
        len(entries) == 2
        and set(legs) == {transfer.from_account_id, transfer.to_account_id}
        and legs[transfer.from_account_id].amount == -transfer.amount
        and legs[transfer.to_account_id].amount == transfer.amount
        and all(
            entry.currency == transfer.currency == tables.accounts[entry.account_id].currency
            for entry in entries
        )
    )
    if not balanced:
        raise ConstraintViolation("check_transfer_balanced")


class FakeNotifications(_Repository):
    async def register_device(
        self, user_id: UUID, session_id: UUID, platform: Platform, token: str
    ) -> PushDevice:
        earlier = self._tables.push_devices.get(session_id)
        device = PushDevice(
            earlier.id if earlier else uuid4(), user_id, session_id, platform, token
        )
        self._tables.push_devices[session_id] = device
        return device

    async def preferences(self, user_id: UUID) -> Preferences:
        return self._tables.preferences.get(user_id, Preferences())

    async def save_preferences(self, user_id: UUID, preferences: Preferences) -> None:
        self._tables.preferences[user_id] = preferences

    async def activity(self, key: ActivityPageKey) -> list[ActivityEntry]:
        entries = sorted(
            (entry for owner, entry in self._tables.activity if owner == key.user_id),
            key=lambda entry: -entry.id,
        )
        before = key.before_id if key.before_id is not None else MAX_SEQUENCE
        return [entry for entry in entries if entry.id < before][: key.first + 1]

    async def spending(self, user_id: UUID, month: str) -> list[SpendingLine]:
        totals: dict[tuple[str, str, str], list[int]] = {}
        for owner, entry in self._tables.activity:
            if owner != user_id or entry.kind not in SENT_KINDS:
                continue
            if entry.occurred_at.astimezone(UTC).strftime("%Y-%m") != month:
                continue
            data = entry.data
            who = (
                "the bank"
                if data["counterparty_is_bank"]
                else f"••{data['counterparty_last_four']}"
            )
            total = totals.setdefault(
                (who, data["currency"], data["counterparty_account_id"]), [0, 0]
            )
            total[0] += int(data["amount"])
            total[1] += 1
        lines = [
            SpendingLine(month, who, currency, amount, count)
            for (who, currency, _), (amount, count) in totals.items()
        ]
        return sorted(lines, key=lambda line: (-line.amount, line.counterparty, line.currency))


class FakeFraud(_Repository):
    """Screening reads the ledger's history in SQL; it is tested against PostgreSQL."""

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
        raise NotImplementedError(_SCREENING_IN_POSTGRESQL)

    async def rules(self) -> Rules:
        raise NotImplementedError(_SCREENING_IN_POSTGRESQL)

    async def save_rules(self, rules: Rules, changed_by: UUID, note: str) -> Rules | None:
        raise NotImplementedError(_SCREENING_IN_POSTGRESQL)

    async def review_queue(self, key: ReviewPageKey) -> list[HeldTransfer]:
        raise NotImplementedError(_SCREENING_IN_POSTGRESQL)

    async def claim_review(self, transfer_id: UUID) -> ReviewClaim | None:
        raise NotImplementedError(_SCREENING_IN_POSTGRESQL)

    async def record_review(
        self, transfer_id: UUID, review: Review, reviewer_id: UUID, note: str
    ) -> None:
        raise NotImplementedError(_SCREENING_IN_POSTGRESQL)


_SCREENING_IN_POSTGRESQL = "screening is tested against PostgreSQL (tests/test_fraud_*.py)"


class FakeOAuth(_Repository):
    """Clients, pushed requests, grants, codes and refresh tokens, as bff/db keeps them."""

    async def add_client(self, client: Client, created_by: UUID | None) -> None:
        if client.id in self._tables.oauth_clients:
            raise ConstraintViolation("oauth_clients_pkey")
        if (client.kind is ClientKind.CONFIDENTIAL) != (client.jwks is not None):
            raise ConstraintViolation("oauth_clients_keys")
        self._tables.oauth_clients[client.id] = client

    async def client(self, client_id: str) -> Client | None:
        return self._tables.oauth_clients.get(client_id)

    async def add_request(
        self, request_id: str, client_id: str, params: dict[str, str], expires_at: datetime
    ) -> None:
        pushed = PushedRequest(client_id, params, expires_at, False)
        self._tables.oauth_requests[request_id] = pushed

    async def request(self, request_id: str) -> PushedRequest | None:
        return self._tables.oauth_requests.get(request_id)

    async def use_request(self, request_id: str) -> bool:
        pushed = self._tables.oauth_requests.get(request_id)
        if pushed is None or pushed.used or pushed.expires_at <= _now():
            return False
        self._tables.oauth_requests[request_id] = replace(pushed, used=True)
        return True

    async def add_grant(
        self,
        user_id: UUID,
        client_id: str,
        scopes: frozenset[str],
        account_ids: Sequence[UUID],
        daily_limit: int,
    ) -> Grant:
        for grant in list(self._tables.oauth_grants.values()):
            if grant.user_id == user_id and grant.client_id == client_id:
                await self.revoke_grant(grant.id, GrantRevocation.REPLACED)
        client = self._tables.oauth_clients[client_id]
        grant = Grant(
            uuid4(),
            user_id,
            client_id,
            client.name,
            scopes,
            tuple(account_ids),
            daily_limit,
            _now(),
            None,
            None,
        )
        self._tables.oauth_grants[grant.id] = grant
        return grant

    async def grant(self, grant_id: UUID) -> Grant | None:
        return self._tables.oauth_grants.get(grant_id)

    async def lock_grant(self, grant_id: UUID) -> Grant | None:
        grant = self._tables.oauth_grants.get(grant_id)
        return grant if grant is not None and grant.revoked_at is None else None

    async def grants_of(self, user_id: UUID) -> list[Grant]:
        live = [
            grant
            for grant in self._tables.oauth_grants.values()
            if grant.user_id == user_id and grant.revoked_at is None
        ]
        return sorted(live, key=lambda grant: grant.created_at, reverse=True)

    async def revoke_grant(self, grant_id: UUID, reason: GrantRevocation) -> bool:
        grant = self._tables.oauth_grants.get(grant_id)
        if grant is None or grant.revoked_at is not None:
            return False
        self._tables.oauth_grants[grant_id] = replace(grant, revoked_at=_now())
        return True

    async def touch_grant(self, grant_id: UUID) -> None:
        grant = self._tables.oauth_grants[grant_id]
        self._tables.oauth_grants[grant_id] = replace(grant, last_used_at=_now())

    async def add_code(
        self,
        code_hash: bytes,
        grant_id: UUID,
        redirect_uri: str,
        code_challenge: str,
        dpop_jkt: str | None,
        expires_at: datetime,
    ) -> None:
        grant = self._tables.oauth_grants[grant_id]
        use = CodeUse(grant, redirect_uri, code_challenge, dpop_jkt, expires_at <= _now(), False)
        self._tables.oauth_codes[code_hash] = (use, False)

    async def use_code(self, code_hash: bytes) -> CodeUse | None:
        found = self._tables.oauth_codes.get(code_hash)
        if found is None:
            return None
        use, spent = found
        self._tables.oauth_codes[code_hash] = (use, True)
        grant = self._tables.oauth_grants[use.grant.id]
        return replace(use, grant=grant, replayed=spent)

    async def add_refresh_token(self, token_hash: bytes, grant_id: UUID, jkt: str) -> None:
        self._tables.oauth_refresh[token_hash] = (grant_id, jkt, False)

    async def lock_refresh_token(self, token_hash: bytes) -> RefreshUse | None:
        found = self._tables.oauth_refresh.get(token_hash)
        if found is None:
            return None
        grant_id, jkt, used = found
        return RefreshUse(self._tables.oauth_grants[grant_id], jkt, used)

    async def use_refresh_token(self, token_hash: bytes) -> None:
        grant_id, jkt, _ = self._tables.oauth_refresh[token_hash]
        self._tables.oauth_refresh[token_hash] = (grant_id, jkt, True)

    async def first_use_of_jti(self, jti: str, expires_at: datetime) -> bool:
        if jti in self._tables.oauth_jti:
            return False
        self._tables.oauth_jti[jti] = expires_at
        return True

    async def spent_today(self, grant_id: UUID, currency: str) -> int:
        return sum(
            money.minor
            for transfer_id, (grant, money) in self._tables.oauth_transfers.items()
            if grant == grant_id and money.currency == currency and not self._voided(transfer_id)
        )

    def _voided(self, transfer_id: UUID) -> bool:
        transfer = self._tables.transfers.get(transfer_id)
        return transfer is not None and transfer.status is TransferStatus.CANCELLED

    async def record_transfer(
        self, transfer_id: UUID, grant_id: UUID, client_id: str, money: Money
    ) -> None:
        self._tables.oauth_transfers.setdefault(transfer_id, (grant_id, money))

    async def release_transfer(self, transfer_id: UUID) -> None:
        self._tables.oauth_transfers.pop(transfer_id, None)


class FakeSecondFactors(_Repository):
    """Second factors are sealed in SQL; they are tested against PostgreSQL."""

    async def totp(self, user_id: UUID) -> TotpFactor | None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def replace_pending_totp(
        self, user_id: UUID, secret: str, challenge: bytes | None
    ) -> TotpFactor:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def activate_totp(self, factor_id: UUID, step: int) -> None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def use_totp(self, factor_id: UUID, step: int) -> bool:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def remove(self, factor_id: UUID) -> None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def has_active(self, user_id: UUID) -> bool:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def passkeys(self, user_id: UUID) -> list[Passkey]:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def passkey(self, credential_id: bytes) -> Passkey | None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def replace_pending_passkey(self, user_id: UUID, challenge: bytes) -> None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def pending_passkey(self, user_id: UUID) -> PendingPasskey | None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def activate_passkey(self, factor_id: UUID, registered: Registered) -> Passkey | None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def use_passkey(self, factor_id: UUID, sign_count: int) -> bool:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def remove_passkey(self, user_id: UUID, factor_id: UUID) -> bool:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def ask_removal(self, user_id: UUID, factor_id: UUID, challenge: bytes | None) -> bool:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)


class FakeStepUp(_Repository):
    """Step-up challenges hold transfers that screening held; tested against PostgreSQL."""

    async def open(
        self, transfer_id: UUID, user_id: UUID, session_id: UUID, expires_at: datetime
    ) -> UUID:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def lock(self, challenge_id: UUID) -> Challenge | None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def fail(self, challenge_id: UUID) -> int:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def close(self, challenge_id: UUID, status: ChallengeStatus) -> None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)

    async def set_assertion(self, challenge_id: UUID, assertion_challenge: bytes | None) -> None:
        raise NotImplementedError(_SECOND_FACTORS_IN_POSTGRESQL)


_SECOND_FACTORS_IN_POSTGRESQL = "second factors are tested against PostgreSQL"


class FakeUnitOfWork:
    """The domain's `UnitOfWork` over plain dicts: what `commit()` saved is in `committed`."""

    users: FakeUsers
    sessions: FakeSessions
    accounts: FakeAccounts
    ledger: FakeLedger
    throttles: FakeThrottles
    security_events: FakeSecurityEvents
    notifications: FakeNotifications
    documents: FakeDocuments
    audit: FakeAudit
    privacy: FakePrivacy
    fraud: FakeFraud
    oauth: FakeOAuth
    second_factors: FakeSecondFactors
    step_up: FakeStepUp

    def __init__(self) -> None:
        self.committed = Tables()
        self._open: Tables | None = None

    async def __aenter__(self) -> Self:
        if self._open is not None:
            raise RuntimeError("unit of work is already open")
        tables = self._open = self.committed.copy()
        self.users = FakeUsers(tables)
        self.sessions = FakeSessions(tables)
        self.accounts = FakeAccounts(tables)
        self.ledger = FakeLedger(tables, self._commit_open)
        self.throttles = FakeThrottles(tables)
        self.security_events = FakeSecurityEvents(tables)
        self.notifications = FakeNotifications(tables)
        self.documents = FakeDocuments(tables)
        self.audit = FakeAudit(tables)
        self.privacy = FakePrivacy(tables)
        self.fraud = FakeFraud(tables)
        self.oauth = FakeOAuth(tables)
        self.second_factors = FakeSecondFactors(tables)
        self.step_up = FakeStepUp(tables)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Whatever was written since the last commit is dropped with the working copy.
        self._open = None

    async def commit(self) -> None:
        self._commit_open()

    def _commit_open(self) -> None:
        assert self._open is not None, "commit() outside of the unit of work"
        self.committed = self._open.copy()
