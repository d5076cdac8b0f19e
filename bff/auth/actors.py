"""Resolve the actor behind a verified access token: the session must be live and the user exist.

Answers are cached per session for a second (`BFF_SESSION_CACHE_TTL_S`): a revoked session or
a role change reaches every server process within that time, without a database round trip on
every request. The process that made the change forgets its cached answers at once.
"""

from __future__ import annotations

from typing import cast
from uuid import UUID

from cachetools import TTLCache

from bff.auth.tokens import AccessClaims
from bff.db.reads import Reads
from bff.domain.actor import Actor
from bff.domain.models import User

Resolved = tuple[Actor, User]
# Ended sessions are cached as None: a miss needs a marker of its own.
_MISSING = object()


class ActorResolver:
    def __init__(self, reads: Reads, ttl_s: float, max_sessions: int = 100_000) -> None:
        self._reads = reads
        self._cache: TTLCache[UUID, Resolved | None] = TTLCache(max_sessions, ttl_s)

    async def resolve(self, claims: AccessClaims) -> Resolved | None:
        """The actor and its user record, or None when the session has ended.

        Raises `ServiceUnavailable` when PostgreSQL stays unreachable over a few quick retries
        (the reads retry).
        """
        # One look-up, never a membership test then a read: the entry may expire in between.
        cached = self._cache.get(claims.session_id, _MISSING)
        if cached is _MISSING:
            resolved = await self._load(claims.session_id)
            self._cache[claims.session_id] = resolved
        else:
            resolved = cast(Resolved | None, cached)
        if resolved is None or resolved[0].user_id != claims.user_id:
            return None
        return resolved

    async def _load(self, session_id: UUID) -> Resolved | None:
        user = await self._reads.session_user(session_id)
        if user is None:
            return None
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
