"""Read policies: who may see which object. Applied to every loaded row, cached or not."""

from __future__ import annotations

from bff.domain.actor import Actor
from bff.domain.delegation import TRANSACTIONS_READ, may_see_account
from bff.domain.models import Account, AccountKind, Transfer, User
from bff.domain.rbac import Permission


def can_read_user(actor: Actor | None, user: User) -> bool:
    return actor is not None and (actor.user_id == user.id or actor.can(Permission.USER_READ_ANY))


def can_read_account(actor: Actor | None, account: Account) -> bool:
    if actor is None:
        return False
    if not may_see_account(actor, account.id):
        return False
    if account.kind is AccountKind.SETTLEMENT:
        return actor.can(Permission.ACCOUNT_READ_ANY)
    return account.owner_id == actor.user_id or actor.can(Permission.ACCOUNT_READ_ANY)


def can_read_transactions(actor: Actor | None, account: Account) -> bool:
    """An account's transactions: whoever reads the account, unless a connected app lacks
    `transactions:read` for it."""
    return (
        actor is not None
        and can_read_account(actor, account)
        and may_see_account(actor, account.id, TRANSACTIONS_READ)
    )


def can_read_transfer(actor: Actor | None, transfer: Transfer) -> bool:
    """A transfer is visible to the owners of both sides and to staff who read any account."""
    if actor is None:
        return False
    if actor.delegation is not None:
        shared = (transfer.from_account_id, transfer.to_account_id)
        return any(may_see_account(actor, side, TRANSACTIONS_READ) for side in shared)
    return actor.user_id in (transfer.from_owner_id, transfer.to_owner_id) or actor.can(
        Permission.ACCOUNT_READ_ANY
    )


MASK = "•" * 8


def visible_account_number(actor: Actor | None, account: Account) -> str:
    """The number in full to the account's owner (and for the bank's own accounts, to staff who
    may read them); to anyone else only its last four digits."""
    if actor is not None and (
        actor.user_id == account.owner_id or account.kind is AccountKind.SETTLEMENT
    ):
        return account.account_number
    return MASK + account.account_number[-4:]
