"""Second factors on PostgreSQL: TOTP secrets sealed with their owner's data key (erasing the
customer destroys the key, and with it the secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.sealing import Sealing
from bff.domain.passkeys import Passkey, PendingPasskey, Registered
from bff.domain.totp import TotpFactor

# The sealed field's name, bound into its ciphertext.
TOTP_SECRET = "second_factors.secret"  # noqa: S105 (a field name)

_TOTP = text("""
    SELECT id, user_id, status, secret_sealed, last_step, challenge FROM second_factors
     WHERE user_id = :user_id AND kind = 'totp'
""")
_DROP_PENDING_TOTP = text("""
    DELETE FROM second_factors WHERE user_id = :user_id AND kind = 'totp' AND status = 'pending'
""")
_ADD_TOTP = text("""
    INSERT INTO second_factors (id, user_id, kind, status, secret_sealed, challenge)
    VALUES (:id, :user_id, 'totp', 'pending', :secret_sealed, :challenge)
""")
_ACTIVATE_TOTP = text("""
    UPDATE second_factors
       SET status = 'active', activated_at = now(), last_step = :step, challenge = NULL
     WHERE id = :id AND status = 'pending'
""")
_USE_TOTP = text("""
    UPDATE second_factors SET last_step = :step
     WHERE id = :id AND status = 'active' AND (last_step IS NULL OR last_step < :step)
""")
_REMOVE = text("DELETE FROM second_factors WHERE id = :id")
_HAS_ACTIVE = text("""
    SELECT EXISTS (SELECT 1 FROM second_factors WHERE user_id = :user_id AND status = 'active')
""")

_PASSKEY_COLUMNS = "id, user_id, credential_id, public_key, sign_count, created_at, challenge"
_PASSKEYS = text(f"""
    SELECT {_PASSKEY_COLUMNS} FROM second_factors
     WHERE user_id = :user_id AND kind = 'passkey' AND status = 'active'
     ORDER BY created_at, id
""")  # noqa: S608 (constant SQL fragments)
_PASSKEY = text(f"""
    SELECT {_PASSKEY_COLUMNS} FROM second_factors
     WHERE credential_id = :credential_id AND kind = 'passkey' AND status = 'active'
""")  # noqa: S608 (constant SQL fragments)
_DROP_PENDING_PASSKEY = text("""
    DELETE FROM second_factors
     WHERE user_id = :user_id AND kind = 'passkey' AND status = 'pending'
""")
_ADD_PASSKEY = text("""
    INSERT INTO second_factors (id, user_id, kind, status, challenge)
    VALUES (:id, :user_id, 'passkey', 'pending', :challenge)
""")
_PENDING_PASSKEY = text("""
    SELECT id, challenge, created_at FROM second_factors
     WHERE user_id = :user_id AND kind = 'passkey' AND status = 'pending'
""")
# A credential registered before (by anyone) is not bound a second time.
_ACTIVATE_PASSKEY = text(f"""
    UPDATE second_factors
       SET status = 'active', activated_at = now(), challenge = NULL,
           credential_id = :credential_id, public_key = :public_key, sign_count = :sign_count
     WHERE id = :id AND status = 'pending'
       AND NOT EXISTS (SELECT 1 FROM second_factors WHERE credential_id = :credential_id)
    RETURNING {_PASSKEY_COLUMNS}
""")  # noqa: S608 (constant SQL fragments)
# WebAuthn: a counter of zero on both sides is an authenticator that keeps none.
_USE_PASSKEY = text("""
    UPDATE second_factors SET sign_count = :sign_count
     WHERE id = :id AND status = 'active'
       AND (sign_count < :sign_count OR (sign_count = 0 AND :sign_count = 0))
""")
_REMOVE_PASSKEY = text("""
    DELETE FROM second_factors
     WHERE id = :id AND user_id = :user_id AND kind = 'passkey' AND status = 'active'
""")
# An active passkey's challenge is the one its removal's proof signs.
_ASK_REMOVAL = text("""
    UPDATE second_factors SET challenge = :challenge
     WHERE id = :id AND user_id = :user_id AND kind = 'passkey' AND status = 'active'
""")


def _passkey(row: Mapping[Any, Any]) -> Passkey:
    challenge = row["challenge"]
    return Passkey(
        row["id"],
        row["user_id"],
        bytes(row["credential_id"]),
        bytes(row["public_key"]),
        row["sign_count"],
        row["created_at"],
        bytes(challenge) if challenge is not None else None,
    )


class SqlSecondFactors:
    def __init__(self, connection: AsyncConnection, sealing: Sealing) -> None:
        self._connection = connection
        self._sealing = sealing

    async def totp(self, user_id: UUID) -> TotpFactor | None:
        params = {"user_id": user_id}
        row = (await self._connection.execute(_TOTP, params)).mappings().one_or_none()
        return await self._totp(row) if row is not None else None

    async def _totp(self, row: Mapping[Any, Any]) -> TotpFactor:
        key = await self._sealing.key_for(self._connection, row["user_id"])
        secret = self._sealing.vault.open(key, TOTP_SECRET, row["id"], bytes(row["secret_sealed"]))
        challenge = row["challenge"]
        return TotpFactor(
            row["id"],
            row["user_id"],
            secret,
            row["status"] == "active",
            row["last_step"],
            bytes(challenge) if challenge is not None else None,
        )

    async def replace_pending_totp(
        self, user_id: UUID, secret: str, challenge: bytes | None
    ) -> TotpFactor:
        await self._connection.execute(_DROP_PENDING_TOTP, {"user_id": user_id})
        factor_id = uuid4()
        key = await self._sealing.key_for(self._connection, user_id)
        sealed = self._sealing.seal(key, TOTP_SECRET, factor_id, secret)
        params = {
            "id": factor_id,
            "user_id": user_id,
            "secret_sealed": sealed,
            "challenge": challenge,
        }
        await self._connection.execute(_ADD_TOTP, params)
        return TotpFactor(factor_id, user_id, secret, False, None, challenge)

    async def activate_totp(self, factor_id: UUID, step: int) -> None:
        await self._connection.execute(_ACTIVATE_TOTP, {"id": factor_id, "step": step})

    async def use_totp(self, factor_id: UUID, step: int) -> bool:
        result = await self._connection.execute(_USE_TOTP, {"id": factor_id, "step": step})
        return bool(result.rowcount)

    async def remove(self, factor_id: UUID) -> None:
        await self._connection.execute(_REMOVE, {"id": factor_id})

    async def has_active(self, user_id: UUID) -> bool:
        return bool((await self._connection.execute(_HAS_ACTIVE, {"user_id": user_id})).scalar())

    async def passkeys(self, user_id: UUID) -> list[Passkey]:
        rows = (await self._connection.execute(_PASSKEYS, {"user_id": user_id})).mappings()
        return [_passkey(row) for row in rows]

    async def passkey(self, credential_id: bytes) -> Passkey | None:
        params = {"credential_id": credential_id}
        row = (await self._connection.execute(_PASSKEY, params)).mappings().one_or_none()
        return _passkey(row) if row is not None else None

    async def replace_pending_passkey(self, user_id: UUID, challenge: bytes) -> None:
        await self._connection.execute(_DROP_PENDING_PASSKEY, {"user_id": user_id})
        params = {"id": uuid4(), "user_id": user_id, "challenge": challenge}
        await self._connection.execute(_ADD_PASSKEY, params)

    async def pending_passkey(self, user_id: UUID) -> PendingPasskey | None:
        params = {"user_id": user_id}
        row = (await self._connection.execute(_PENDING_PASSKEY, params)).mappings().one_or_none()
        if row is None:
            return None
        return PendingPasskey(row["id"], bytes(row["challenge"]), row["created_at"])

    async def activate_passkey(self, factor_id: UUID, registered: Registered) -> Passkey | None:
        params = {
            "id": factor_id,
            "credential_id": registered.credential_id,
            "public_key": registered.public_key,
            "sign_count": registered.sign_count,
        }
        row = (await self._connection.execute(_ACTIVATE_PASSKEY, params)).mappings().one_or_none()
        return _passkey(row) if row is not None else None

    async def use_passkey(self, factor_id: UUID, sign_count: int) -> bool:
        params = {"id": factor_id, "sign_count": sign_count}
        return bool((await self._connection.execute(_USE_PASSKEY, params)).rowcount)

    async def remove_passkey(self, user_id: UUID, factor_id: UUID) -> bool:
        params = {"id": factor_id, "user_id": user_id}
        return bool((await self._connection.execute(_REMOVE_PASSKEY, params)).rowcount)

    async def ask_removal(self, user_id: UUID, factor_id: UUID, challenge: bytes | None) -> bool:
        params = {"id": factor_id, "user_id": user_id, "challenge": challenge}
        return bool((await self._connection.execute(_ASK_REMOVAL, params)).rowcount)
