"""The resource side: `Authorization: DPoP <token>` with its `DPoP` proof becomes a delegated
actor (the customer as seen through one grant), or a refusal.

The grant is read on every request, so a revoked grant stops its tokens at once in every
process; the proof's jti is recorded, so a proof is good for one request only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from bff.auth.tokens import InvalidToken
from bff.db.reads import Reads
from bff.domain.actor import Actor
from bff.domain.delegation import Delegation
from bff.domain.rbac import Role
from bff.edge.authentication import Refusal
from bff.oauth.dpop import InvalidProof, NonceRequired
from bff.oauth.service import RESOURCE_PATH, OAuthService


@dataclass(frozen=True)
class GrantClaims:
    """What a live stream of a connected app re-checks: its token's expiry and its grant."""

    user_id: UUID
    grant_id: UUID
    expires_at: datetime
    still_live: Callable[[], Awaitable[bool]]


# A grant's "last used" is written at most this often (it is shown to the customer).
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class DelegatedActors:
    service: OAuthService
    reads: Reads

    async def authenticate(self, token: str, proof: str | None, method: str) -> Actor | None:
        """For the edge: a failed proof is a `Refusal` with its DPoP challenge."""
        try:
            return await self.resolve(token, proof, method)
        except NonceRequired:
            nonce = self.service.nonces.issue().encode()
            raise Refusal("use_dpop_nonce", [(b"dpop-nonce", nonce)]) from None
        except InvalidProof:
            raise Refusal("invalid_dpop_proof") from None

    async def resolve(self, token: str, proof: str | None, method: str) -> Actor | None:
        """The delegated actor, or None when the token is not (or no longer) good. Raises
        `InvalidProof` (or its `NonceRequired`) when the proof does not hold."""
        try:
            claims = self.service.tokens.verify(token)
        except InvalidToken:
            return None
        url = self.service.url(RESOURCE_PATH)
        checked = await self.service.proofs.check(proof, method, url, access_token=token)
        if checked.jkt != claims.jkt:
            raise InvalidProof("the proof is signed by another key than the token is bound to")
        grant = await self.service.store.grant(claims.grant_id)
        if (
            grant is None
            or grant.revoked_at is not None
            or grant.user_id != claims.user_id
            or grant.client_id != claims.client_id
        ):
            return None
        users = await self.reads.users([grant.user_id])
        if not users:
            return None
        now = datetime.now(UTC)
        if grant.last_used_at is None or now - grant.last_used_at > _TOUCH_EVERY:
            await self.service.store.touch_grant(grant.id)
        return Actor(
            users[0].id,
            # A connected app never acts with staff roles, whatever the customer holds.
            users[0].roles & {Role.CUSTOMER},
            scopes=claims.scopes & grant.scopes,
            delegation=Delegation(
                grant.id, grant.client_id, frozenset(grant.account_ids), grant.daily_limit
            ),
        )

    async def connect(self, token: str, proof: str | None) -> tuple[Actor, GrantClaims] | None:
        """A WebSocket's `connection_init`: the token with a proof for `GET /graphql` (the
        upgrade request). Raises `InvalidProof` as `resolve` does."""
        actor = await self.resolve(token, proof, "GET")
        if actor is None or actor.delegation is None:
            return None
        claims = self.service.tokens.verify(token)
        grant_id = actor.delegation.grant_id

        async def still_live() -> bool:
            grant = await self.service.store.grant(grant_id)
            return grant is not None and grant.revoked_at is None

        expires_at = datetime.fromtimestamp(claims.expires_at, UTC)
        return actor, GrantClaims(actor.user_id, grant_id, expires_at, still_live)
