"""Opening, freezing and unfreezing accounts."""

from __future__ import annotations

import secrets
from uuid import UUID

from bff.domain import audit
from bff.domain.actor import Actor
from bff.domain.audit_models import AuditOperation
from bff.domain.errors import DomainError, ErrorCode, NotFound
from bff.domain.models import Account, AccountChange, AccountKind, AccountStatus, EventKind
from bff.domain.money import exponent_of
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Permission
from bff.domain.text import clean_name

MAX_NAME = 60
ACCOUNT_NUMBER_DIGITS = 12
_NUMBER_ATTEMPTS = 5


def new_account_number() -> str:
    """A random 12-digit account number (uniqueness is enforced by the database)."""
    first = secrets.choice("123456789")
    return first + "".join(secrets.choice("0123456789") for _ in range(ACCOUNT_NUMBER_DIGITS - 1))


def is_account_number(text: str) -> bool:
    """Whether `text` has the shape of a customer account number."""
    return len(text) == ACCOUNT_NUMBER_DIGITS and text.isascii() and text.isdigit()


def account_not_found(field: str | None = None) -> NotFound:
    return NotFound(ErrorCode.ACCOUNT_NOT_FOUND, field=field)


def _entry(
    actor: Actor, operation: AuditOperation, account: Account, **fields: object
) -> audit.AuditRecord:
    return audit.by(
        actor,
        operation,
        object_type="account",
        object_id=str(account.id),
        subject_id=account.owner_id,
        **fields,
    )


async def open_account(uow: UnitOfWork, actor: Actor, name: str, currency: str) -> Account:
    """Open an empty account owned by the actor."""
    actor.require(Permission.ACCOUNT_OPEN_OWN)
    account_name = clean_name(name, "name", MAX_NAME)
    try:
        exponent_of(currency)
    except DomainError as error:
        raise error.with_field("currency") from None
    async with uow:
        for _ in range(_NUMBER_ATTEMPTS):
            account = await uow.accounts.add(
                actor.user_id, account_name, currency, new_account_number()
            )
            if account is not None:
                await uow.audit.record(_entry(actor, AuditOperation.ACCOUNT_OPEN, account))
                await uow.commit()
                return account
    raise RuntimeError("could not allocate a unique account number")


async def freeze_account(uow: UnitOfWork, actor: Actor, account_id: UUID) -> Account:
    """Stop an account from sending or receiving money (support and admin)."""
    return await _set_status(uow, actor, account_id, AccountStatus.ACTIVE, AccountStatus.FROZEN)


async def unfreeze_account(uow: UnitOfWork, actor: Actor, account_id: UUID) -> Account:
    """Let a frozen account move money again (support and admin)."""
    return await _set_status(uow, actor, account_id, AccountStatus.FROZEN, AccountStatus.ACTIVE)


async def _set_status(
    uow: UnitOfWork, actor: Actor, account_id: UUID, expected: AccountStatus, new: AccountStatus
) -> Account:
    # Staff who may freeze may read any account, so a permission failure reveals nothing.
    actor.require(Permission.ACCOUNT_FREEZE)
    async with uow:
        account = (await uow.accounts.lock([account_id])).get(account_id)
        if account is None or account.kind is not AccountKind.CUSTOMER:
            raise account_not_found("accountId")
        if account.status is not expected:
            raise DomainError(
                ErrorCode.INVALID_STATE, f"The account is {account.status.value}.", "accountId"
            )
        change = AccountChange(
            account_id=account.id,
            sequence=account.last_sequence + 1,
            balance=account.balance,
            available_balance=account.available_balance,
            status=new,
            event=EventKind.STATUS_CHANGED,
        )
        updated = await uow.accounts.set_status(change)
        detail = {"from": expected.value, "to": new.value}
        await uow.audit.record(
            _entry(actor, AuditOperation.ACCOUNT_STATUS_CHANGE, account, detail=detail)
        )
        await uow.commit()
    return updated
