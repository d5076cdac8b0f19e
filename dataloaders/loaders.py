"""The loaders of one request: batched SQL behind the read-through cache, and every result
passed through the domain's read policy for the request's actor, cached or not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Protocol, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from bff.cache import keys
from bff.cache.codec import Codec, decoder, dumps, encode, record_codec
from bff.cache.read_through import Found, ReadThrough
from bff.cache.responses import Reads
from bff.db.reads import AccountList
from bff.db.reads import Reads as Statements
from bff.domain import policies
from bff.domain.actor import Actor
from bff.domain.models import Account, Entry, Transfer, User
from bff.domain.pages import AccountPageKey, Page, TransactionPageKey, page_of

T = TypeVar("T")


class _Identified(Protocol):
    @property
    def id(self) -> UUID: ...


Record = TypeVar("Record", bound=_Identified)
_entry_fields = decoder(Entry)


class Loaders:
    """Created per request; results are cached for the request only (and across requests in
    `cache`, when there is one)."""

    def __init__(
        self,
        statements: Statements,
        actor: Actor | None,
        cache: ReadThrough | None = None,
        per_request_cache: bool = True,
    ) -> None:
        self._statements = statements
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
        load: Callable[[list[UUID]], Awaitable[list[Record]]],
        version_of: Callable[[Record], int],
        codec: Codec[Record],
        *,
        mutable: bool,
    ) -> list[Record | None]:
        by_key = {key_of(record_id): record_id for record_id in ids}

        async def fetch(missing: list[str]) -> Found[Record]:
            records = await load([by_key[key] for key in missing])
            return {key_of(record.id): (version_of(record), record) for record in records}

        found = await self._through_cache(list(by_key), fetch, codec, mutable=mutable)
        return [found[key][1] if key in found else None for key in by_key]

    async def _load_users(self, ids: Sequence[UUID]) -> list[User | None]:
        # Not cached across requests: the viewer's row comes with authentication anyway.
        self.reads.uncached()
        found = {user.id: user for user in await self._statements.users(ids)}
        return [self._visible(found.get(key), policies.can_read_user) for key in ids]

    async def _load_accounts(self, ids: Sequence[UUID]) -> list[Account | None]:
        records = await self._records(
            ids, keys.account, self._statements.accounts, _sequence, _ACCOUNT, mutable=True
        )
        return [self._visible(record, policies.can_read_account) for record in records]

    async def _load_transfers(self, ids: Sequence[UUID]) -> list[Transfer | None]:
        records = await self._records(
            ids, keys.transfer, self._statements.transfers, _version, _TRANSFER, mutable=True
        )
        return [self._visible(record, policies.can_read_transfer) for record in records]

    async def _load_entries(self, ids: Sequence[UUID]) -> list[Entry | None]:
        entries = await self._records(
            ids, keys.entry, self._statements.entries, _immutable, _ENTRY, mutable=False
        )
        # An entry is visible exactly when its account's transactions are.
        accounts = await self.accounts.load_many([e.account_id for e in entries if e is not None])
        readable = {
            account.id
            for account in accounts
            if account is not None and policies.can_read_transactions(self._actor, account)
        }
        return [e if e is not None and e.account_id in readable else None for e in entries]

    def _visible(self, record: T | None, policy: Callable[[Actor | None, T], bool]) -> T | None:
        return record if record is not None and policy(self._actor, record) else None

    async def _load_account_pages(self, keys_: Sequence[AccountPageKey]) -> list[Page[Account]]:
        owners = list(dict.fromkeys(key.owner_id for key in keys_))
        by_key = {keys.account_list(owner): owner for owner in owners}

        async def fetch(missing: list[str]) -> Found[AccountList]:
            lists = await self._statements.account_lists([by_key[key] for key in missing])
            return {keys.account_list(owner): listed for owner, listed in lists.items()}

        found = await self._through_cache(list(by_key), fetch, _ACCOUNT_LIST, mutable=True)
        listed = {by_key[key]: account_list for key, (_, account_list) in found.items()}

        async def page(key: AccountPageKey) -> Page[Account]:
            later = [
                item for item in listed.get(key.owner_id, []) if not key.after or item > key.after
            ]
            accounts = await self.accounts.load_many(
                [account_id for _, account_id in later[: key.first + 1]]
            )
            return page_of([account for account in accounts if account is not None], key.first)

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
            if account is not None and policies.can_read_transactions(self._actor, account)
        }

        sequences = {
            key: account.last_sequence
            for key, account in zip(keys_, accounts, strict=True)
            if account is not None
        }

        async def fetch(missing: list[str]) -> Found[Page[Entry]]:
            wanted = [readable[cache_key] for cache_key in missing]
            # A page must hold the account's transactions up to the sequence read above.
            fresh_as_of = [sequences[key] for key in wanted]
            fetched = await self._statements.transaction_pages(wanted, fresh_as_of)
            return {
                cache_key: (0, page_of(entries, key.first))
                for cache_key, key, entries in zip(missing, wanted, fetched, strict=True)
            }

        # Pages are keyed by their account's sequence: the account is what they depend on.
        found = await self._through_cache(list(readable), fetch, _TRANSACTION_PAGE, mutable=False)
        pages = {readable[cache_key]: page for cache_key, (_, page) in found.items()}
        return [pages.get(key, Page([], False)) for key in keys_]


def _sequence(account: Account) -> int:
    return account.last_sequence


def _version(transfer: Transfer) -> int:
    # A held transfer's status changes: each change bumps its version and fences its key.
    return transfer.version


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
