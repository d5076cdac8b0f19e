"""What the domain needs from storage. `bff.db` implements these on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from bff.domain.models import (
    Account,
    AccountChange,
    Posting,
    RefreshGrant,
    RevocationReason,
    SecurityEventKind,
    Session,
    Transfer,
    User,
)
from bff.domain.rbac import Role
from bff.domain.throttle import ThrottleScope, ThrottleState


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


class AccountRepository(Protocol):
    async def add(
        self, owner_id: UUID, name: str, currency: str, account_number: str
    ) -> Account | None: ...
    async def id_by_number(self, account_number: str) -> UUID | None: ...
    async def settlement_id(self, currency: str) -> UUID | None: ...
    async def lock(self, ids: Sequence[UUID]) -> dict[UUID, Account]: ...
    async def set_status(self, change: AccountChange) -> Account: ...


class LedgerRepository(Protocol):
    async def post(self, posting: Posting) -> None: ...
    async def transfer(self, transfer_id: UUID) -> Transfer: ...


@dataclass(frozen=True, slots=True)
class StoredResult:
    """The first outcome recorded under an idempotency key, and the request it answered."""

    fingerprint: str
    result: dict[str, Any]


class IdempotencyRepository(Protocol):
    async def claim(
        self, actor_id: UUID, key: str, fingerprint: str, ttl_s: int
    ) -> StoredResult | None: ...
    async def complete(self, actor_id: UUID, key: str, result: dict[str, Any]) -> None: ...


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
    def idempotency(self) -> IdempotencyRepository: ...
    @property
    def throttles(self) -> ThrottleRepository: ...
    @property
    def security_events(self) -> SecurityEventRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
