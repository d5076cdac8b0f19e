"""The authorization server's storage operations, each one transaction on a unit of work.

Codes and refresh tokens are stored as SHA-256 digests (they are 256-bit random strings).
Spending one is atomic: the row is locked, and a second presentation of a spent one revokes
the whole grant (RFC 9700 section 4.5 and 4.14), committed even though the request fails.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from bff.domain.delegation import (
    CODE_LIFETIME,
    REQUEST_LIFETIME,
    Client,
    Grant,
    GrantRevocation,
)
from bff.domain.ports import CodeUse, PushedRequest, RefreshUse, UnitOfWork

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Store:
    unit_of_work: Callable[[], UnitOfWork]

    async def client(self, client_id: str) -> Client | None:
        async with self.unit_of_work() as uow:
            return await uow.oauth.client(client_id)

    async def first_use_of_jti(self, jti: str, expires_at: datetime) -> bool:
        async with self.unit_of_work() as uow:
            first = await uow.oauth.first_use_of_jti(jti, expires_at)
            await uow.commit()
        return first

    async def push_request(self, client_id: str, params: dict[str, str]) -> str:
        """Keep a validated authorization request; returns its request_uri."""
        request_id = new_secret()
        expires_at = datetime.now(UTC) + REQUEST_LIFETIME
        async with self.unit_of_work() as uow:
            await uow.oauth.add_request(request_id, client_id, params, expires_at)
            await uow.commit()
        return REQUEST_URI_PREFIX + request_id

    async def pushed(self, request_uri: str) -> PushedRequest | None:
        """The live pushed request behind a request_uri (None when unknown, used or expired)."""
        if not request_uri.startswith(REQUEST_URI_PREFIX):
            return None
        async with self.unit_of_work() as uow:
            found = await uow.oauth.request(request_uri.removeprefix(REQUEST_URI_PREFIX))
        if found is None or found.used or found.expires_at <= datetime.now(UTC):
            return None
        return found

    async def use_request(self, request_uri: str) -> bool:
        async with self.unit_of_work() as uow:
            used = await uow.oauth.use_request(request_uri.removeprefix(REQUEST_URI_PREFIX))
            await uow.commit()
        return used

    async def consent(
        self,
        user_id: UUID,
        client_id: str,
        scopes: frozenset[str],
        account_ids: Sequence[UUID],
        daily_limit: int,
    ) -> Grant:
        async with self.unit_of_work() as uow:
            grant = await uow.oauth.add_grant(user_id, client_id, scopes, account_ids, daily_limit)
            await uow.commit()
        return grant

    async def add_code(
        self,
        code: str,
        grant_id: UUID,
        redirect_uri: str,
        code_challenge: str,
        dpop_jkt: str | None,
    ) -> None:
        expires_at = datetime.now(UTC) + CODE_LIFETIME
        async with self.unit_of_work() as uow:
            await uow.oauth.add_code(
                digest(code), grant_id, redirect_uri, code_challenge, dpop_jkt, expires_at
            )
            await uow.commit()

    async def code_for(self, code: str, client_id: str) -> CodeUse | None:
        """A live code of this client, not yet spent. A spent one is a replay: its grant ends.
        Another client's code is only refused (it must not be able to revoke anything)."""
        async with self.unit_of_work() as uow:
            use = await uow.oauth.use_code(digest(code))
            if use is None or use.grant.client_id != client_id:
                return None  # rolled back: nothing spent
            if use.replayed:
                await uow.oauth.revoke_grant(use.grant.id, GrantRevocation.CODE_REPLAY)
                await uow.commit()
                return None
        if use.expired or use.grant.revoked_at is not None:
            return None
        return use

    async def issue_from_code(
        self, code: str, grant_id: UUID, refresh_token: str | None, jkt: str
    ) -> bool:
        """Spend the code and store the first refresh token, atomically; False (and the grant
        revoked) when a concurrent exchange spent it first."""
        async with self.unit_of_work() as uow:
            use = await uow.oauth.use_code(digest(code))
            if use is None or use.replayed:
                await uow.oauth.revoke_grant(grant_id, GrantRevocation.CODE_REPLAY)
                await uow.commit()
                return False
            if refresh_token is not None:
                await uow.oauth.add_refresh_token(digest(refresh_token), grant_id, jkt)
            await uow.oauth.touch_grant(grant_id)
            await uow.commit()
        return True

    async def refresh_for(self, refresh_token: str, jkt: str) -> RefreshUse | None:
        """A live refresh token bound to `jkt`. A used one is reuse: its grant ends. One
        presented with another key is only refused."""
        async with self.unit_of_work() as uow:
            use = await uow.oauth.lock_refresh_token(digest(refresh_token))
            if use is None or use.grant.revoked_at is not None or use.jkt != jkt:
                return None
            if use.used:
                await uow.oauth.revoke_grant(use.grant.id, GrantRevocation.REFRESH_TOKEN_REUSE)
                await uow.commit()
                return None
        return use

    async def rotate(self, used: str, fresh: str, grant_id: UUID, jkt: str) -> bool:
        """Spend `used` and store `fresh`, atomically; False (grant revoked) on a race."""
        async with self.unit_of_work() as uow:
            use = await uow.oauth.lock_refresh_token(digest(used))
            if use is None or use.used:
                await uow.oauth.revoke_grant(grant_id, GrantRevocation.REFRESH_TOKEN_REUSE)
                await uow.commit()
                return False
            await uow.oauth.use_refresh_token(digest(used))
            await uow.oauth.add_refresh_token(digest(fresh), grant_id, jkt)
            await uow.oauth.touch_grant(grant_id)
            await uow.commit()
        return True

    async def refresh_token(self, refresh_token: str) -> RefreshUse | None:
        async with self.unit_of_work() as uow:
            return await uow.oauth.lock_refresh_token(digest(refresh_token))

    async def grant(self, grant_id: UUID) -> Grant | None:
        async with self.unit_of_work() as uow:
            return await uow.oauth.grant(grant_id)

    async def touch_grant(self, grant_id: UUID) -> None:
        async with self.unit_of_work() as uow:
            await uow.oauth.touch_grant(grant_id)
            await uow.commit()

    async def revoke_grant(self, grant_id: UUID, reason: GrantRevocation) -> None:
        async with self.unit_of_work() as uow:
            await uow.oauth.revoke_grant(grant_id, reason)
            await uow.commit()
