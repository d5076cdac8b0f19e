"""Resolve the actor behind a verified access token: the session must be live, the user exist."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.auth.tokens import AccessClaims
from bff.db.rows import to_user
from bff.domain.actor import Actor
from bff.domain.models import User

# Roles are read on every request, so a role change applies to the very next one.
_ACTOR = text("""
    SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = :session_id AND s.user_id = :user_id
       AND s.revoked_at IS NULL AND s.expires_at > now()
""")


async def resolve_actor(engine: AsyncEngine, claims: AccessClaims) -> tuple[Actor, User] | None:
    """The actor and its user record, or None when the session has ended."""
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    _ACTOR, {"session_id": claims.session_id, "user_id": claims.user_id}
                )
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        return None
    user = to_user(row)
    return Actor(user.id, user.roles, session_id=claims.session_id), user
