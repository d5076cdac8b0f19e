"""Users on PostgreSQL. Emails and display names are sealed with the user's data key, created
with the user; the email is found by its blind index."""

from __future__ import annotations

from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.changes import Changes
from bff.db.rows import KEY_COLUMNS
from bff.db.sealing import Sealing, key_params
from bff.db.sqlstate import constraint_of
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import User
from bff.domain.rbac import Role

_WITH_KEY = f"SELECT u.*, {KEY_COLUMNS} FROM users u LEFT JOIN data_keys k ON k.user_id = u.id"  # noqa: S608 (constant SQL fragments)
_ADD = text(f"""
    WITH u AS (
        INSERT INTO users (id, email_index, email_sealed, password_hash, display_name_sealed, roles)
        VALUES (:id, :email_index, :email_sealed, :password_hash, :display_name_sealed, :roles)
        RETURNING *
    ), k AS (
        INSERT INTO data_keys (user_id, version, kek_version, wrapped)
        SELECT id, :version, :kek_version, :wrapped FROM u
        RETURNING *
    )
    SELECT u.*, {KEY_COLUMNS} FROM u, k
""")  # noqa: S608 (constant SQL fragments)
_GET = text(_WITH_KEY + " WHERE u.id = :id")
_LOCK = text(_WITH_KEY + " WHERE u.id = :id FOR UPDATE OF u")
_BY_EMAIL = text(_WITH_KEY + " WHERE u.email_index = :email_index")
_SET_PASSWORD = text("UPDATE users SET password_hash = :password_hash WHERE id = :id")
_SET_ROLES = text(f"""
    WITH u AS (UPDATE users SET roles = :roles WHERE id = :id RETURNING *)
    SELECT u.*, {KEY_COLUMNS} FROM u LEFT JOIN data_keys k ON k.user_id = u.id
""")  # noqa: S608 (constant SQL fragments)


def _role_values(roles: frozenset[Role]) -> list[str]:
    return sorted(role.value for role in roles)


class SqlUsers:
    """Role changes are noted in `changes`, so that live streams re-check after the commit."""

    def __init__(self, connection: AsyncConnection, changes: Changes, sealing: Sealing) -> None:
        self._connection = connection
        self._changes = changes
        self._sealing = sealing

    async def add(
        self, email: str, password_hash: str, display_name: str, roles: frozenset[Role]
    ) -> User:
        sealing, user_id = self._sealing, uuid4()
        key, wrapped = sealing.vault.new_key(user_id)
        params = {
            "id": user_id,
            "email_index": sealing.index("email", email),
            "email_sealed": sealing.seal(key, "users.email", user_id, email),
            "password_hash": password_hash,
            "display_name_sealed": sealing.seal(key, "users.display_name", user_id, display_name),
            "roles": _role_values(roles),
            **key_params(wrapped),
        }
        try:
            row = (await self._connection.execute(_ADD, params)).mappings().one()
        except IntegrityError as error:
            if constraint_of(error) == "users_email_index_key":
                raise DomainError(ErrorCode.EMAIL_TAKEN, field="email") from None
            raise
        return sealing.user(row)

    async def get(self, user_id: UUID) -> User | None:
        row = (await self._connection.execute(_GET, {"id": user_id})).mappings().one_or_none()
        return self._sealing.user(row) if row else None

    async def lock(self, user_id: UUID) -> User | None:
        row = (await self._connection.execute(_LOCK, {"id": user_id})).mappings().one_or_none()
        return self._sealing.user(row) if row else None

    async def credentials(self, email: str) -> tuple[User, str] | None:
        params = {"email_index": self._sealing.index("email", email)}
        row = (await self._connection.execute(_BY_EMAIL, params)).mappings().one_or_none()
        return (self._sealing.user(row), row["password_hash"]) if row else None

    async def credentials_of(self, user_id: UUID) -> tuple[User, str] | None:
        row = (await self._connection.execute(_GET, {"id": user_id})).mappings().one_or_none()
        return (self._sealing.user(row), row["password_hash"]) if row else None

    async def set_password(self, user_id: UUID, password_hash: str) -> None:
        params = {"id": user_id, "password_hash": password_hash}
        await self._connection.execute(_SET_PASSWORD, params)

    async def set_roles(self, user_id: UUID, roles: frozenset[Role]) -> User:
        params = {"id": user_id, "roles": _role_values(roles)}
        user = self._sealing.user(
            (await self._connection.execute(_SET_ROLES, params)).mappings().one()
        )
        self._changes.users.add(user_id)
        return user
