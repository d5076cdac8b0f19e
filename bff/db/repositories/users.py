"""Users on PostgreSQL."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.changes import Changes
from bff.db.rows import to_user
from bff.db.sqlstate import constraint_of
from bff.db.tables import users
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import User
from bff.domain.rbac import Role


def _role_values(roles: frozenset[Role]) -> list[str]:
    return sorted(role.value for role in roles)


class SqlUsers:
    """Role changes are noted in `changes`, so that live streams re-check after the commit."""

    def __init__(self, connection: AsyncConnection, changes: Changes) -> None:
        self._connection = connection
        self._changes = changes

    async def add(
        self, email: str, password_hash: str, display_name: str, roles: frozenset[Role]
    ) -> User:
        statement = (
            insert(users)
            .values(
                email=email,
                password_hash=password_hash,
                display_name=display_name,
                roles=_role_values(roles),
            )
            .returning(users)
        )
        try:
            row = (await self._connection.execute(statement)).mappings().one()
        except IntegrityError as error:
            if constraint_of(error) == "users_email_key":
                raise DomainError(ErrorCode.EMAIL_TAKEN, field="email") from None
            raise
        return to_user(row)

    async def get(self, user_id: UUID) -> User | None:
        row = (
            (await self._connection.execute(select(users).where(users.c.id == user_id)))
            .mappings()
            .one_or_none()
        )
        return to_user(row) if row else None

    async def lock(self, user_id: UUID) -> User | None:
        statement = select(users).where(users.c.id == user_id).with_for_update()
        row = (await self._connection.execute(statement)).mappings().one_or_none()
        return to_user(row) if row else None

    async def credentials(self, email: str) -> tuple[User, str] | None:
        statement = select(users).where(users.c.email == email)
        row = (await self._connection.execute(statement)).mappings().one_or_none()
        return (to_user(row), row["password_hash"]) if row else None

    async def credentials_of(self, user_id: UUID) -> tuple[User, str] | None:
        statement = select(users).where(users.c.id == user_id)
        row = (await self._connection.execute(statement)).mappings().one_or_none()
        return (to_user(row), row["password_hash"]) if row else None

    async def set_password(self, user_id: UUID, password_hash: str) -> None:
        statement = update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        await self._connection.execute(statement)

    async def set_roles(self, user_id: UUID, roles: frozenset[Role]) -> User:
        statement = (
            update(users)
            .where(users.c.id == user_id)
            .values(roles=_role_values(roles))
            .returning(users)
        )
        user = to_user((await self._connection.execute(statement)).mappings().one())
        self._changes.users.add(user_id)
        return user
