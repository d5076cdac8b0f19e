"""The read statements of the API, outside units of work: batched reads for the loaders (one
round trip serves a whole batch), and the single reads of live streams and authentication.

They run on the autocommit pool, so a read costs no BEGIN/ROLLBACK round trips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from asyncpg import Record
from sqlalchemy import RowMapping, TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.db.driver import fetch_optional
from bff.db.failures import retrying
from bff.db.rows import (
    ENTRIES_WITH_KEY,
    EVENTS_WITH_ENTRIES,
    KEY_COLUMNS,
    TRANSFER_WITH_OWNERS,
)
from bff.db.sealing import Sealing
from bff.domain.models import Account, AccountEvent, Entry, Transfer, User
from bff.domain.pages import MAX_SEQUENCE, TransactionPageKey

# An owner's accounts, oldest first: (created at, id).
AccountList = tuple[tuple[datetime, UUID], ...]

_USERS = text(f"""
    SELECT u.*, {KEY_COLUMNS} FROM users u LEFT JOIN data_keys k ON k.user_id = u.id
     WHERE u.id = ANY(CAST(:ids AS uuid[]))
""")  # noqa: S608 (constant SQL fragments)
_ACCOUNTS = text(f"""
    SELECT a.*, {KEY_COLUMNS} FROM accounts a LEFT JOIN data_keys k ON k.user_id = a.owner_id
     WHERE a.id = ANY(CAST(:ids AS uuid[]))
""")  # noqa: S608 (constant SQL fragments)
_TRANSFERS = text(TRANSFER_WITH_OWNERS + " WHERE t.id = ANY(CAST(:ids AS uuid[]))")
_ENTRIES = text(ENTRIES_WITH_KEY + " WHERE e.id = ANY(CAST(:ids AS uuid[]))")
# Every owner's whole list of account ids (oldest first), with the list's version for the cache.
_ACCOUNT_LISTS = text("""
    SELECT u.id AS owner_id, u.accounts_version, a.id, a.created_at
      FROM users u LEFT JOIN accounts a ON a.owner_id = u.id
     WHERE u.id = ANY(CAST(:owners AS uuid[]))
     ORDER BY u.id, a.created_at, a.id
""")
# One page per account, newest first, before an optional sequence: keyset pagination.
_TRANSACTION_PAGES = text(f"""
    SELECT q.ord, e.*, t.initiated_by AS writer_id, {KEY_COLUMNS}
      FROM unnest(CAST(:accounts AS uuid[]), CAST(:befores AS bigint[]), CAST(:limits AS int[]))
           WITH ORDINALITY AS q(account_id, before, lim, ord)
     CROSS JOIN LATERAL (
            SELECT * FROM ledger_entries e
             WHERE e.account_id = q.account_id AND e.sequence < q.before
             ORDER BY e.sequence DESC
             LIMIT q.lim) e
      JOIN transfers t ON t.id = e.transfer_id
      LEFT JOIN data_keys k ON k.user_id = t.initiated_by
     ORDER BY q.ord, e.sequence DESC
""")  # noqa: S608 (constant SQL fragments)
_EVENTS = text(
    EVENTS_WITH_ENTRIES
    + """ WHERE e.account_id = :account_id AND e.sequence > :after AND e.sequence <= :upto
          ORDER BY e.sequence"""
)
_OLDEST_EVENT = text(
    "SELECT min(sequence) AS oldest FROM account_events WHERE account_id = :account_id"
)
# Every authenticated request reads it: sent prepared on the driver, without SQLAlchemy.
_SESSION_USER = f"""
    SELECT u.*, {KEY_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
      LEFT JOIN data_keys k ON k.user_id = u.id
     WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
"""  # noqa: S608 (constant SQL fragments)
_ANY_USER = text("SELECT EXISTS (SELECT 1 FROM users) AS present")


class Reads:
    def __init__(self, engine: AsyncEngine, sealing: Sealing) -> None:
        self._engine = engine
        self._sealing = sealing

    async def _rows(self, statement: TextClause, params: Mapping[str, Any]) -> list[RowMapping]:
        """The rows of a read; connection failures are retried a few times (a read is safe to
        run again), then raised as `ServiceUnavailable`."""
        return await retrying(partial(self._run, statement, params))

    async def _run(self, statement: TextClause, params: Mapping[str, Any]) -> list[RowMapping]:
        async with self._engine.connect() as connection:
            return list((await connection.execute(statement, params)).mappings())

    async def users(self, ids: Sequence[UUID]) -> list[User]:
        return [self._sealing.user(row) for row in await self._rows(_USERS, {"ids": ids})]

    async def accounts(self, ids: Sequence[UUID]) -> list[Account]:
        return [self._sealing.account(row) for row in await self._rows(_ACCOUNTS, {"ids": ids})]

    async def transfers(self, ids: Sequence[UUID]) -> list[Transfer]:
        return [self._sealing.transfer(row) for row in await self._rows(_TRANSFERS, {"ids": ids})]

    async def entries(self, ids: Sequence[UUID]) -> list[Entry]:
        return [self._sealing.entry(row) for row in await self._rows(_ENTRIES, {"ids": ids})]

    async def account_lists(self, owners: Sequence[UUID]) -> dict[UUID, tuple[int, AccountList]]:
        """Each existing owner's accounts, with the version of that list."""
        lists: dict[UUID, list[tuple[datetime, UUID]]] = defaultdict(list)
        versions: dict[UUID, int] = {}
        for row in await self._rows(_ACCOUNT_LISTS, {"owners": owners}):
            versions[row["owner_id"]] = row["accounts_version"]
            if row["id"] is not None:
                lists[row["owner_id"]].append((row["created_at"], row["id"]))
        return {owner: (version, tuple(lists[owner])) for owner, version in versions.items()}

    async def transaction_pages(
        self, keys: Sequence[TransactionPageKey], fresh_as_of: Sequence[int] | None = None
    ) -> list[list[Entry]]:
        """For each key, in order, up to `first + 1` transactions (one more tells whether the
        page has a next one). `fresh_as_of`: the account sequence each page must include, which
        lets a replica serve it (bff/db/replica.py)."""
        rows = await self._rows(
            _TRANSACTION_PAGES,
            {
                "accounts": [key.account_id for key in keys],
                "befores": [key.before_sequence or MAX_SEQUENCE for key in keys],
                "limits": [key.first + 1 for key in keys],
            },
        )
        pages: list[list[Entry]] = [[] for _ in keys]
        for row in rows:
            pages[row["ord"] - 1].append(self._sealing.entry(row))
        return pages

    async def account(self, account_id: UUID) -> Account | None:
        accounts = await self.accounts([account_id])
        return accounts[0] if accounts else None

    async def events(self, account_id: UUID, after: int, upto: int) -> list[AccountEvent]:
        """The account's events with `after < sequence <= upto`, in sequence order."""
        params = {"account_id": account_id, "after": after, "upto": upto}
        return [self._sealing.event(row) for row in await self._rows(_EVENTS, params)]

    async def oldest_event(self, account_id: UUID) -> int | None:
        """The lowest sequence still kept in the account's events (older ones are purged)."""
        rows = await self._rows(_OLDEST_EVENT, {"account_id": account_id})
        return rows[0]["oldest"] if rows else None

    async def session_user(self, session_id: UUID) -> User | None:
        """The user behind a live (not revoked, not expired) session."""
        row = await retrying(partial(self._session_user, session_id))
        return self._sealing.user(row) if row is not None else None

    async def _session_user(self, session_id: UUID) -> Record | None:
        async with self._engine.connect() as connection:
            return await fetch_optional(connection, _SESSION_USER, session_id)

    async def any_user(self) -> bool:
        rows = await self._rows(_ANY_USER, {})
        return bool(rows[0]["present"])
