"""Money movement over the double-entry ledger: transfers between accounts and deposits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from uuid import UUID, uuid4

from bff.domain import delegation, idempotency, screening, step_up_holds
from bff.domain.accounts import account_not_found, is_account_number
from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.fraud import Decision, Screener
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
from bff.domain.ports import (
    HoldOutcome,
    HoldResult,
    PostingCommand,
    PostingFields,
    Refusal,
    UnitOfWork,
)
from bff.domain.rbac import Permission
from bff.domain.text import clean_text

MAX_MEMO = 140
AMOUNT_FIELD, CURRENCY_FIELD = "amount.amount", "amount.currency"


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
        field = CURRENCY_FIELD if error.code is ErrorCode.UNSUPPORTED_CURRENCY else AMOUNT_FIELD
        raise error.with_field(field) from None


def _optional_text(text: str | None, field: str) -> str | None:
    return (clean_text(text, field, MAX_MEMO) or None) if text else None


async def create_transfer(
    uow: UnitOfWork,
    actor: Actor,
    request: TransferRequest,
    ttl_s: int,
    screener: Screener | None = None,
) -> Transfer:
    """Move money between two accounts of the same currency, exactly once per idempotency key.


    With a `screener`, the request is screened before anything posts: ALLOW posts, REVIEW holds
    it PENDING for an analyst, STEP_UP holds it and raises `StepUpRequired`, BLOCK refuses it
    (TRANSFER_BLOCKED, nothing reserved). A retry with the same key gets the first answer.
    A connected app needs `transfers:write`, a shared source account and room in its grant's
    daily limit (`bff.domain.delegation`)."""
    actor.require(Permission.TRANSFER_CREATE_OWN)
    delegation.check_delegated_transfer(actor, request.from_account_id)
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
    number = request.to_account_number
    # A number of the wrong shape names no account.
    destination_number = number if number is not None and is_account_number(number) else None
    verdict = None
    if screener is not None:
        verdict = await screening.screen(
            uow,
            screener,
            actor,
            key=key,
            amount=money.minor,
            source_id=request.from_account_id,
            destination_id=request.to_account_id,
            destination_number=destination_number,
        )
    if verdict is not None:
        verdict = await step_up_holds.answerable(uow, actor, verdict)
    decision = verdict.screening.decision if verdict is not None else None
    hold_s = None
    if screener is not None and decision in screening.HELD:
        hold_s = screener.step_up_s if decision is Decision.STEP_UP else screener.hold_s
    post = partial(
        _post,
        uow,
        actor,
        TransferKind.TRANSFER,
        key=key,
        fingerprint=digest,
        ttl_s=ttl_s,
        money=money,
        memo=memo,
        fields=("fromAccountId", "toAccountNumber" if number is not None else "toAccountId"),
        source_id=request.from_account_id,
        destination_id=request.to_account_id,
        destination_number=destination_number,
        hold_s=hold_s,
        verdict=verdict,
    )
    try:
        if actor.delegation is not None:
            over_limit = Refusal(ErrorCode.TRANSFER_LIMIT_EXCEEDED, AMOUNT_FIELD)
            return await delegation.within_daily_limit(
                uow, actor, money, post, partial(post, refusal=over_limit)
            )
        return await post()
    except screening.StepUpRequired as held:
        # Held for the customer: the challenge they confirm it with (opened once per transfer).
        challenge_id = await step_up_holds.challenge_of(uow, actor, held.transfer)
        raise screening.StepUpRequired(held.transfer, challenge_id) from None


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
    # The settlement account is the source: named by the currency, its failures by accountId.
    return await _post(
        uow,
        actor,
        TransferKind.DEPOSIT,
        key=key,
        fingerprint=digest,
        ttl_s=ttl_s,
        money=money,
        memo=reference,
        fields=("accountId", "accountId"),
        destination_id=request.account_id,
    )


_DESCRIPTIONS = {TransferKind.TRANSFER: "Transfer", TransferKind.DEPOSIT: "Deposit"}
# How many expired holds one pass of the expiry job voids.
EXPIRY_BATCH = 100


async def _post(
    uow: UnitOfWork,
    actor: Actor,
    kind: TransferKind,
    *,
    key: str,
    fingerprint: str,
    ttl_s: int,
    money: Money,
    memo: str | None,
    fields: tuple[str, str],
    source_id: UUID | None = None,
    destination_id: UUID | None = None,
    destination_number: str | None = None,
    hold_s: int | None = None,
    verdict: screening.Verdict | None = None,
    transfer_id: UUID | None = None,
    refusal: Refusal | None = None,
) -> Transfer:
    """Post the movement once under the actor's key (or, with `hold_s`, hold it PENDING for that
    long, or refuse it with `refusal` or when `verdict` blocks it); `fields` are the input
    fields that name its source and its destination."""
    command = PostingCommand(
        actor_id=actor.user_id,
        key=key,
        fingerprint=fingerprint,
        ttl_s=ttl_s,
        kind=kind,
        transfer_id=transfer_id or uuid4(),
        money=money,
        memo=memo,
        description=memo or _DESCRIPTIONS[kind],
        fields=PostingFields(*fields, AMOUNT_FIELD, CURRENCY_FIELD),
        source_id=source_id,
        destination_id=destination_id,
        destination_number=destination_number,
        hold_s=hold_s,
        screening=verdict.screening if verdict is not None else None,
        features=verdict.features if verdict is not None else (),
        refusal=(
            Refusal(ErrorCode.TRANSFER_BLOCKED, None)
            if verdict is not None and verdict.screening.decision is Decision.BLOCK
            else refusal
        ),
    )
    result = await idempotency.run_once(uow, command)
    if result.refusal is not None:
        raise refused(result.refusal)
    transfer = result.transfer
    assert transfer is not None
    if (
        result.screening is not None
        and result.screening.decision is Decision.STEP_UP
        and transfer.status is TransferStatus.PENDING
    ):
        raise screening.StepUpRequired(transfer)
    return transfer


# --- held transfers ------------------------------------------------------------------------
# A held transfer's fate is decided elsewhere (an analyst, a step-up, the clock); these resolve
# it in the ledger. Callers check who may decide; the ledger makes sure it happens once.


async def settle_held(uow: UnitOfWork, transfer_id: UUID) -> HoldResult:
    """Post a PENDING transfer for exactly its reserved amount (or say why not)."""
    return await _resolve(uow, transfer_id, TransferStatus.COMPLETED, due_only=False)


async def void_held(uow: UnitOfWork, transfer_id: UUID) -> HoldResult:
    """Void a PENDING transfer: its reservation is released."""
    return await _resolve(uow, transfer_id, TransferStatus.CANCELLED, due_only=False)


async def expire_holds(uow: UnitOfWork) -> int:
    """Void the holds past their expiry, one transaction each (a hold resolved meanwhile, by an
    analyst or another process running this job, is left as it is); how many were voided."""
    async with uow:
        due = await uow.ledger.due_holds(EXPIRY_BATCH)
    voided = 0
    for transfer_id in due:
        result = await _resolve(uow, transfer_id, TransferStatus.CANCELLED, due_only=True)
        voided += result.outcome is HoldOutcome.RESOLVED
    return voided


async def _resolve(
    uow: UnitOfWork, transfer_id: UUID, outcome: TransferStatus, *, due_only: bool
) -> HoldResult:
    description = _DESCRIPTIONS[TransferKind.TRANSFER]
    return await idempotency.retried(
        uow, lambda: uow.ledger.resolve(transfer_id, outcome, description, due_only=due_only)
    )


# --- the posting rules ----------------------------------------------------------------------
# The storage posts a command atomically (`LedgerRepository.post_once`); these functions say
# what it must check and write. PostgreSQL's `post_transfer()` (migration 0010) implements the
# same rules in the same order, the in-memory fake calls these, and tests/test_port_contract.py
# runs every rule case against both.


def refusal(
    command: PostingCommand, source: Account | None, destination: Account | None
) -> Refusal | None:
    """The first posting rule the locked accounts break, or None when the command may post.

    In order: the source is the actor's own account (for a deposit: the currency has a
    settlement account), then the destination is a customer account, so that nothing about
    an account the actor may not see is revealed; then the two differ, both are active, both
    are in the amount's currency, and a customer source covers the amount within its
    overdraft limit.
    """
    fields, money = command.fields, command.money
    if source is None and command.kind is TransferKind.DEPOSIT:
        return Refusal(ErrorCode.UNSUPPORTED_CURRENCY, fields.currency)
    if source is None or (
        command.kind is TransferKind.TRANSFER and source.owner_id != command.actor_id
    ):
        return Refusal(ErrorCode.ACCOUNT_NOT_FOUND, fields.source)
    if destination is None or destination.kind is not AccountKind.CUSTOMER:
        return Refusal(ErrorCode.ACCOUNT_NOT_FOUND, fields.destination)
    if source.id == destination.id:
        return Refusal(ErrorCode.SAME_ACCOUNT, fields.destination)
    for account, field in ((source, fields.source), (destination, fields.destination)):
        if account.status is not AccountStatus.ACTIVE:
            return Refusal(ErrorCode.ACCOUNT_FROZEN, field, account.status)
    if source.currency != money.currency or destination.currency != money.currency:
        return Refusal(ErrorCode.CURRENCY_MISMATCH, fields.currency)
    if source.kind is AccountKind.CUSTOMER and (
        source.available_balance - money.minor < -source.overdraft_limit
    ):
        return Refusal(ErrorCode.INSUFFICIENT_FUNDS, fields.amount)
    return None


def refused(refusal: Refusal) -> DomainError:
    """The error a refusal answers, the first time and on every replay."""
    if refusal.code is ErrorCode.ACCOUNT_NOT_FOUND:
        return account_not_found(refusal.field)
    message = refusal.message
    if message is None and refusal.status is not None:
        message = f"The account is {refusal.status.value}."
    return DomainError(refusal.code, message, refusal.field)


def posting(command: PostingCommand, source: Account, destination: Account) -> Posting:
    """What a command that passed the rules writes: the transfer, and for each side its entry,
    its new balances and sequence, and its event."""
    now = datetime.now(UTC)
    amount = command.money.minor
    transfer = Transfer(
        id=command.transfer_id,
        kind=command.kind,
        status=TransferStatus.COMPLETED,
        amount=amount,
        currency=command.money.currency,
        from_account_id=source.id,
        to_account_id=destination.id,
        from_owner_id=source.owner_id,
        to_owner_id=destination.owner_id,
        memo=command.memo,
        initiated_by=command.actor_id,
        created_at=now,
    )
    changes = (
        _leg(transfer, source, -amount, command.description, now),
        _leg(transfer, destination, amount, command.description, now),
    )
    return Posting(transfer, changes)


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
