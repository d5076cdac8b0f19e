"""Sealed personal fields in SQL: reading rows with their owner's wrapped data key and opening
them into domain records, and creating and finding data keys for writes.

Every read of a users, accounts or sessions row joins its owner's `data_keys` row (KEY_COLUMNS),
so opening the row costs no second round trip. An owner without a data key was erased: their
sealed fields read as ERASED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.crypto.envelope import DataKey, Vault, WrappedKey
from bff.db import driver
from bff.db.rows import to_account, to_session, to_user
from bff.domain.models import Account, Session, User

ERASED = "[erased]"
# The owner's data key, as columns of a row joined with `data_keys k`.
KEY_COLUMNS = "k.version AS key_version, k.kek_version AS key_kek_version, k.wrapped AS key_wrapped"

_BY_NUMBER = """
    SELECT (SELECT id FROM accounts WHERE number_index = $1 AND kind = 'customer') AS id
"""
_KEY_OF = text("SELECT version, kek_version, wrapped FROM data_keys WHERE user_id = :user_id")
_ADD_KEY = text("""
    INSERT INTO data_keys (user_id, version, kek_version, wrapped)
    VALUES (:user_id, :version, :kek_version, :wrapped)
    ON CONFLICT (user_id) DO NOTHING
""")

Row = Mapping[Any, Any]


class Sealing:
    """The vault, applied to this schema's tables and columns."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    # --- reading ----------------------------------------------------------------------------

    def key_of_row(self, owner_id: UUID | None, row: Row) -> DataKey | None:
        if owner_id is None or row["key_wrapped"] is None:
            return None
        wrapped = WrappedKey(
            owner_id, row["key_version"], row["key_kek_version"], row["key_wrapped"]
        )
        return self.vault.unwrap(wrapped)

    def _open(
        self, key: DataKey | None, field: str, row_id: UUID, sealed: bytes | None, plain: Any
    ) -> str:
        if sealed is None:
            # Written before fields were sealed (or the bank's own): kept in the clear.
            return str(plain) if plain is not None else ERASED
        if key is None:
            return ERASED
        return self.vault.open(key, field, row_id, bytes(sealed))

    def user(self, row: Row) -> User:
        key = self.key_of_row(row["id"], row)
        return to_user(
            {
                **row,
                "email": self._open(
                    key, "users.email", row["id"], row["email_sealed"], row["email"]
                ),
                "display_name": self._open(
                    key,
                    "users.display_name",
                    row["id"],
                    row["display_name_sealed"],
                    row["display_name"],
                ),
            }
        )

    def account(self, row: Row) -> Account:
        key = self.key_of_row(row["owner_id"], row)
        number = self._open(
            key, "accounts.account_number", row["id"], row["number_sealed"], row["account_number"]
        )
        if number == ERASED and row["number_last_four"]:
            number = "*" * 8 + row["number_last_four"]
        return to_account({**row, "account_number": number})

    def session(self, row: Row) -> Session:
        key = self.key_of_row(row["user_id"], row)
        device = self._open(
            key, "sessions.device_name", row["id"], row["device_name_sealed"], row["device_name"]
        )
        return to_session({**row, "device_name": device})

    # --- writing ----------------------------------------------------------------------------

    async def key_for(self, connection: AsyncConnection, owner_id: UUID) -> DataKey:
        """The owner's data key, created (in this transaction) if they have none yet."""
        row = (await connection.execute(_KEY_OF, {"user_id": owner_id})).mappings().one_or_none()
        if row is None:
            _, wrapped = self.vault.new_key(owner_id)
            await connection.execute(_ADD_KEY, key_params(wrapped))
            row = (await connection.execute(_KEY_OF, {"user_id": owner_id})).mappings().one()
        return self.vault.unwrap(
            WrappedKey(owner_id, row["version"], row["kek_version"], row["wrapped"])
        )

    def seal(self, key: DataKey, field: str, row_id: UUID, plaintext: str) -> bytes:
        return self.vault.seal(key, field, row_id, plaintext)

    def index(self, purpose: str, value: str) -> bytes:
        return self.vault.index(purpose, value)

    def device(self, user_id: UUID, device_name: str) -> bytes:
        """A device name's blind index, per user: whether a device was seen before can be told,
        and nothing more (not which name, nor that two users share one)."""
        return self.vault.index("device", f"{user_id}:{device_name}")

    def throttle_key(self, scope: str, key: str) -> str:
        """How a throttle key (an email, a client address) is stored: an account's is its
        email's blind index, as `users.email_index` holds it (fraud screening joins them)."""
        if scope == "account":
            return self.index("email", key).hex()
        return self.index(f"throttle:{scope}", key).hex()

    async def account_by_number(self, connection: AsyncConnection, number: str) -> UUID | None:
        """The customer account with this number, found by its blind index."""
        index = self.index("account_number", number)
        row = await driver.fetchrow(connection, _BY_NUMBER, index)
        return row["id"]  # type: ignore[no-any-return]

    def address(self, address: str | None) -> str | None:
        """What stands for a client address where it is stored: its blind index, so that entries
        from one address can still be found together, but no address can be read back."""
        if address is None:
            return None
        return "hmac:" + self.vault.index("address", address).hex()[:32]


def key_params(wrapped: WrappedKey) -> dict[str, Any]:
    return {
        "user_id": wrapped.owner_id,
        "version": wrapped.version,
        "kek_version": wrapped.kek_version,
        "wrapped": wrapped.wrapped,
    }
