"""Users on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.rows import to_user
from bff.db.sqlstate import constraint_of
from bff.db.tables import users
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import User
from bff.domain.rbac import Role


class SqlUsers:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(
        self, email: str, password_hash: str, display_name: str, roles: frozenset[Role]
    ) -> User:
        statement = (
            insert(users)
            .values(
                email=email,
                password_hash=password_hash,
                display_name=display_name,
                roles=sorted(role.value for role in roles),
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

    async def credentials(self, email: str) -> tuple[User, str] | None:
        statement = select(users).where(users.c.email == email)
        row = (await self._connection.execute(statement)).mappings().one_or_none()
        return (to_user(row), row["password_hash"]) if row else None
