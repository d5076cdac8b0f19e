"""Delegated (OAuth 2.0) access: registered third-party clients, the customer's grants, and the
rules a third party's requests are held to (scopes, shared accounts, a daily limit).

A delegated actor is the customer as seen through one grant: it carries the grant's scopes and
accounts, and never more than the customer role, whatever roles the customer also has.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from bff.domain.errors import DomainError, ErrorCode, NotFound, PermissionDenied
from bff.domain.money import Money, exponent_of
from bff.domain.rbac import Permission
from bff.domain.text import clean_name

if TYPE_CHECKING:
    from bff.domain.actor import Actor
    from bff.domain.models import Transfer
    from bff.domain.ports import UnitOfWork

ACCOUNTS_READ = "accounts:read"
TRANSACTIONS_READ = "transactions:read"
TRANSFERS_WRITE = "transfers:write"
# What the consent page says each scope lets the app do.
SCOPE_WORDS = {
    ACCOUNTS_READ: "See the names, numbers and balances of the accounts you share",
    TRANSACTIONS_READ: "See the transactions of the accounts you share",
    TRANSFERS_WRITE: "Send money from the accounts you share, up to the daily limit you set",
}
# What a connected app may do at most, whatever the customer may (scopes narrow it further).
DELEGABLE_PERMISSIONS = frozenset({Permission.TRANSFER_CREATE_OWN})
CODE_LIFETIME = timedelta(seconds=60)
REQUEST_LIFETIME = timedelta(seconds=90)
MAX_DAILY_LIMIT = 1_000_000  # whole currency units
MAX_REDIRECT_URIS = 10
_PRIVATE_KEY_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


class ClientKind(StrEnum):
    CONFIDENTIAL = "confidential"  # authenticates with private_key_jwt
    PUBLIC = "public"  # a native app: PKCE and DPoP only


class GrantRevocation(StrEnum):
    CUSTOMER = "customer"
    CODE_REPLAY = "code_replay"
    REFRESH_TOKEN_REUSE = "refresh_token_reuse"  # noqa: S105 (a reason, not a secret)
    TOKEN_REVOKED = "token_revoked"  # noqa: S105
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    name: str
    kind: ClientKind
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    jwks: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """A customer's consent to one client."""

    id: UUID
    user_id: UUID
    client_id: str
    client_name: str
    scopes: frozenset[str]
    account_ids: tuple[UUID, ...]
    daily_limit: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delegation:
    """What an OAuth access token lets its client do on the customer's behalf."""

    grant_id: UUID
    client_id: str
    account_ids: frozenset[UUID]
    daily_limit: int


@dataclass(frozen=True, slots=True)
class ClientRegistration:
    name: str
    redirect_uris: list[str]
    scopes: list[str]
    # The client's public keys (a JWK Set) for private_key_jwt; None registers a public client.
    jwks: dict[str, Any] | None


def check_redirect_uri(uri: str) -> str:
    """An absolute https URI (or http on the loopback interface, for native apps and
    development) without userinfo or fragment. Matching is exact, so nothing is normalised."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        parts, port = None, None
    loopback = parts is not None and parts.hostname in ("127.0.0.1", "localhost", "[::1]", "::1")
    if (
        parts is None
        or not parts.hostname
        or parts.fragment
        or "#" in uri
        or "@" in parts.netloc
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
        or (port is not None and not 0 < port < 65536)
        or any(char.isspace() for char in uri)
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Redirect URIs are absolute https URIs (http only on loopback), with no userinfo "
            "and no fragment.",
            "redirectUris",
        )
    return uri


def _check_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise DomainError(ErrorCode.INVALID_INPUT, "A JWK Set with at least one key.", "jwks")
    if any(_PRIVATE_KEY_MEMBERS & key.keys() for key in keys):
        raise DomainError(ErrorCode.INVALID_INPUT, "Register public keys only.", "jwks")
    return {"keys": keys}


def new_client(registration: ClientRegistration, now: datetime) -> Client:
    """The client a registration describes, checked, with a fresh random client_id."""
    name = clean_name(registration.name, "name", 80)
    uris = list(dict.fromkeys(check_redirect_uri(uri) for uri in registration.redirect_uris))
    if not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"Give 1 to {MAX_REDIRECT_URIS} redirect URIs.",
            "redirectUris",
        )
    scopes = frozenset(registration.scopes)
    if not scopes or not scopes <= SCOPE_WORDS.keys():
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Scopes are among {', '.join(SCOPE_WORDS)}.", "scopes"
        )
    jwks = _check_jwks(registration.jwks) if registration.jwks is not None else None
    kind = ClientKind.CONFIDENTIAL if jwks is not None else ClientKind.PUBLIC
    return Client(secrets.token_urlsafe(24), name, kind, tuple(uris), scopes, jwks, now)


async def register_client(
    uow: UnitOfWork, actor: Actor, registration: ClientRegistration
) -> Client:
    """Register a third-party client (admins)."""
    actor.require(Permission.OAUTH_CLIENT_MANAGE)
    return await provision_client(uow, registration, actor.user_id)


async def provision_client(
    uow: UnitOfWork, registration: ClientRegistration, created_by: UUID | None = None
) -> Client:
    """Register a client without a permission check: for trusted local tooling (the CLI) and
    for `register_client` once it checked the actor."""
    client = new_client(registration, datetime.now(UTC))
    async with uow:
        await uow.oauth.add_client(client, created_by)
        await uow.commit()
    return client


def check_daily_limit(units: int) -> int:
    if not 0 <= units <= MAX_DAILY_LIMIT:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A daily limit of 0 to {MAX_DAILY_LIMIT}.", "dailyLimit"
        )
    return units


def daily_limit_minor(delegation: Delegation, currency: str) -> int:
    """The grant's daily limit in minor units of `currency`."""
    return int(delegation.daily_limit * 10 ** exponent_of(currency))


def require_scope(actor: Actor, scope: str) -> None:
    """INSUFFICIENT_SCOPE unless the actor is the customer themselves or holds `scope`."""
    if actor.delegation is not None and scope not in (actor.scopes or frozenset()):
        raise DomainError(ErrorCode.INSUFFICIENT_SCOPE)


def may_see_account(actor: Actor, account_id: UUID, scope: str = ACCOUNTS_READ) -> bool:
    """Whether the delegation (if any) covers this account for `scope`."""
    delegation = actor.delegation
    if delegation is None:
        return True
    return scope in (actor.scopes or frozenset()) and account_id in delegation.account_ids


def check_delegated_transfer(actor: Actor, source_id: UUID) -> None:
    """A connected app moves money only with `transfers:write` and only from a shared
    account (another account looks missing, as it would to a stranger)."""
    if actor.delegation is None:
        return
    require_scope(actor, TRANSFERS_WRITE)
    if source_id not in actor.delegation.account_ids:
        raise NotFound(ErrorCode.ACCOUNT_NOT_FOUND, field="fromAccountId")


async def within_daily_limit(
    uow: UnitOfWork,
    actor: Actor,
    money: Money,
    post: Callable[..., Awaitable[Transfer]],
    refuse: Callable[[], Awaitable[Transfer]],
) -> Transfer:
    """Post a connected app's transfer within its grant's daily limit.

    The amount is reserved first, under the grant's row lock, in a transaction of its own
    (posting is one too), so concurrent transfers cannot both fit into the same room; the
    reservation is released when the posting is refused or replays an earlier transfer, and
    names the client on the transfer it became. A request that does not fit goes to `refuse`,
    which refuses it under its idempotency key (TRANSFER_LIMIT_EXCEEDED): so the retry of one
    that was paid before the room ran out still gets its transfer.
    """
    delegated = actor.delegation
    assert delegated is not None
    transfer_id = uuid4()
    async with uow:
        grant = await uow.oauth.lock_grant(delegated.grant_id)
        if grant is None:
            raise PermissionDenied()
        spent = await uow.oauth.spent_today(grant.id, money.currency)
        fits = spent + money.minor <= daily_limit_minor(delegated, money.currency)
        if fits:
            await uow.oauth.record_transfer(transfer_id, grant.id, grant.client_id, money)
            await uow.commit()
    if not fits:
        return await refuse()
    transfer: Transfer | None = None
    try:
        transfer = await post(transfer_id=transfer_id)
        return transfer
    finally:
        if transfer is None or transfer.id != transfer_id:
            async with uow:
                await uow.oauth.release_transfer(transfer_id)
                await uow.commit()


def require_own_access(actor: Actor) -> None:
    """Managing connected apps is for the customer, never for a connected app."""
    if actor.delegation is not None:
        raise PermissionDenied()


async def connected_apps(uow: UnitOfWork, actor: Actor) -> list[Grant]:
    """The actor's live grants, most recently created first."""
    require_own_access(actor)
    async with uow:
        return await uow.oauth.grants_of(actor.user_id)


async def revoke_app_access(uow: UnitOfWork, actor: Actor, grant_id: UUID) -> Grant:
    """End one of the actor's grants: its tokens stop working and its streams end."""
    require_own_access(actor)
    async with uow:
        grant = await uow.oauth.grant(grant_id)
        if grant is None or grant.user_id != actor.user_id or grant.revoked_at is not None:
            raise NotFound(ErrorCode.APP_NOT_FOUND, field="appId")
        await uow.oauth.revoke_grant(grant_id, GrantRevocation.CUSTOMER)
        await uow.commit()
    return grant
