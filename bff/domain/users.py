"""Sign-up, log-in and the sessions they open."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email

from bff.domain import passwords
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import Session, User
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Role
from bff.domain.text import clean_name

MAX_DISPLAY_NAME = 80
MAX_DEVICE_NAME = 80


@dataclass(frozen=True, slots=True)
class SignUp:
    email: str
    password: str
    display_name: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    user: User
    session: Session
    refresh_token: str


def normalise_email(email: str) -> str:
    """The canonical form of an address: syntax-checked, domain IDNA-normalised, lower case."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise DomainError(ErrorCode.INVALID_INPUT, str(error), "email") from None
    return checked.normalized.lower()


def _check_password(password: str) -> None:
    if len(password) < passwords.MIN_LENGTH:
        raise DomainError(
            ErrorCode.WEAK_PASSWORD,
            f"Passwords have at least {passwords.MIN_LENGTH} characters.",
            "password",
        )
    if len(password) > passwords.MAX_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT, "The password is too long.", "password")


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
        await uow.commit()
    return user


def hash_refresh_token(token: str) -> bytes:
    """Refresh tokens are stored only as SHA-256 digests (they are 256-bit random strings)."""
    return hashlib.sha256(token.encode()).digest()


async def log_in(
    uow: UnitOfWork, email: str, password: str, device_name: str, session_ttl: timedelta
) -> LoggedIn:
    """Check the credentials and open a session for this device.

    Unknown email and wrong password raise the same error after the same hashing work.
    """
    device = clean_name(device_name or "unknown device", "deviceName", MAX_DEVICE_NAME)
    try:
        canonical = normalise_email(email)
    except DomainError:
        canonical = None
    async with uow:
        found = await uow.users.credentials(canonical) if canonical else None
    user, password_hash = found if found else (None, None)
    # Hash outside the transaction: no connection is held during the deliberate slowness.
    if not await passwords.verify_password(password_hash, password) or user is None:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS)
    refresh_token = secrets.token_urlsafe(32)
    async with uow:
        session = await uow.sessions.add(
            user.id, device, hash_refresh_token(refresh_token), datetime.now(UTC) + session_ttl
        )
        await uow.commit()
    return LoggedIn(user, session, refresh_token)
