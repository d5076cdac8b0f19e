"""Fetch any object by global ID, through the same loaders and read policies as everything else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from bff.api.context import Info
from schema.account import Account
from schema.ids import decode_any
from schema.node import Node
from schema.transaction import Transaction
from schema.transfer import Transfer
from schema.user import User


async def _user(info: Info, raw: UUID) -> Node | None:
    user = await info.context.loaders.users.load(raw)
    return User.of(user) if user else None


async def _account(info: Info, raw: UUID) -> Node | None:
    account = await info.context.loaders.accounts.load(raw)
    return Account.of(account) if account else None


async def _transfer(info: Info, raw: UUID) -> Node | None:
    transfer = await info.context.loaders.transfers.load(raw)
    return Transfer.of(transfer) if transfer else None


async def _transaction(info: Info, raw: UUID) -> Node | None:
    entry = await info.context.loaders.entries.load(raw)
    return Transaction.of(entry) if entry else None


_FETCHERS: dict[str, Callable[[Info, UUID], Awaitable[Node | None]]] = {
    "User": _user,
    "Account": _account,
    "Transfer": _transfer,
    "Transaction": _transaction,
}


async def fetch_node(info: Info, global_id: str) -> Any:
    """The object, or None when the ID is malformed, unknown or not visible to the actor."""
    decoded = decode_any(global_id)
    if decoded is None or decoded[0] not in _FETCHERS:
        return None
    type_name, raw = decoded
    return await _FETCHERS[type_name](info, raw)


async def fetch_typed(info: Info, global_id: str, type_name: str) -> Any:
    """Like `fetch_node`, but only for IDs of `type_name`."""
    decoded = decode_any(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return await _FETCHERS[type_name](info, decoded[1])
