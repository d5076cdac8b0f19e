"""Sealed personal fields in SQL: reading rows with their owner's wrapped data key and opening
them into domain records, and creating and finding data keys for writes.

Every read of a users, accounts or sessions row joins its owner's `data_keys` row (KEY_COLUMNS),
so opening the row costs no second round trip. An owner without a data key was erased: their
sealed fields read as ERASED.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.crypto.envelope import DataKey, Vault, WrappedKey
from bff.db import driver
from bff.db.rows import (
    to_account,
    to_entry,
    to_event,
    to_session,
    to_transfer,
    to_user,
)
from bff.domain.models import Account, AccountEvent, Entry, Session, Transfer, User

ERASED = "[erased]"
# Memos are sealed with the data key of whoever wrote them, bound to the transfer; the ledger
# entries' descriptions repeat them, under the same binding.
MEMO = "transfers.memo"
SEALED_TEXT = "sealed:"
WRITER_KEY_TTL_S = 60.0
WRITER_KEYS_KEPT = 10_000

_BY_NUMBER = """
    SELECT (SELECT id FROM accounts WHERE number_index = $1 AND kind = 'customer') AS id
"""
_WRITER_KEY = """
    SELECT k.version, k.kek_version, k.wrapped
      FROM (SELECT 1) one LEFT JOIN data_keys k ON k.user_id = $1
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
        # Writers' data keys, opened: the posting path then costs no extra round trip. A key
        # erased meanwhile seals at most WRITER_KEY_TTL_S of memos that nothing can open.
        self._writers: dict[UUID, tuple[float, DataKey]] = {}

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

    def open_memo(self, key: DataKey | None, transfer_id: UUID, stored: str | None) -> str | None:
        """A memo or entry description as written: sealed ones opened, others (a movement's
        kind, rows from before sealing) as they are."""
        if stored is None or not stored.startswith(SEALED_TEXT):
            return stored
        if key is None:
            return ERASED
        sealed = base64.b64decode(stored.removeprefix(SEALED_TEXT))
        return self.vault.open(key, MEMO, transfer_id, sealed)

    def seal_memo(self, key: DataKey, transfer_id: UUID, memo: str) -> str:
        return (
            SEALED_TEXT + base64.b64encode(self.vault.seal(key, MEMO, transfer_id, memo)).decode()
        )

    def transfer(self, row: Row) -> Transfer:
        key = self.key_of_row(row["initiated_by"], row)
        return to_transfer({**row, "memo": self.open_memo(key, row["id"], row["memo"])})

    def entry(self, row: Row) -> Entry:
        key = self.key_of_row(row["writer_id"], row)
        description = self.open_memo(key, row["transfer_id"], row["description"])
        return to_entry({**row, "description": description})

    def event(self, row: Row) -> AccountEvent:
        if row["entry_id"] is None:
            return to_event(row)
        key = self.key_of_row(row["writer_id"], row)
        description = self.open_memo(key, row["transfer_id"], row["description"])
        return to_event({**row, "description": description})

    # --- writing ----------------------------------------------------------------------------

    async def writer_key(self, connection: AsyncConnection, user_id: UUID) -> DataKey:
        """The user's data key, for sealing what they write on the posting path: remembered a
        while, else read on the driver connection (no transaction begins); created only for
        users from before sealing."""
        now = time.monotonic()
        remembered = self._writers.get(user_id)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        row = await driver.fetchrow(connection, _WRITER_KEY, user_id)
        if row["wrapped"] is None:
            return await self.key_for(connection, user_id)
        key = self.vault.unwrap(
            WrappedKey(user_id, row["version"], row["kek_version"], row["wrapped"])
        )
        if len(self._writers) >= WRITER_KEYS_KEPT:
            self._writers.clear()
        self._writers[user_id] = (now + WRITER_KEY_TTL_S, key)
        return key

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
