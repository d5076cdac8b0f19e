"""Read policies: who may see which object. Applied to every loaded row, cached or not."""

from __future__ import annotations

from bff.domain.actor import Actor
from bff.domain.models import Account, AccountKind, Transfer, User
from bff.domain.rbac import Permission


def can_read_user(actor: Actor | None, user: User) -> bool:
    return actor is not None and (actor.user_id == user.id or actor.can(Permission.USER_READ_ANY))


def can_read_account(actor: Actor | None, account: Account) -> bool:
    if actor is None:
        return False
    if account.kind is AccountKind.SETTLEMENT:
        return actor.can(Permission.ACCOUNT_READ_ANY)
    return account.owner_id == actor.user_id or actor.can(Permission.ACCOUNT_READ_ANY)


def can_read_transfer(actor: Actor | None, transfer: Transfer) -> bool:
    """A transfer is visible to the owners of both sides and to staff who read any account."""
    if actor is None:
        return False
    return actor.user_id in (transfer.from_owner_id, transfer.to_owner_id) or actor.can(
        Permission.ACCOUNT_READ_ANY
    )
