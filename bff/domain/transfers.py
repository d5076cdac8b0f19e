"""Money movement over the double-entry ledger: transfers between accounts and deposits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from bff.domain import idempotency
from bff.domain.accounts import account_not_found, is_account_number
from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import (
    Account,
    AccountChange,
    AccountKind,
    AccountStatus,
    Entry,
    EventKind,
    Posting,
    Transfer,
    TransferKind,
    TransferStatus,
)
from bff.domain.money import Money
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Permission
from bff.domain.text import clean_text

MAX_MEMO = 140


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """Move `amount` from one of the actor's accounts to an account by id or number."""

    idempotency_key: str
    from_account_id: UUID
    amount: str
    currency: str
    to_account_id: UUID | None = None
    to_account_number: str | None = None
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class DepositRequest:
    """Credit a customer account from the bank's settlement account in its currency."""

    idempotency_key: str
    account_id: UUID
    amount: str
    currency: str
    reference: str | None = None


def _parse_amount(amount: str, currency: str) -> Money:
    try:
        return Money.parse(amount, currency)
    except DomainError as error:
        field = (
            "amount.currency" if error.code is ErrorCode.UNSUPPORTED_CURRENCY else "amount.amount"
        )
        raise error.with_field(field) from None


def _optional_text(text: str | None, field: str) -> str | None:
    return (clean_text(text, field, MAX_MEMO) or None) if text else None


async def create_transfer(
    uow: UnitOfWork, actor: Actor, request: TransferRequest, ttl_s: int
) -> Transfer:
    """Move money between two accounts of the same currency, exactly once per idempotency key."""
    actor.require(Permission.TRANSFER_CREATE_OWN)
    key = idempotency.check_key(request.idempotency_key)
    if (request.to_account_id is None) == (request.to_account_number is None):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Give exactly one of toAccountId and toAccountNumber.",
            "toAccountId",
        )
    money = _parse_amount(request.amount, request.currency)
    memo = _optional_text(request.memo, "memo")
    digest = idempotency.fingerprint(
        "transfer",
        source=request.from_account_id,
        to_id=request.to_account_id,
        to_number=request.to_account_number,
        amount=money.minor,
        currency=money.currency,
        memo=memo,
    )

    destination_field = "toAccountNumber" if request.to_account_number else "toAccountId"

    async def write() -> Transfer:
        destination_id = request.to_account_id
        if request.to_account_number is not None:
            number = request.to_account_number
            destination_id = (
                await uow.accounts.id_by_number(number) if is_account_number(number) else None
            )
        # Whose each account is, settled before any rule compares them: the source first, so
        # that naming someone else's account as the source says nothing about the destination
        # (not even that the two are one account).
        named = [request.from_account_id, destination_id]
        locked = await uow.accounts.lock([id_ for id_ in named if id_ is not None])
        source = locked.get(request.from_account_id)
        if source is None or source.owner_id != actor.user_id:
            raise account_not_found("fromAccountId")
        destination = None if destination_id is None else locked.get(destination_id)
        if destination is None or destination.kind is not AccountKind.CUSTOMER:
            raise account_not_found(destination_field)
        if destination.id == source.id:
            raise DomainError(ErrorCode.SAME_ACCOUNT, field=destination_field)
        # Real-time fraud screening will run here, on the locked accounts, before anything posts.
        legs = Legs(source, destination, ("fromAccountId", destination_field))
        return await _post(uow, actor, TransferKind.TRANSFER, legs, money, memo)

    return await idempotency.run_once(uow, actor, key, digest, ttl_s, write)


async def deposit_funds(
    uow: UnitOfWork, actor: Actor, request: DepositRequest, ttl_s: int
) -> Transfer:
    """Credit a customer account from the settlement account (operators and admins)."""
    actor.require(Permission.DEPOSIT_CREATE)
    key = idempotency.check_key(request.idempotency_key)
    money = _parse_amount(request.amount, request.currency)
    reference = _optional_text(request.reference, "reference")
    digest = idempotency.fingerprint(
        "deposit",
        account=request.account_id,
        amount=money.minor,
        currency=money.currency,
        reference=reference,
    )

    async def write() -> Transfer:
        settlement_id = await uow.accounts.settlement_id(money.currency)
        if settlement_id is None:
            raise DomainError(ErrorCode.UNSUPPORTED_CURRENCY, field="amount.currency")
        locked = await uow.accounts.lock([settlement_id, request.account_id])
        destination = locked.get(request.account_id)
        if destination is None or destination.kind is not AccountKind.CUSTOMER:
            raise account_not_found("accountId")
        legs = Legs(locked[settlement_id], destination, ("accountId", "accountId"))
        return await _post(uow, actor, TransferKind.DEPOSIT, legs, money, reference)

    return await idempotency.run_once(uow, actor, key, digest, ttl_s, write)


@dataclass(frozen=True, slots=True)
class Legs:
    """The two locked accounts of a movement, and the input fields that named them."""

    source: Account
    destination: Account
    fields: tuple[str, str]


async def _post(
    uow: UnitOfWork,
    actor: Actor,
    kind: TransferKind,
    legs: Legs,
    money: Money,
    memo: str | None,
) -> Transfer:
    """Check both locked accounts, then write the transfer, its two entries and both events."""
    source, destination = legs.source, legs.destination
    for account, field in zip((source, destination), legs.fields, strict=True):
        if account.status is not AccountStatus.ACTIVE:
            raise DomainError(
                ErrorCode.ACCOUNT_FROZEN, f"The account is {account.status.value}.", field
            )
    if source.currency != money.currency or destination.currency != money.currency:
        raise DomainError(ErrorCode.CURRENCY_MISMATCH, field="amount.currency")
    if source.kind is AccountKind.CUSTOMER and (
        source.available_balance - money.minor < -source.overdraft_limit
    ):
        raise DomainError(ErrorCode.INSUFFICIENT_FUNDS, field="amount.amount")

    now = datetime.now(UTC)
    transfer = Transfer(
        id=uuid4(),
        kind=kind,
        status=TransferStatus.COMPLETED,
        amount=money.minor,
        currency=money.currency,
        from_account_id=source.id,
        to_account_id=destination.id,
        from_owner_id=source.owner_id,
        to_owner_id=destination.owner_id,
        memo=memo,
        initiated_by=actor.user_id,
        created_at=now,
    )
    description = memo or ("Deposit" if kind is TransferKind.DEPOSIT else "Transfer")
    changes = (
        _leg(transfer, source, -money.minor, description, now),
        _leg(transfer, destination, money.minor, description, now),
    )
    await uow.ledger.post(Posting(transfer, changes))
    return transfer


def _leg(
    transfer: Transfer, account: Account, amount: int, description: str, now: datetime
) -> AccountChange:
    sequence = account.last_sequence + 1
    entry = Entry(
        id=uuid4(),
        transfer_id=transfer.id,
        account_id=account.id,
        sequence=sequence,
        amount=amount,
        balance_after=account.balance + amount,
        currency=account.currency,
        description=description,
        created_at=now,
    )
    return AccountChange(
        account_id=account.id,
        sequence=sequence,
        balance=account.balance + amount,
        available_balance=account.available_balance + amount,
        status=account.status,
        event=EventKind.TRANSACTION_POSTED,
        entry=entry,
    )
