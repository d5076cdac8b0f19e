"""The loaders of one request: batched SQL behind the read-through cache, and every result
passed through the domain's read policy for the request's actor, cached or not."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import RowMapping, TextClause
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from bff.cache import keys
from bff.cache.codec import Codec, decoder, dumps, encode, record_codec
from bff.cache.read_through import Found, ReadThrough
from bff.cache.responses import Reads
from bff.db.rows import to_account, to_entry, to_transfer, to_user
from bff.domain import policies
from bff.domain.actor import Actor
from bff.domain.models import Account, Entry, Transfer, User
from dataloaders import queries

T = TypeVar("T")
MAX_SEQUENCE = 2**63 - 1
_entry_fields = decoder(Entry)
AccountList = tuple[
    tuple[datetime, UUID], ...
]  # an owner's accounts: (created at, id), oldest first


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
    """Created per request; results are cached for the request only (and across requests in
    `cache`, when there is one)."""

    def __init__(
        self,
        engine: AsyncEngine,
        actor: Actor | None,
        cache: ReadThrough | None = None,
        per_request_cache: bool = True,
    ) -> None:
        self._engine = engine
        self._actor = actor
        self._cache = cache
        self.reads = Reads()
        memo = per_request_cache
        self.users = DataLoader[UUID, User | None](self._load_users, cache=memo)
        self.accounts = DataLoader[UUID, Account | None](self._load_accounts, cache=memo)
        self.transfers = DataLoader[UUID, Transfer | None](self._load_transfers, cache=memo)
        self.entries = DataLoader[UUID, Entry | None](self._load_entries, cache=memo)
        self.account_pages = DataLoader[AccountPageKey, Page[Account]](
            self._load_account_pages, cache=memo
        )
        self.transaction_pages = DataLoader[TransactionPageKey, Page[Entry]](
            self._load_transaction_pages, cache=memo
        )

    async def _rows(self, statement: TextClause, params: Mapping[str, Any]) -> list[RowMapping]:
        async with self._engine.connect() as connection:
            return list((await connection.execute(statement, params)).mappings())

    async def _through_cache(
        self,
        cache_keys: list[str],
        fetch: Callable[[list[str]], Awaitable[Found[T]]],
        codec: Codec[T],
        *,
        mutable: bool,
    ) -> Found[T]:
        """Load through the cache when there is one; note what the response depends on."""
        if self._cache is None:
            found = await fetch(cache_keys)
        else:
            found = await self._cache.load(cache_keys, fetch, codec)
        self.reads.saw(cache_keys, found, mutable=mutable)
        return found

    async def _records(
        self,
        ids: Sequence[UUID],
        key_of: Callable[[UUID], str],
        statement: TextClause,
        convert: Callable[[RowMapping], T],
        version_of: Callable[[T], int],
        codec: Codec[T],
        *,
        mutable: bool,
    ) -> list[T | None]:
        by_key = {key_of(record_id): record_id for record_id in ids}

        async def fetch(missing: list[str]) -> Found[T]:
            rows = await self._rows(statement, {"ids": [by_key[key] for key in missing]})
            records = [convert(row) for row in rows]
            return {
                key_of(row["id"]): (version_of(record), record)
                for row, record in zip(rows, records, strict=True)
            }

        found = await self._through_cache(list(by_key), fetch, codec, mutable=mutable)
        return [found[key][1] if key in found else None for key in by_key]

    async def _load_users(self, ids: Sequence[UUID]) -> list[User | None]:
        # Not cached across requests: the viewer's row comes with authentication anyway.
        self.reads.uncached()
        found = {row["id"]: to_user(row) for row in await self._rows(queries.USERS, {"ids": ids})}
        return [self._visible(found.get(key), policies.can_read_user) for key in ids]

    async def _load_accounts(self, ids: Sequence[UUID]) -> list[Account | None]:
        records = await self._records(
            ids, keys.account, queries.ACCOUNTS, to_account, _sequence, _ACCOUNT, mutable=True
        )
        return [self._visible(record, policies.can_read_account) for record in records]

    async def _load_transfers(self, ids: Sequence[UUID]) -> list[Transfer | None]:
        records = await self._records(
            ids, keys.transfer, queries.TRANSFERS, to_transfer, _immutable, _TRANSFER, mutable=False
        )
        return [self._visible(record, policies.can_read_transfer) for record in records]

    async def _load_entries(self, ids: Sequence[UUID]) -> list[Entry | None]:
        entries = await self._records(
            ids, keys.entry, queries.ENTRIES, to_entry, _immutable, _ENTRY, mutable=False
        )
        # An entry is visible exactly when its account is.
        accounts = await self.accounts.load_many([e.account_id for e in entries if e is not None])
        readable = {account.id for account in accounts if account is not None}
        return [e if e is not None and e.account_id in readable else None for e in entries]

    def _visible(self, record: T | None, policy: Callable[[Actor | None, T], bool]) -> T | None:
        return record if record is not None and policy(self._actor, record) else None

    async def _load_account_pages(self, keys_: Sequence[AccountPageKey]) -> list[Page[Account]]:
        owners = list(dict.fromkeys(key.owner_id for key in keys_))
        by_key = {keys.account_list(owner): owner for owner in owners}

        async def fetch(missing: list[str]) -> Found[AccountList]:
            rows = await self._rows(
                queries.ACCOUNT_LISTS, {"owners": [by_key[key] for key in missing]}
            )
            lists: dict[UUID, list[tuple[datetime, UUID]]] = defaultdict(list)
            versions: dict[UUID, int] = {}
            for row in rows:
                versions[row["owner_id"]] = row["accounts_version"]
                if row["id"] is not None:
                    lists[row["owner_id"]].append((row["created_at"], row["id"]))
            return {
                keys.account_list(owner): (version, tuple(lists[owner]))
                for owner, version in versions.items()
            }

        found = await self._through_cache(list(by_key), fetch, _ACCOUNT_LIST, mutable=True)
        listed = {by_key[key]: account_list for key, (_, account_list) in found.items()}

        async def page(key: AccountPageKey) -> Page[Account]:
            later = [
                item for item in listed.get(key.owner_id, []) if not key.after or item > key.after
            ]
            accounts = await self.accounts.load_many(
                [account_id for _, account_id in later[: key.first + 1]]
            )
            return _page([account for account in accounts if account is not None], key.first)

        # Gathered, so that the accounts of every page load in one batch.
        return list(await asyncio.gather(*(page(key) for key in keys_)))

    async def _load_transaction_pages(
        self, keys_: Sequence[TransactionPageKey]
    ) -> list[Page[Entry]]:
        # Only pages of accounts the actor may read (usually already loaded in this request).
        accounts = await self.accounts.load_many([key.account_id for key in keys_])
        readable = {
            keys.transaction_page(
                key.account_id, account.last_sequence, key.first, key.before_sequence
            ): key
            for key, account in zip(keys_, accounts, strict=True)
            if account is not None
        }

        async def fetch(missing: list[str]) -> Found[Page[Entry]]:
            wanted = [readable[cache_key] for cache_key in missing]
            rows = await self._rows(
                queries.TRANSACTION_PAGES,
                {
                    "accounts": [key.account_id for key in wanted],
                    "befores": [key.before_sequence or MAX_SEQUENCE for key in wanted],
                    "limits": [key.first + 1 for key in wanted],
                },
            )
            grouped: dict[int, list[Entry]] = defaultdict(list)
            for row in rows:
                grouped[row["ord"]].append(to_entry(row))
            return {
                cache_key: (0, _page(grouped[index], wanted[index - 1].first))
                for index, cache_key in enumerate(missing, start=1)
            }

        # Pages are keyed by their account's sequence: the account is what they depend on.
        found = await self._through_cache(list(readable), fetch, _TRANSACTION_PAGE, mutable=False)
        pages = {readable[cache_key]: page for cache_key, (_, page) in found.items()}
        return [pages.get(key, Page([], False)) for key in keys_]


def _sequence(account: Account) -> int:
    return account.last_sequence


def _immutable(_: object) -> int:
    return 0


def _dump_page(page: Page[Entry]) -> bytes:
    return dumps({"items": [encode(entry) for entry in page.items], "next": page.has_next})


@lru_cache(maxsize=2_000)
def _load_page(payload: bytes) -> Page[Entry]:
    """A cached history page; pages never change, so equal payloads share one (unmutated) Page."""
    body = json.loads(payload)
    return Page([_entry_fields(item) for item in body["items"]], body["next"])


def _dump_account_list(account_list: AccountList) -> bytes:
    return dumps(
        [[created_at.isoformat(), str(account_id)] for created_at, account_id in account_list]
    )


@lru_cache(maxsize=2_000)
def _load_account_list(payload: bytes) -> AccountList:
    return tuple((datetime.fromisoformat(at), UUID(raw)) for at, raw in json.loads(payload))


_ACCOUNT = record_codec(Account, 10_000)
_ENTRY = record_codec(Entry, 10_000)
_TRANSFER = record_codec(Transfer, 10_000)
_TRANSACTION_PAGE = Codec(_dump_page, _load_page)
_ACCOUNT_LIST = Codec(_dump_account_list, _load_account_list)


def _page(items: list[T], first: int) -> Page[T]:
    return Page(items[:first], len(items) > first)
