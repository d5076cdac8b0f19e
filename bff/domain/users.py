"""Sign-up, log-in and passwords."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email

from bff.domain import audit, delegation, passwords, sessions
from bff.domain.actor import Actor, authenticated
from bff.domain.audit_models import AuditOperation, AuditRecord, AuditResult
from bff.domain.errors import DomainError, ErrorCode, Throttled
from bff.domain.models import RevocationReason, SecurityEventKind, User
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Role
from bff.domain.text import clean_name
from bff.domain.throttle import ThrottlePolicy, ThrottleScope

MAX_DISPLAY_NAME = 80
MAX_DEVICE_NAME = 80


@dataclass(frozen=True, slots=True)
class SignUp:
    email: str
    password: str
    display_name: str


@dataclass(frozen=True, slots=True)
class LogIn:
    email: str
    password: str
    device_name: str
    client_address: str


def normalise_email(email: str) -> str:
    """The canonical form of an address: syntax-checked, domain IDNA-normalised, lower case."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise DomainError(ErrorCode.INVALID_INPUT, str(error), "email") from None
    return checked.normalized.lower()


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < passwords.MIN_LENGTH:
        raise DomainError(
            ErrorCode.WEAK_PASSWORD,
            f"Passwords have at least {passwords.MIN_LENGTH} characters.",
            field,
        )
    if len(password) > passwords.MAX_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT, "The password is too long.", field)


async def sign_up(uow: UnitOfWork, command: SignUp) -> User:
    """Register a customer. Emails are unique after normalisation."""
    return await _create(uow, command, frozenset({Role.CUSTOMER}))


async def provision_user(uow: UnitOfWork, command: SignUp, roles: frozenset[Role]) -> User:
    """Create a user with any roles. For trusted local tooling only (the `bff` CLI, demo seed):
    whoever runs it already controls the server."""
    return await _create(uow, command, roles)


async def _create(uow: UnitOfWork, command: SignUp, roles: frozenset[Role]) -> User:
    email = normalise_email(command.email)
    display_name = clean_name(command.display_name, "displayName", MAX_DISPLAY_NAME)
    _check_password(command.password)
    password_hash = await passwords.hash_password(command.password)
    async with uow:
        user = await uow.users.add(email, password_hash, display_name, roles)
        await uow.audit.record(
            AuditRecord(
                AuditOperation.USER_CREATE,
                None,
                object_type="user",
                object_id=str(user.id),
                subject_id=user.id,
                detail={"roles": sorted(roles)},
            )
        )
        await uow.commit()
    return user


def _throttle_keys(email: str, client_address: str) -> list[tuple[ThrottleScope, str]]:
    # The storage keeps both by blind index: the throttle table holds no email or address.
    account = email.strip().lower()
    return [(ThrottleScope.ACCOUNT, account), (ThrottleScope.ADDRESS, client_address)]


async def log_in(
    uow: UnitOfWork,
    command: LogIn,
    session_policy: sessions.SessionPolicy,
    throttle: ThrottlePolicy,
) -> sessions.Opened:
    """Check the credentials and open a session for this device.

    Every attempt first counts against the account and the client address (so parallel
    attempts all count) and is refused while either must wait. Unknown email and wrong
    password raise the same error after the same hashing work.
    """
    device = clean_name(command.device_name or "unknown device", "deviceName", MAX_DEVICE_NAME)
    try:
        canonical: str | None = normalise_email(command.email)
    except DomainError:
        canonical = None
    keys = _throttle_keys(canonical or command.email, command.client_address)
    now = datetime.now(UTC)
    async with uow:
        states = await uow.throttles.lock(keys)
        current = {key: throttle.current(state, now) for key, state in states.items()}
        wait = max(throttle.wait_s(key[0], state, now) for key, state in current.items())
        if wait:
            raise Throttled(wait)
        for key, state in current.items():
            await uow.throttles.save(key, throttle.attempted(key[0], state, now))
        found = await uow.users.credentials(canonical) if canonical else None
        await uow.commit()
    user, password_hash = found if found else (None, None)
    # Hash outside the transaction: no connection is held during the deliberate slowness.
    if not await passwords.verify_password(password_hash, command.password) or user is None:
        async with uow:
            # Names the user only when the email was one: never the email itself.
            await uow.audit.record(
                AuditRecord(
                    AuditOperation.LOGIN_FAIL,
                    None,
                    AuditResult.FAILURE,
                    subject_id=user.id if user else None,
                )
            )
            if user is not None:
                await uow.security_events.record(
                    SecurityEventKind.LOGIN_FAILED, user.id, None, None
                )
            await uow.commit()
        raise DomainError(ErrorCode.INVALID_CREDENTIALS)
    async with uow:
        for key, state in (await uow.throttles.lock(keys)).items():
            await uow.throttles.save(key, throttle.succeeded(key[0], state))
        opened = await sessions.open_session(uow, user, device, session_policy)
        await uow.commit()
    return opened


async def change_password(
    uow: UnitOfWork, actor: Actor | None, current_password: str, new_password: str
) -> tuple[User, int]:
    """Replace the password and end every other session (a thief's included)."""
    actor = authenticated(actor)
    delegation.require_own_access(actor)
    _check_password(new_password, "newPassword")
    async with uow:
        found = await uow.users.credentials_of(actor.user_id)
    user, password_hash = found if found else (None, None)
    if not await passwords.verify_password(password_hash, current_password) or user is None:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, field="currentPassword")
    ended = await _replace_password(uow, user, new_password, actor)
    return user, ended


async def reset_password(uow: UnitOfWork, email: str, new_password: str) -> tuple[User, int]:
    """Set a user's password without the current one and end all their sessions. For trusted
    local tooling only (the `bff` CLI): whoever runs it already controls the server."""
    canonical = normalise_email(email)
    _check_password(new_password)
    async with uow:
        found = await uow.users.credentials(canonical)
    if found is None:
        raise DomainError(ErrorCode.USER_NOT_FOUND, f"No user has the email {canonical}.", "email")
    user = found[0]
    return user, await _replace_password(uow, user, new_password, None)


async def _replace_password(
    uow: UnitOfWork, user: User, new_password: str, actor: Actor | None
) -> int:
    """Store the new password and end the user's sessions, except the actor's own when the user
    changes it; returns how many ended."""
    new_hash = await passwords.hash_password(new_password)
    session_id = actor.session_id if actor else None
    async with uow:
        await uow.users.set_password(user.id, new_hash)
        ended = await uow.sessions.revoke_all(
            user.id, RevocationReason.PASSWORD_CHANGED, keep=session_id
        )
        await uow.security_events.record(
            SecurityEventKind.PASSWORD_CHANGED,
            user.id,
            actor.user_id if actor else None,
            session_id,
            None if actor else {"reset": "administrative"},
        )
        await uow.audit.record(
            audit.by(
                actor,
                AuditOperation.PASSWORD_CHANGE,
                object_type="user",
                object_id=str(user.id),
                subject_id=user.id,
                detail={"sessions_ended": ended},
            )
        )
        await uow.commit()
    return ended
