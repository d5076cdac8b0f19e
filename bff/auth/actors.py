"""Resolve the actor behind a verified access token: the session must be live and the user exist.

Answers are cached per session for a second (`BFF_SESSION_CACHE_TTL_S`): a revoked session or
a role change reaches every server process within that time, without a database round trip on
every request. The process that made the change forgets its cached answers at once.
"""

from __future__ import annotations

from functools import partial
from uuid import UUID

from cachetools import TTLCache
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.auth.tokens import AccessClaims
from bff.db.failures import retrying
from bff.db.rows import to_user
from bff.domain.actor import Actor
from bff.domain.models import User

_ACTOR = text("""
    SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = :session_id AND s.revoked_at IS NULL AND s.expires_at > now()
""")

Resolved = tuple[Actor, User]


class ActorResolver:
    def __init__(self, engine: AsyncEngine, ttl_s: float, max_sessions: int = 100_000) -> None:
        self._engine = engine
        self._cache: TTLCache[UUID, Resolved | None] = TTLCache(max_sessions, ttl_s)

    async def resolve(self, claims: AccessClaims) -> Resolved | None:
        """The actor and its user record, or None when the session has ended.

        Raises `ServiceUnavailable` when PostgreSQL stays unreachable over a few quick retries.
        """
        if claims.session_id in self._cache:
            resolved = self._cache[claims.session_id]
        else:
            resolved = await retrying(partial(self._load, claims.session_id))
            self._cache[claims.session_id] = resolved
        if resolved is None or resolved[0].user_id != claims.user_id:
            return None
        return resolved

    async def _load(self, session_id: UUID) -> Resolved | None:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(_ACTOR, {"session_id": session_id}))
                .mappings()
                .one_or_none()
            )
        if row is None:
            return None
        user = to_user(row)
        return Actor(user.id, user.roles, session_id=session_id), user

    def forget_user(self, user_id: UUID) -> None:
        """Drop this process's cached answers for a user whose sessions or roles just changed."""
        stale = [
            session_id
            for session_id, resolved in list(self._cache.items())
            if resolved is not None and resolved[0].user_id == user_id
        ]
        for session_id in stale:
            self._cache.pop(session_id, None)

    def forget_session(self, session_id: UUID) -> None:
        self._cache.pop(session_id, None)
