"""Fetch any object by global ID, through the same loaders and read policies as everything else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from bff.api.context import Info
from bff.domain import audit
from schema.account import Account
from schema.ids import decode_any
from schema.node import Node
from schema.transaction import Transaction
from schema.transfer import Transfer
from schema.user import User


async def _read(info: Info, object_type: str, raw: UUID, *owners: UUID | None) -> None:
    """Staff looking a customer's object up leave an audit entry."""
    customers = {owner for owner in owners if owner is not None}
    context = info.context
    await audit.staff_read(context.unit_of_work, context.actor, object_type, raw, customers)


async def _user(info: Info, raw: UUID) -> Node | None:
    user = await info.context.loaders.users.load(raw)
    if user is None:
        return None
    await _read(info, "user", raw, user.id)
    return User.of(user)


async def _account(info: Info, raw: UUID) -> Node | None:
    account = await info.context.loaders.accounts.load(raw)
    if account is None:
        return None
    await _read(info, "account", raw, account.owner_id)
    return Account.of(account)


async def _transfer(info: Info, raw: UUID) -> Node | None:
    transfer = await info.context.loaders.transfers.load(raw)
    if transfer is None:
        return None
    await _read(info, "transfer", raw, transfer.from_owner_id, transfer.to_owner_id)
    return Transfer.of(transfer)


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
