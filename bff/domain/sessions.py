"""Device sessions: opened by login, kept alive by rotating refresh tokens, ended by logout,
revocation, idleness or their absolute lifetime."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from bff.domain import audit, delegation
from bff.domain.actor import Actor
from bff.domain.audit_models import AuditOperation, AuditRecord, AuditResult
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import RevocationReason, SecurityEventKind, Session, User
from bff.domain.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_timeout: timedelta
    max_lifetime: timedelta


@dataclass(frozen=True, slots=True)
class Opened:
    """A session with its new refresh token (shown to the client once, stored only hashed)."""

    user: User
    session: Session
    refresh_token: str


def hash_refresh_token(token: str) -> bytes:
    """Refresh tokens are 256-bit random strings, so a plain SHA-256 is a safe digest."""
    return hashlib.sha256(token.encode()).digest()


def new_refresh_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


async def open_session(
    uow: UnitOfWork, user: User, device_name: str, policy: SessionPolicy
) -> Opened:
    """Open a session for a user whose credentials were just checked (inside the caller's
    transaction)."""
    token, digest = new_refresh_token()
    expires_at = datetime.now(UTC) + policy.max_lifetime
    session = await uow.sessions.add(user.id, device_name, digest, expires_at)
    await uow.audit.record(_session_entry(AuditOperation.LOGIN_SUCCEED, user.id, session.id))
    return Opened(user, session, token)


def _session_entry(
    operation: AuditOperation, user_id: UUID, session_id: UUID, **fields: object
) -> AuditRecord:
    """An entry about a user's own session."""
    return AuditRecord(
        operation,
        user_id,
        session_id=session_id,
        object_type="session",
        object_id=str(session_id),
        subject_id=user_id,
        **fields,  # type: ignore[arg-type]
    )


async def refresh(uow: UnitOfWork, refresh_token: str, policy: SessionPolicy) -> Opened:
    """Trade a live refresh token for a new one. Presenting a token that was already traded
    is reuse: someone else holds a copy, so the whole session ends."""
    now = datetime.now(UTC)
    async with uow:
        grant = await uow.sessions.lock_refresh_token(hash_refresh_token(refresh_token))
        if grant is None or grant.revoked:
            raise DomainError(ErrorCode.INVALID_REFRESH_TOKEN, field="refreshToken")
        session = grant.session
        if grant.used:
            await uow.sessions.revoke(session.id, RevocationReason.REFRESH_TOKEN_REUSE)
            await uow.security_events.record(
                SecurityEventKind.REFRESH_TOKEN_REUSE, session.user_id, None, session.id
            )
            await uow.audit.record(
                _session_entry(
                    AuditOperation.SESSION_REUSE_DETECTED,
                    session.user_id,
                    session.id,
                    result=AuditResult.REFUSED,
                )
            )
            await uow.commit()  # the session ends even though this call fails
            raise DomainError(ErrorCode.INVALID_REFRESH_TOKEN, field="refreshToken")
        if session.expires_at <= now or now - session.last_used_at > policy.idle_timeout:
            raise DomainError(ErrorCode.INVALID_REFRESH_TOKEN, field="refreshToken")
        user = await uow.users.get(session.user_id)
        if user is None:
            raise DomainError(ErrorCode.INVALID_REFRESH_TOKEN, field="refreshToken")
        token, digest = new_refresh_token()
        renewed = await uow.sessions.rotate(session.id, hash_refresh_token(refresh_token), digest)
        await uow.audit.record(_session_entry(AuditOperation.SESSION_REFRESH, user.id, session.id))
        await uow.commit()
    return Opened(user, renewed, token)


async def log_out(uow: UnitOfWork, actor: Actor) -> int:
    """End the session the request came through."""
    if actor.session_id is None:
        return 0
    async with uow:
        ended = await uow.sessions.revoke(actor.session_id, RevocationReason.LOGOUT)
        await _record_end(uow, actor, actor.session_id, RevocationReason.LOGOUT, int(ended))
        await uow.commit()
    return int(ended)


async def log_out_everywhere(uow: UnitOfWork, actor: Actor) -> int:
    """End every session of the actor, this one included."""
    delegation.require_own_access(actor)
    async with uow:
        ended = await uow.sessions.revoke_all(actor.user_id, RevocationReason.LOGOUT_EVERYWHERE)
        await _record_end(uow, actor, None, RevocationReason.LOGOUT_EVERYWHERE, ended)
        await uow.commit()
    return ended


async def revoke_session(uow: UnitOfWork, actor: Actor, session_id: UUID) -> int:
    """End one of the actor's sessions (a lost phone, say); others' look missing."""
    delegation.require_own_access(actor)
    async with uow:
        session = await uow.sessions.get(session_id)
        if session is None or session.user_id != actor.user_id:
            raise DomainError(ErrorCode.SESSION_NOT_FOUND, field="sessionId")
        ended = await uow.sessions.revoke(session_id, RevocationReason.REVOKED)
        await _record_end(uow, actor, session_id, RevocationReason.REVOKED, int(ended))
        await uow.commit()
    return int(ended)


async def _record_end(
    uow: UnitOfWork, actor: Actor, session_id: UUID | None, reason: RevocationReason, ended: int
) -> None:
    entry = audit.by(
        actor,
        AuditOperation.SESSION_END,
        object_type="session" if session_id else "user",
        object_id=str(session_id or actor.user_id),
        subject_id=actor.user_id,
        detail={"reason": reason.value, "ended": ended},
    )
    await uow.audit.record(entry)


async def active_sessions(uow: UnitOfWork, actor: Actor, policy: SessionPolicy) -> list[Session]:
    """The actor's live sessions (not ended, expired or idle), most recently used first."""
    async with uow:
        live = await uow.sessions.active(actor.user_id)
    now = datetime.now(UTC)
    return [s for s in live if now - s.last_used_at <= policy.idle_timeout]
