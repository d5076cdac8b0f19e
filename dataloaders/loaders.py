"""The loaders of one request."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import TextClause
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from bff.db.rows import to_account, to_entry, to_transfer, to_user
from bff.domain import policies
from bff.domain.actor import Actor
from bff.domain.models import Account, Entry, Transfer, User
from dataloaders import queries

T = TypeVar("T")
MAX_SEQUENCE = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool


@dataclass(frozen=True, slots=True)
class AccountPageKey:
    owner_id: UUID
    first: int
    after: tuple[datetime, UUID] | None = None


@dataclass(frozen=True, slots=True)
class TransactionPageKey:
    account_id: UUID
    first: int
    before_sequence: int | None = None


class Loaders:
    """Created per request; results are cached for the request only."""

    def __init__(self, engine: AsyncEngine, actor: Actor | None, cache: bool = True) -> None:
        self._engine = engine
        self._actor = actor
        self.users = DataLoader[UUID, User | None](self._load_users, cache=cache)
        self.accounts = DataLoader[UUID, Account | None](self._load_accounts, cache=cache)
        self.transfers = DataLoader[UUID, Transfer | None](self._load_transfers, cache=cache)
        self.entries = DataLoader[UUID, Entry | None](self._load_entries, cache=cache)
        self.account_pages = DataLoader[AccountPageKey, Page[Account]](
            self._load_account_pages, cache=cache
        )
        self.transaction_pages = DataLoader[TransactionPageKey, Page[Entry]](
            self._load_transaction_pages, cache=cache
        )

    async def _rows(self, statement: TextClause, params: Mapping[str, Any]) -> list[Any]:
        async with self._engine.connect() as connection:
            return list((await connection.execute(statement, params)).mappings())

    async def _by_id(
        self,
        statement: TextClause,
        ids: Sequence[UUID],
        convert: Callable[[Any], T],
        visible: Callable[[T], bool],
    ) -> list[T | None]:
        found = {row["id"]: convert(row) for row in await self._rows(statement, {"ids": list(ids)})}
        return [
            item if (item := found.get(key)) is not None and visible(item) else None for key in ids
        ]

    async def _load_users(self, ids: Sequence[UUID]) -> list[User | None]:
        return await self._by_id(
            queries.USERS, ids, to_user, lambda user: policies.can_read_user(self._actor, user)
        )

    async def _load_accounts(self, ids: Sequence[UUID]) -> list[Account | None]:
        return await self._by_id(
            queries.ACCOUNTS,
            ids,
            to_account,
            lambda account: policies.can_read_account(self._actor, account),
        )

    async def _load_transfers(self, ids: Sequence[UUID]) -> list[Transfer | None]:
        return await self._by_id(
            queries.TRANSFERS,
            ids,
            to_transfer,
            lambda transfer: policies.can_read_transfer(self._actor, transfer),
        )

    async def _load_entries(self, ids: Sequence[UUID]) -> list[Entry | None]:
        entries = await self._by_id(queries.ENTRIES, ids, to_entry, lambda _: True)
        # An entry is visible exactly when its account is.
        accounts = await self.accounts.load_many([e.account_id for e in entries if e is not None])
        readable = {account.id for account in accounts if account is not None}
        return [e if e is not None and e.account_id in readable else None for e in entries]

    async def _load_account_pages(self, keys: Sequence[AccountPageKey]) -> list[Page[Account]]:
        rows = await self._rows(
            queries.ACCOUNT_PAGES,
            {
                "owners": [key.owner_id for key in keys],
                "after_times": [key.after[0] if key.after else None for key in keys],
                "after_ids": [key.after[1] if key.after else None for key in keys],
                "limits": [key.first + 1 for key in keys],
            },
        )
        grouped: dict[int, list[Account]] = defaultdict(list)
        for row in rows:
            account = to_account(row)
            if policies.can_read_account(self._actor, account):
                self.accounts.prime(account.id, account)
                grouped[row["ord"]].append(account)
        return [_page(grouped[index], key.first) for index, key in enumerate(keys, start=1)]

    async def _load_transaction_pages(
        self, keys: Sequence[TransactionPageKey]
    ) -> list[Page[Entry]]:
        # Only pages of accounts the actor may read (usually already loaded in this request).
        accounts = await self.accounts.load_many([key.account_id for key in keys])
        readable = [key for key, account in zip(keys, accounts, strict=True) if account is not None]
        rows = (
            await self._rows(
                queries.TRANSACTION_PAGES,
                {
                    "accounts": [key.account_id for key in readable],
                    "befores": [key.before_sequence or MAX_SEQUENCE for key in readable],
                    "limits": [key.first + 1 for key in readable],
                },
            )
            if readable
            else []
        )
        grouped: dict[int, list[Entry]] = defaultdict(list)
        for row in rows:
            grouped[row["ord"]].append(to_entry(row))
        pages = {
            key: _page(grouped[index], key.first) for index, key in enumerate(readable, start=1)
        }
        return [pages.get(key, Page([], False)) for key in keys]


def _page(items: list[T], first: int) -> Page[T]:
    return Page(items[:first], len(items) > first)
