"""Transfers, deposits, freezing and permissions through the domain API on real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from bff.domain import accounts, transfers
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import Account, AccountStatus, Transfer, TransferKind, TransferStatus
from bff.domain.rbac import Role
from bff.runtime import Runtime
from tests.conftest import Person, World


async def send(
    runtime: Runtime,
    person: Person,
    source: Account | UUID,
    amount: str,
    *,
    to: Account | None = None,
    to_id: UUID | None = None,
    to_number: str | None = None,
    currency: str | None = None,
    memo: str | None = None,
) -> Transfer:
    """Create a transfer as `person` with a fresh idempotency key (USD unless told)."""
    source_id = source.id if isinstance(source, Account) else source
    request = transfers.TransferRequest(
        idempotency_key=str(uuid.uuid4()),
        from_account_id=source_id,
        amount=amount,
        currency=currency or (source.currency if isinstance(source, Account) else "USD"),
        to_account_id=to.id if to is not None else to_id,
        to_account_number=to_number,
        memo=memo,
    )
    return await transfers.create_transfer(
        runtime.unit_of_work(), person.actor, request, runtime.settings.idempotency_ttl_s
    )


async def deposit(runtime: Runtime, person: Person, account: Account, amount: str) -> Transfer:
    request = transfers.DepositRequest(str(uuid.uuid4()), account.id, amount, account.currency)
    return await transfers.deposit_funds(
        runtime.unit_of_work(), person.actor, request, runtime.settings.idempotency_ttl_s
    )


async def state(runtime: Runtime, account: Account) -> dict[str, Any]:
    """The account row as stored now."""
    async with runtime.database.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT balance, available_balance, last_sequence, status"
                    " FROM accounts WHERE id = :id"
                ),
                {"id": account.id},
            )
        ).one()
    return dict(row._mapping)


async def balance(runtime: Runtime, account: Account) -> int:
    return int((await state(runtime, account))["balance"])


async def entries_of(runtime: Runtime, transfer_id: UUID) -> list[dict[str, Any]]:
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT account_id, sequence, amount, balance_after, currency"
                " FROM ledger_entries WHERE transfer_id = :id ORDER BY amount"
            ),
            {"id": transfer_id},
        )
    return [dict(row._mapping) for row in rows]


async def entry_count(runtime: Runtime, *accounts_: Account) -> int:
    async with runtime.database.engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    text("SELECT count(*) FROM ledger_entries WHERE account_id = ANY(:ids)"),
                    {"ids": [account.id for account in accounts_]},
                )
            ).scalar_one()
        )


async def freeze(runtime: Runtime, world: World, account: Account) -> None:
    support = await world.person(Role.SUPPORT)
    await accounts.freeze_account(runtime.unit_of_work(), support.actor, account.id)


# --- transfers ---------------------------------------------------------------------------------


async def test_transfer_moves_money_and_writes_two_sequenced_entries(
    runtime: Runtime, world: World
) -> None:
    # given Alice with 100.00 (one deposit, sequence 1) and Bob with an empty account
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    # when
    transfer = await send(runtime, alice, source, "25.50", to=destination, memo="  lunch  money ")
    # then the transfer is recorded as asked
    assert transfer.kind is TransferKind.TRANSFER
    assert transfer.status is TransferStatus.COMPLETED
    assert (transfer.amount, transfer.currency) == (2550, "USD")
    assert (transfer.from_account_id, transfer.to_account_id) == (source.id, destination.id)
    assert (transfer.from_owner_id, transfer.to_owner_id) == (alice.user.id, bob.user.id)
    assert transfer.initiated_by == alice.user.id
    assert transfer.memo == "lunch money"
    # and both balances moved
    assert await state(runtime, source) == {
        "balance": 7450,
        "available_balance": 7450,
        "last_sequence": 2,
        "status": "active",
    }
    assert await state(runtime, destination) == {
        "balance": 2550,
        "available_balance": 2550,
        "last_sequence": 1,
        "status": "active",
    }
    # and exactly two entries, each with the account's next sequence and its balance after
    assert await entries_of(runtime, transfer.id) == [
        {
            "account_id": source.id,
            "sequence": 2,
            "amount": -2550,
            "balance_after": 7450,
            "currency": "USD",
        },
        {
            "account_id": destination.id,
            "sequence": 1,
            "amount": 2550,
            "balance_after": 2550,
            "currency": "USD",
        },
    ]


async def test_transfer_by_account_number_reaches_the_account(
    runtime: Runtime, world: World
) -> None:
    # given
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "EUR", funds="10.00")
    destination = await world.account(bob, "EUR")
    # when
    transfer = await send(runtime, alice, source, "3.00", to_number=destination.account_number)
    # then
    assert transfer.to_account_id == destination.id
    assert await balance(runtime, source) == 700
    assert await balance(runtime, destination) == 300


async def test_whole_balance_can_be_sent_but_not_a_cent_more(
    runtime: Runtime, world: World
) -> None:
    # given Alice with exactly 10.00
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    destination = await world.account(bob, "USD")
    # when she sends all of it
    await send(runtime, alice, source, "10.00", to=destination)
    # then the balance is exactly zero and one more cent is refused
    assert await balance(runtime, source) == 0
    with pytest.raises(DomainError) as caught:
        await send(runtime, alice, source, "0.01", to=destination)
    assert caught.value.code is ErrorCode.INSUFFICIENT_FUNDS


async def test_insufficient_funds_leaves_balances_untouched(runtime: Runtime, world: World) -> None:
    # given Alice with 10.00
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    destination = await world.account(bob, "USD")
    before = (await state(runtime, source), await state(runtime, destination))
    entries_before = await entry_count(runtime, source, destination)
    # when she tries to send 10.01
    with pytest.raises(DomainError) as caught:
        await send(runtime, alice, source, "10.01", to=destination)
    # then
    assert caught.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert caught.value.field == "amount.amount"
    assert (await state(runtime, source), await state(runtime, destination)) == before
    assert await entry_count(runtime, source, destination) == entries_before


async def test_transfer_between_currencies_is_currency_mismatch(
    runtime: Runtime, world: World
) -> None:
    # given a USD account and a EUR account
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "EUR")
    # when Alice sends USD to the EUR account
    with pytest.raises(DomainError) as caught:
        await send(runtime, alice, source, "5.00", to=destination)
    # then
    assert caught.value.code is ErrorCode.CURRENCY_MISMATCH
    assert await balance(runtime, source) == 5000
    assert await balance(runtime, destination) == 0


async def test_amount_in_another_currency_than_the_accounts_is_currency_mismatch(
    runtime: Runtime, world: World
) -> None:
    # given two USD accounts
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "USD")
    # when the amount is given in EUR
    with pytest.raises(DomainError) as caught:
        await send(runtime, alice, source, "5.00", to=destination, currency="EUR")
    # then
    assert caught.value.code is ErrorCode.CURRENCY_MISMATCH
    assert await balance(runtime, source) == 5000
    assert await balance(runtime, destination) == 0


async def test_deposit_in_another_currency_than_the_account_is_currency_mismatch(
    runtime: Runtime, world: World
) -> None:
    # given a USD account and an operator
    alice, operator = await world.person(), await world.person(Role.OPERATOR)
    account = await world.account(alice, "USD")
    request = transfers.DepositRequest(str(uuid.uuid4()), account.id, "5.00", "EUR")
    # when the operator deposits EUR into it
    with pytest.raises(DomainError) as caught:
        await transfers.deposit_funds(
            runtime.unit_of_work(), operator.actor, request, runtime.settings.idempotency_ttl_s
        )
    # then
    assert caught.value.code is ErrorCode.CURRENCY_MISMATCH
    assert await balance(runtime, account) == 0


@pytest.mark.parametrize(
    ("frozen_side", "field"), [("source", "fromAccountId"), ("destination", "toAccountId")]
)
async def test_a_frozen_side_is_refused(
    runtime: Runtime, world: World, frozen_side: str, field: str
) -> None:
    # given Alice's funded account and Bob's, one of them frozen by support
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "USD")
    await freeze(runtime, world, source if frozen_side == "source" else destination)
    # when Alice sends money from hers to his
    with pytest.raises(DomainError) as caught:
        await send(runtime, alice, source, "5.00", to=destination)
    # then the frozen side is named and nothing moved
    assert caught.value.code is ErrorCode.ACCOUNT_FROZEN
    assert caught.value.field == field
    assert await balance(runtime, source) == 5000
    assert await balance(runtime, destination) == 0


async def test_deposit_into_frozen_account_is_refused(runtime: Runtime, world: World) -> None:
    # given a frozen account
    alice, operator = await world.person(), await world.person(Role.OPERATOR)
    account = await world.account(alice, "USD")
    await freeze(runtime, world, account)
    # when an operator deposits into it
    with pytest.raises(DomainError) as caught:
        await deposit(runtime, operator, account, "5.00")
    # then
    assert caught.value.code is ErrorCode.ACCOUNT_FROZEN
    assert await balance(runtime, account) == 0


async def test_unfrozen_account_sends_again(runtime: Runtime, world: World) -> None:
    # given an account frozen then unfrozen by support
    alice, bob, support = (
        await world.person(),
        await world.person(),
        await world.person(Role.SUPPORT),
    )
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "USD")
    await accounts.freeze_account(runtime.unit_of_work(), support.actor, source.id)
    unfrozen = await accounts.unfreeze_account(runtime.unit_of_work(), support.actor, source.id)
    # when
    transfer = await send(runtime, alice, source, "5.00", to=destination)
    # then each status change and the transfer took the next sequence
    assert unfrozen.status is AccountStatus.ACTIVE
    assert await entries_of(runtime, transfer.id) == [
        {
            "account_id": source.id,
            "sequence": 4,
            "amount": -500,
            "balance_after": 4500,
            "currency": "USD",
        },
        {
            "account_id": destination.id,
            "sequence": 1,
            "amount": 500,
            "balance_after": 500,
            "currency": "USD",
        },
    ]


async def test_freezing_a_frozen_account_is_invalid_state(runtime: Runtime, world: World) -> None:
    # given a frozen account
    alice, support = await world.person(), await world.person(Role.SUPPORT)
    account = await world.account(alice, "USD")
    await accounts.freeze_account(runtime.unit_of_work(), support.actor, account.id)
    # when it is frozen again
    with pytest.raises(DomainError) as caught:
        await accounts.freeze_account(runtime.unit_of_work(), support.actor, account.id)
    # then
    assert caught.value.code is ErrorCode.INVALID_STATE
    assert (await state(runtime, account))["last_sequence"] == 1


async def test_transfer_to_the_same_account_is_refused(runtime: Runtime, world: World) -> None:
    # given
    alice = await world.person()
    account = await world.account(alice, "USD", funds="50.00")
    # when
    with pytest.raises(DomainError) as caught:
        await send(runtime, alice, account, "5.00", to=account)
    # then
    assert caught.value.code is ErrorCode.SAME_ACCOUNT
    assert await state(runtime, account) == {
        "balance": 5000,
        "available_balance": 5000,
        "last_sequence": 1,
        "status": "active",
    }


async def test_another_users_account_as_source_looks_exactly_like_a_missing_one(
    runtime: Runtime, world: World
) -> None:
    # given Bob's funded account and Mallory, who has her own account
    bob, mallory = await world.person(), await world.person()
    victim = await world.account(bob, "USD", funds="100.00")
    mallory_account = await world.account(mallory, "USD")
    # when Mallory names Bob's account, then a random id, as the source
    with pytest.raises(DomainError) as foreign:
        await send(runtime, mallory, victim, "10.00", to=mallory_account)
    with pytest.raises(DomainError) as absent:
        await send(runtime, mallory, uuid.uuid4(), "10.00", to=mallory_account)
    # then both failures are indistinguishable and no money moved
    assert type(foreign.value) is type(absent.value)
    assert foreign.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    assert foreign.value.to_dict() == absent.value.to_dict()
    assert str(foreign.value) == str(absent.value)
    assert await balance(runtime, victim) == 10000
    assert await balance(runtime, mallory_account) == 0


async def test_settlement_account_is_not_a_transfer_destination(
    runtime: Runtime, world: World
) -> None:
    # given the USD settlement account's number and a number nobody has
    alice = await world.person()
    source = await world.account(alice, "USD", funds="50.00")
    async with runtime.database.engine.connect() as connection:
        settlement_number = (
            await connection.execute(
                text(
                    "SELECT account_number FROM accounts"
                    " WHERE kind = 'settlement' AND currency = 'USD'"
                )
            )
        ).scalar_one()
    # when Alice sends to each
    with pytest.raises(DomainError) as settlement:
        await send(runtime, alice, source, "5.00", to_number=settlement_number)
    with pytest.raises(DomainError) as nobody:
        await send(runtime, alice, source, "5.00", to_number="999999999999")
    # then both are ACCOUNT_NOT_FOUND, alike
    assert settlement.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    assert settlement.value.to_dict() == nobody.value.to_dict()
    assert await balance(runtime, source) == 5000


# --- permissions -------------------------------------------------------------------------------


async def test_customer_cannot_deposit(runtime: Runtime, world: World) -> None:
    # given a customer with an account
    alice = await world.person()
    account = await world.account(alice, "USD")
    # when she deposits into her own account
    with pytest.raises(DomainError) as caught:
        await deposit(runtime, alice, account, "1000.00")
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert await balance(runtime, account) == 0


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
async def test_operators_and_admins_deposit(runtime: Runtime, world: World, role: Role) -> None:
    # given a customer account and a member of staff allowed to deposit
    alice, staff = await world.person(), await world.person(role)
    account = await world.account(alice, "USD")
    # when
    transfer = await deposit(runtime, staff, account, "12.34")
    # then
    assert transfer.kind is TransferKind.DEPOSIT
    assert transfer.initiated_by == staff.user.id
    assert await balance(runtime, account) == 1234


async def test_operator_only_user_cannot_open_an_account(runtime: Runtime, world: World) -> None:
    # given
    operator = await world.person(Role.OPERATOR)
    # when
    with pytest.raises(DomainError) as caught:
        await accounts.open_account(runtime.unit_of_work(), operator.actor, "Mine", "USD")
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    async with runtime.database.engine.connect() as connection:
        owned = (
            await connection.execute(
                text("SELECT count(*) FROM accounts WHERE owner_id = :id"),
                {"id": operator.user.id},
            )
        ).scalar_one()
    assert owned == 0


async def test_support_only_user_cannot_create_a_transfer(runtime: Runtime, world: World) -> None:
    # given support staff and two customer accounts
    alice, bob, support = (
        await world.person(),
        await world.person(),
        await world.person(Role.SUPPORT),
    )
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "USD")
    # when support tries to move Alice's money
    with pytest.raises(DomainError) as caught:
        await send(runtime, support, source, "5.00", to=destination)
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert await balance(runtime, source) == 5000
    assert await balance(runtime, destination) == 0


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.OPERATOR, Role.AUDITOR])
async def test_freeze_is_denied_to_roles_without_the_permission(
    runtime: Runtime, world: World, role: Role
) -> None:
    # given an active account and someone who may not freeze (the owner, for a customer)
    owner = await world.person()
    account = await world.account(owner, "USD")
    someone = owner if role is Role.CUSTOMER else await world.person(role)
    # when
    with pytest.raises(DomainError) as caught:
        await accounts.freeze_account(runtime.unit_of_work(), someone.actor, account.id)
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert (await state(runtime, account))["status"] == "active"


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.OPERATOR, Role.AUDITOR])
async def test_unfreeze_is_denied_to_roles_without_the_permission(
    runtime: Runtime, world: World, role: Role
) -> None:
    # given a frozen account and someone who may not unfreeze (the owner, for a customer)
    owner = await world.person()
    account = await world.account(owner, "USD")
    await freeze(runtime, world, account)
    someone = owner if role is Role.CUSTOMER else await world.person(role)
    # when
    with pytest.raises(DomainError) as caught:
        await accounts.unfreeze_account(runtime.unit_of_work(), someone.actor, account.id)
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert (await state(runtime, account))["status"] == "frozen"


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ADMIN])
async def test_support_and_admin_freeze_and_unfreeze(
    runtime: Runtime, world: World, role: Role
) -> None:
    # given an active account and staff allowed to freeze
    owner, staff = await world.person(), await world.person(role)
    account = await world.account(owner, "USD")
    # when
    frozen = await accounts.freeze_account(runtime.unit_of_work(), staff.actor, account.id)
    frozen_state = await state(runtime, account)
    active = await accounts.unfreeze_account(runtime.unit_of_work(), staff.actor, account.id)
    # then
    assert frozen.status is AccountStatus.FROZEN
    assert frozen_state["status"] == "frozen"
    assert active.status is AccountStatus.ACTIVE
    assert await state(runtime, account) == {
        "balance": 0,
        "available_balance": 0,
        "last_sequence": 2,
        "status": "active",
    }
