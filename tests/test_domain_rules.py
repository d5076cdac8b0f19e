"""The domain's rules through its own API (bff/domain), on the in-memory unit of work: transfers
and deposits, frozen accounts, permissions per role, idempotent replays, role changes and
session refresh. No database: tests/test_port_contract.py holds the fake to what PostgreSQL
does, and the database keeps its own tests for constraints and races."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from bff.domain import accounts, roles, sessions, transfers
from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import (
    Account,
    AccountKind,
    AccountStatus,
    Entry,
    EventKind,
    RevocationReason,
    SecurityEventKind,
    Transfer,
    TransferKind,
    TransferStatus,
    User,
)
from bff.domain.rbac import Role
from tests.fakes import FakeUnitOfWork, SecurityEvent

TTL_S = 48 * 3600
POLICY = sessions.SessionPolicy(idle_timeout=timedelta(days=30), max_lifetime=timedelta(days=90))


@dataclass
class Bank:
    """People, accounts and money made through the domain API on an in-memory unit of work."""

    uow: FakeUnitOfWork = field(default_factory=FakeUnitOfWork)
    _operator: Actor | None = None

    async def person(self, *held: Role) -> Actor:
        """A user with these roles (a customer by default), acting through no session."""
        async with self.uow:
            user = await self.uow.users.add(
                f"{uuid.uuid4().hex[:12]}@example.com",
                "no password: these tests never log in",
                "Test Person",
                frozenset(held or (Role.CUSTOMER,)),
            )
            await self.uow.commit()
        return Actor(user.id, user.roles)

    async def account(
        self, owner: Actor, currency: str = "USD", funds: str | None = None
    ) -> Account:
        account = await accounts.open_account(self.uow, owner, "Test account", currency)
        if funds is not None:
            await self.deposit(account, funds)
        return account

    async def deposit(
        self, account: Account, amount: str, by: Actor | None = None, currency: str | None = None
    ) -> Transfer:
        if by is None:
            self._operator = by = self._operator or await self.person(Role.OPERATOR)
        request = transfers.DepositRequest(
            str(uuid.uuid4()), account.id, amount, currency or account.currency
        )
        return await transfers.deposit_funds(self.uow, by, request, TTL_S)

    async def send(self, sender: Actor, request: transfers.TransferRequest) -> Transfer:
        return await transfers.create_transfer(self.uow, sender, request, TTL_S)

    def now(self, account: Account) -> Account:
        """The account as committed now."""
        return self.uow.committed.accounts[account.id]

    def balance(self, account: Account) -> int:
        return self.now(account).balance

    def entries_of(self, transfer_id: UUID) -> list[Entry]:
        """A transfer's ledger entries, the debit first."""
        entries = self.uow.committed.entries.values()
        return sorted((e for e in entries if e.transfer_id == transfer_id), key=lambda e: e.amount)

    def transfers_from(self, account: Account) -> list[UUID]:
        return [
            t.id for t in self.uow.committed.transfers.values() if t.from_account_id == account.id
        ]


def pay(
    source: Account,
    amount: str,
    *,
    to: Account | None = None,
    to_number: str | None = None,
    currency: str | None = None,
    memo: str | None = None,
    key: str | None = None,
) -> transfers.TransferRequest:
    """A transfer request from `source` (in its currency unless told), with a fresh key."""
    return transfers.TransferRequest(
        idempotency_key=key or str(uuid.uuid4()),
        from_account_id=source.id,
        amount=amount,
        currency=currency or source.currency,
        to_account_id=to.id if to is not None else None,
        to_account_number=to_number,
        memo=memo,
    )


@pytest.fixture
def bank() -> Bank:
    return Bank()


@dataclass
class Funded:
    """Alice's account with 50.00 and Bob's empty one, both USD."""

    alice: Actor
    bob: Actor
    source: Account
    destination: Account


@pytest.fixture
async def funded(bank: Bank) -> Funded:
    alice, bob = await bank.person(), await bank.person()
    source = await bank.account(alice, funds="50.00")
    return Funded(alice, bob, source, await bank.account(bob))


# --- transfers ------------------------------------------------------------------------------


async def test_a_transfer_moves_money_and_writes_two_sequenced_entries(
    bank: Bank, funded: Funded
) -> None:
    # given Alice with 50.00 (one deposit, sequence 1) and Bob with an empty account
    f = funded
    # when
    transfer = await bank.send(
        f.alice, pay(f.source, "25.50", to=f.destination, memo=" lunch  money ")
    )
    # then the transfer is recorded as asked
    assert transfer.kind is TransferKind.TRANSFER
    assert transfer.status is TransferStatus.COMPLETED
    assert (transfer.amount, transfer.currency) == (2550, "USD")
    assert (transfer.from_account_id, transfer.to_account_id) == (f.source.id, f.destination.id)
    assert (transfer.from_owner_id, transfer.to_owner_id) == (f.alice.user_id, f.bob.user_id)
    assert transfer.initiated_by == f.alice.user_id
    assert transfer.memo == "lunch money"
    # and both balances moved, each account taking its next sequence
    source, destination = bank.now(f.source), bank.now(f.destination)
    assert (source.balance, source.available_balance, source.last_sequence) == (2450, 2450, 2)
    assert (destination.balance, destination.available_balance) == (2550, 2550)
    assert destination.last_sequence == 1
    # and exactly two entries, each with the account's next sequence and its balance after
    legs = [
        (e.account_id, e.sequence, e.amount, e.balance_after, e.currency, e.description)
        for e in bank.entries_of(transfer.id)
    ]
    assert legs == [
        (f.source.id, 2, -2550, 2450, "USD", "lunch money"),
        (f.destination.id, 1, 2550, 2550, "USD", "lunch money"),
    ]


async def test_a_transfer_by_account_number_reaches_the_account(bank: Bank) -> None:
    # given
    alice, bob = await bank.person(), await bank.person()
    source = await bank.account(alice, "EUR", funds="10.00")
    destination = await bank.account(bob, "EUR")
    # when
    transfer = await bank.send(alice, pay(source, "3.00", to_number=destination.account_number))
    # then
    assert transfer.to_account_id == destination.id
    assert (bank.balance(source), bank.balance(destination)) == (700, 300)


async def test_the_whole_balance_can_be_sent_but_not_a_cent_more(
    bank: Bank, funded: Funded
) -> None:
    # given Alice with exactly 50.00
    f = funded
    # when she sends all of it
    await bank.send(f.alice, pay(f.source, "50.00", to=f.destination))
    # then the balance is exactly zero and one more cent is refused
    assert bank.balance(f.source) == 0
    with pytest.raises(DomainError) as caught:
        await bank.send(f.alice, pay(f.source, "0.01", to=f.destination))
    assert caught.value.code is ErrorCode.INSUFFICIENT_FUNDS


async def test_insufficient_funds_leaves_balances_and_the_ledger_untouched(
    bank: Bank, funded: Funded
) -> None:
    # given Alice with 50.00
    f = funded
    before = bank.uow.committed.copy()
    # when she tries to send 50.01
    with pytest.raises(DomainError) as caught:
        await bank.send(f.alice, pay(f.source, "50.01", to=f.destination))
    # then
    assert (caught.value.code, caught.value.field) == (
        ErrorCode.INSUFFICIENT_FUNDS,
        "amount.amount",
    )
    after = bank.uow.committed
    assert (after.accounts, after.entries, after.transfers) == (
        before.accounts,
        before.entries,
        before.transfers,
    )


async def test_an_overdraft_limit_lets_the_balance_go_that_far_below_zero_and_no_further(
    bank: Bank, funded: Funded
) -> None:
    # given Alice's 50.00 account with an overdraft limit of 20.00 (set by the bank)
    f = funded
    bank.uow.committed.accounts[f.source.id] = replace(bank.now(f.source), overdraft_limit=2000)
    # when she sends 70.00, then one cent more
    await bank.send(f.alice, pay(f.source, "70.00", to=f.destination))
    with pytest.raises(DomainError) as caught:
        await bank.send(f.alice, pay(f.source, "0.01", to=f.destination))
    # then the account stands at exactly -20.00
    assert bank.balance(f.source) == -2000
    assert caught.value.code is ErrorCode.INSUFFICIENT_FUNDS


@pytest.mark.parametrize(
    ("destination_currency", "amount_currency"),
    [pytest.param("EUR", "USD", id="accounts-differ"), pytest.param("USD", "EUR", id="amount")],
)
async def test_a_transfer_across_currencies_is_currency_mismatch(
    bank: Bank, destination_currency: str, amount_currency: str
) -> None:
    # given a funded USD account, and an account in USD or EUR
    alice, bob = await bank.person(), await bank.person()
    source = await bank.account(alice, "USD", funds="50.00")
    destination = await bank.account(bob, destination_currency)
    # when Alice sends an amount whose currency is not both accounts' currency
    with pytest.raises(DomainError) as caught:
        await bank.send(alice, pay(source, "5.00", to=destination, currency=amount_currency))
    # then
    assert (caught.value.code, caught.value.field) == (
        ErrorCode.CURRENCY_MISMATCH,
        "amount.currency",
    )
    assert (bank.balance(source), bank.balance(destination)) == (5000, 0)


async def test_a_deposit_in_another_currency_than_the_account_is_currency_mismatch(
    bank: Bank,
) -> None:
    # given a USD account
    account = await bank.account(await bank.person(), "USD")
    # when an operator deposits EUR into it
    with pytest.raises(DomainError) as caught:
        await bank.deposit(account, "5.00", currency="EUR")
    # then
    assert caught.value.code is ErrorCode.CURRENCY_MISMATCH
    assert bank.balance(account) == 0


async def test_a_transfer_to_the_same_account_is_refused(bank: Bank, funded: Funded) -> None:
    # given
    f = funded
    before = bank.now(f.source)
    # when
    with pytest.raises(DomainError) as caught:
        await bank.send(f.alice, pay(f.source, "5.00", to=f.source))
    # then
    assert (caught.value.code, caught.value.field) == (ErrorCode.SAME_ACCOUNT, "toAccountId")
    assert bank.now(f.source) == before


@pytest.mark.parametrize("destinations", ["both", "neither"])
async def test_a_transfer_needs_exactly_one_destination(
    bank: Bank, funded: Funded, destinations: str
) -> None:
    # given
    f = funded
    both = destinations == "both"
    request = pay(f.source, "1.00", to=f.destination if both else None)
    if both:
        request = replace(request, to_account_number=f.destination.account_number)
    # when
    with pytest.raises(DomainError) as caught:
        await bank.send(f.alice, request)
    # then
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_INPUT, "toAccountId")
    assert bank.balance(f.source) == 5000


async def test_another_users_account_as_source_looks_exactly_like_a_missing_one(
    bank: Bank, funded: Funded
) -> None:
    # given Alice's funded account, and Mallory with an account of her own
    f = funded
    mallory = await bank.person()
    mallorys = await bank.account(mallory)
    missing = replace(f.source, id=uuid.uuid4())
    # when Mallory names Alice's account, then an account that does not exist, as the source
    with pytest.raises(DomainError) as foreign:
        await bank.send(mallory, pay(f.source, "10.00", to=mallorys))
    with pytest.raises(DomainError) as absent:
        await bank.send(mallory, pay(missing, "10.00", to=mallorys))
    # then both failures are indistinguishable and no money moved
    assert type(foreign.value) is type(absent.value)
    assert foreign.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    assert foreign.value.to_dict() == absent.value.to_dict()
    assert str(foreign.value) == str(absent.value)
    assert (bank.balance(f.source), bank.balance(mallorys)) == (5000, 0)


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param("its-own-number", id="the-source-account-by-number"),
        pytest.param("its-own-id", id="the-source-account-by-id"),
        pytest.param("mallorys-number", id="mallorys-account-by-number"),
    ],
)
async def test_a_foreign_source_says_nothing_about_how_it_relates_to_the_destination(
    bank: Bank, funded: Funded, destination: str
) -> None:
    # given Alice's account (Mallory knows its id and its number), and Mallory's own account
    f = funded
    mallory = await bank.person()
    mallorys = await bank.account(mallory)
    request = {
        "its-own-number": pay(f.source, "10.00", to_number=f.source.account_number),
        "its-own-id": pay(f.source, "10.00", to=f.source),
        "mallorys-number": pay(f.source, "10.00", to_number=mallorys.account_number),
    }[destination]
    missing = replace(f.source, id=uuid.uuid4())
    # when Mallory sends from Alice's account to that destination, and from a missing account
    with pytest.raises(DomainError) as foreign:
        await bank.send(mallory, request)
    with pytest.raises(DomainError) as absent:
        await bank.send(mallory, pay(missing, "10.00", to_number=mallorys.account_number))
    # then the source is not found, exactly as a missing one, whether or not the id and the
    # number are one account (SAME_ACCOUNT would tell her they are)
    assert (foreign.value.code, foreign.value.field) == (
        ErrorCode.ACCOUNT_NOT_FOUND,
        "fromAccountId",
    )
    assert foreign.value.to_dict() == absent.value.to_dict()
    assert (bank.balance(f.source), bank.balance(mallorys)) == (5000, 0)


async def test_the_settlement_account_is_not_a_transfer_destination(
    bank: Bank, funded: Funded
) -> None:
    # given the USD settlement account's number and a number nobody has
    f = funded
    [settlement] = [
        a
        for a in bank.uow.committed.accounts.values()
        if a.kind is AccountKind.SETTLEMENT and a.currency == "USD"
    ]
    # when Alice sends to each
    with pytest.raises(DomainError) as to_settlement:
        await bank.send(f.alice, pay(f.source, "5.00", to_number=settlement.account_number))
    with pytest.raises(DomainError) as to_nobody:
        await bank.send(f.alice, pay(f.source, "5.00", to_number="999999999999"))
    # then both are ACCOUNT_NOT_FOUND, alike
    assert to_settlement.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    assert to_settlement.value.to_dict() == to_nobody.value.to_dict()
    assert bank.balance(f.source) == 5000


# --- frozen accounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frozen_side", "field"), [("source", "fromAccountId"), ("destination", "toAccountId")]
)
async def test_a_frozen_side_is_refused(
    bank: Bank, funded: Funded, frozen_side: str, field: str
) -> None:
    # given one of the two accounts frozen by support
    f = funded
    support = await bank.person(Role.SUPPORT)
    frozen = f.source if frozen_side == "source" else f.destination
    await accounts.freeze_account(bank.uow, support, frozen.id)
    # when Alice sends money from hers to his
    with pytest.raises(DomainError) as caught:
        await bank.send(f.alice, pay(f.source, "5.00", to=f.destination))
    # then the frozen side is named and nothing moved
    assert (caught.value.code, caught.value.field) == (ErrorCode.ACCOUNT_FROZEN, field)
    assert (bank.balance(f.source), bank.balance(f.destination)) == (5000, 0)


async def test_a_deposit_into_a_frozen_account_is_refused(bank: Bank) -> None:
    # given a frozen account
    account = await bank.account(await bank.person())
    await accounts.freeze_account(bank.uow, await bank.person(Role.SUPPORT), account.id)
    # when an operator deposits into it
    with pytest.raises(DomainError) as caught:
        await bank.deposit(account, "5.00")
    # then
    assert caught.value.code is ErrorCode.ACCOUNT_FROZEN
    assert bank.balance(account) == 0


async def test_an_unfrozen_account_sends_again_and_each_change_takes_the_next_sequence(
    bank: Bank, funded: Funded
) -> None:
    # given Alice's account (a deposit at sequence 1) frozen then unfrozen by support
    f = funded
    support = await bank.person(Role.SUPPORT)
    frozen = await accounts.freeze_account(bank.uow, support, f.source.id)
    unfrozen = await accounts.unfreeze_account(bank.uow, support, f.source.id)
    # when
    transfer = await bank.send(f.alice, pay(f.source, "5.00", to=f.destination))
    # then the status changes were events 2 and 3, and the transfer took sequence 4
    assert (frozen.status, unfrozen.status) == (AccountStatus.FROZEN, AccountStatus.ACTIVE)
    events = bank.uow.committed.events
    assert [events[(f.source.id, n)].kind for n in (1, 2, 3, 4)] == [
        EventKind.TRANSACTION_POSTED,
        EventKind.STATUS_CHANGED,
        EventKind.STATUS_CHANGED,
        EventKind.TRANSACTION_POSTED,
    ]
    assert [(e.account_id, e.sequence, e.amount) for e in bank.entries_of(transfer.id)] == [
        (f.source.id, 4, -500),
        (f.destination.id, 1, 500),
    ]


async def test_freezing_a_frozen_account_or_unfreezing_an_active_one_is_invalid_state(
    bank: Bank, funded: Funded
) -> None:
    # given Bob's account frozen by support, and Alice's active
    f = funded
    support = await bank.person(Role.SUPPORT)
    await accounts.freeze_account(bank.uow, support, f.destination.id)
    # when
    with pytest.raises(DomainError) as refrozen:
        await accounts.freeze_account(bank.uow, support, f.destination.id)
    with pytest.raises(DomainError) as unfrozen:
        await accounts.unfreeze_account(bank.uow, support, f.source.id)
    # then neither took a sequence
    for caught in (refrozen, unfrozen):
        assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_STATE, "accountId")
    assert (bank.now(f.destination).last_sequence, bank.now(f.source).last_sequence) == (1, 1)


async def test_freezing_the_settlement_account_is_account_not_found(bank: Bank) -> None:
    # given
    support = await bank.person(Role.SUPPORT)
    [usd] = [
        a
        for a in bank.uow.committed.accounts.values()
        if a.kind is AccountKind.SETTLEMENT and a.currency == "USD"
    ]
    # when
    with pytest.raises(DomainError) as caught:
        await accounts.freeze_account(bank.uow, support, usd.id)
    # then
    assert (caught.value.code, caught.value.field) == (ErrorCode.ACCOUNT_NOT_FOUND, "accountId")


# --- permissions ----------------------------------------------------------------------------


async def test_a_customer_cannot_deposit_even_into_their_own_account(bank: Bank) -> None:
    # given a customer with an account
    alice = await bank.person()
    account = await bank.account(alice)
    # when she deposits into it
    with pytest.raises(DomainError) as caught:
        await bank.deposit(account, "1000.00", by=alice)
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert bank.balance(account) == 0


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
async def test_operators_and_admins_deposit(bank: Bank, role: Role) -> None:
    # given a customer account and a member of staff allowed to deposit
    account = await bank.account(await bank.person())
    staff = await bank.person(role)
    # when
    deposit = await bank.deposit(account, "12.34", by=staff)
    # then
    assert deposit.kind is TransferKind.DEPOSIT
    assert deposit.initiated_by == staff.user_id
    assert bank.balance(account) == 1234


async def test_an_operator_only_user_cannot_open_an_account(bank: Bank) -> None:
    # given
    operator = await bank.person(Role.OPERATOR)
    # when
    with pytest.raises(DomainError) as caught:
        await accounts.open_account(bank.uow, operator, "Mine", "USD")
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    owned = [a for a in bank.uow.committed.accounts.values() if a.owner_id == operator.user_id]
    assert owned == []


async def test_a_support_only_user_cannot_move_a_customers_money(
    bank: Bank, funded: Funded
) -> None:
    # given support staff and Alice's funded account
    f = funded
    support = await bank.person(Role.SUPPORT)
    # when support tries to move Alice's money
    with pytest.raises(DomainError) as caught:
        await bank.send(support, pay(f.source, "5.00", to=f.destination))
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert (bank.balance(f.source), bank.balance(f.destination)) == (5000, 0)


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.OPERATOR, Role.AUDITOR])
@pytest.mark.parametrize("change", ["freeze", "unfreeze"])
async def test_freezing_and_unfreezing_are_denied_to_roles_without_the_permission(
    bank: Bank, role: Role, change: str
) -> None:
    # given an account (frozen by support, to unfreeze it) and someone who may not freeze
    # (the owner, for a customer)
    owner = await bank.person()
    account = await bank.account(owner)
    if change == "unfreeze":
        await accounts.freeze_account(bank.uow, await bank.person(Role.SUPPORT), account.id)
    before = bank.now(account)
    someone = owner if role is Role.CUSTOMER else await bank.person(role)
    operation = accounts.freeze_account if change == "freeze" else accounts.unfreeze_account
    # when
    with pytest.raises(DomainError) as caught:
        await operation(bank.uow, someone, account.id)
    # then
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert bank.now(account) == before


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ADMIN])
async def test_support_and_admins_freeze_and_unfreeze(bank: Bank, role: Role) -> None:
    # given an active account and staff allowed to freeze
    account = await bank.account(await bank.person())
    staff = await bank.person(role)
    # when
    frozen = await accounts.freeze_account(bank.uow, staff, account.id)
    frozen_state = bank.now(account).status
    active = await accounts.unfreeze_account(bank.uow, staff, account.id)
    # then
    assert (frozen.status, frozen_state) == (AccountStatus.FROZEN, AccountStatus.FROZEN)
    assert active.status is AccountStatus.ACTIVE
    now = bank.now(account)
    assert (now.balance, now.available_balance, now.last_sequence, now.status) == (
        0,
        0,
        2,
        AccountStatus.ACTIVE,
    )


# --- idempotency ----------------------------------------------------------------------------


async def test_a_replay_returns_the_same_transfer_and_moves_money_once(
    bank: Bank, funded: Funded
) -> None:
    # given a transfer already made with key K
    f = funded
    request = pay(f.source, "30.00", to=f.destination, memo="rent")
    first = await bank.send(f.alice, request)
    # when the client retries the identical request twice
    second = await bank.send(f.alice, request)
    third = await bank.send(f.alice, request)
    # then it gets the stored transfer and the money moved once
    assert second == third == first
    assert bank.transfers_from(f.source) == [first.id]
    assert (bank.balance(f.source), bank.balance(f.destination)) == (2000, 3000)


async def test_a_stored_failure_is_replayed_even_after_the_account_is_funded(
    bank: Bank, funded: Funded
) -> None:
    # given a transfer with key K that failed for lack of funds, and the account funded since
    f = funded
    request = pay(f.source, "60.00", to=f.destination)
    with pytest.raises(DomainError) as original:
        await bank.send(f.alice, request)
    assert original.value.code is ErrorCode.INSUFFICIENT_FUNDS
    await bank.deposit(f.source, "100.00")
    # when the same request is retried with key K
    with pytest.raises(DomainError) as replayed:
        await bank.send(f.alice, request)
    # then the stored failure comes back, and nothing moved
    assert replayed.value.to_dict() == original.value.to_dict()
    assert bank.transfers_from(f.source) == []
    assert bank.balance(f.source) == 15000
    # while a new key goes through (the funds really are there now)
    await bank.send(f.alice, replace(request, idempotency_key=str(uuid.uuid4())))
    assert bank.balance(f.source) == 9000


@pytest.mark.parametrize("change", ["amount", "destination", "memo"])
async def test_the_same_key_with_a_different_request_is_key_reused(
    bank: Bank, funded: Funded, change: str
) -> None:
    # given a transfer made with key K, and Carol's account
    f = funded
    other = await bank.account(await bank.person())
    first = await bank.send(f.alice, pay(f.source, "10.00", to=f.destination, key="K"))
    changed = {
        "amount": pay(f.source, "10.01", to=f.destination, key="K"),
        "destination": pay(f.source, "10.00", to=other, key="K"),
        "memo": pay(f.source, "10.00", to=f.destination, key="K", memo="changed"),
    }[change]
    # when K is sent with a changed request
    with pytest.raises(DomainError) as caught:
        await bank.send(f.alice, changed)
    # then
    assert (caught.value.code, caught.value.field) == (
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "idempotencyKey",
    )
    assert bank.transfers_from(f.source) == [first.id]
    assert (bank.balance(f.source), bank.balance(other)) == (4000, 0)


async def test_idempotency_keys_are_scoped_to_the_actor(bank: Bank) -> None:
    # given two customers who happen to pick the same key
    alice, bob = await bank.person(), await bank.person()
    alices = await bank.account(alice, funds="50.00")
    bobs = await bank.account(bob, funds="50.00")
    # when each sends money with it
    from_alice = await bank.send(alice, pay(alices, "10.00", to=bobs, key="K"))
    from_bob = await bank.send(bob, pay(bobs, "3.00", to=alices, key="K"))
    # then both transfers happened, independently
    assert from_alice.id != from_bob.id
    assert from_bob.from_account_id == bobs.id
    assert (bank.balance(alices), bank.balance(bobs)) == (5000 - 1000 + 300, 5000 + 1000 - 300)


async def test_invalid_input_does_not_use_up_the_key(bank: Bank, funded: Funded) -> None:
    # given a request refused for a malformed amount under key K
    f = funded
    with pytest.raises(DomainError) as invalid:
        await bank.send(f.alice, pay(f.source, "1e3", to=f.destination, key="K"))
    # when the client corrects the amount and retries with K
    transfer = await bank.send(f.alice, pay(f.source, "10.00", to=f.destination, key="K"))
    # then the corrected request is carried out
    assert (invalid.value.code, invalid.value.field) == (ErrorCode.INVALID_AMOUNT, "amount.amount")
    assert transfer.amount == 1000
    assert bank.balance(f.source) == 4000


async def test_deposits_are_idempotent(bank: Bank) -> None:
    # given an operator's deposit made with key K
    account = await bank.account(await bank.person())
    operator = await bank.person(Role.OPERATOR)
    request = transfers.DepositRequest("K", account.id, "40.00", "USD", reference="wire 123")
    first = await transfers.deposit_funds(bank.uow, operator, request, TTL_S)
    # when it is replayed, and then K is reused for a different amount
    replayed = await transfers.deposit_funds(bank.uow, operator, request, TTL_S)
    with pytest.raises(DomainError) as caught:
        await transfers.deposit_funds(bank.uow, operator, replace(request, amount="41.00"), TTL_S)
    # then the replay is the same deposit, the change is refused, and the money came in once
    assert replayed == first
    assert caught.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert bank.balance(account) == 4000


# --- roles ----------------------------------------------------------------------------------


def role_events(bank: Bank, user_id: UUID) -> list[SecurityEvent]:
    return [
        event
        for event in bank.uow.committed.security_events
        if event.user_id == user_id and event.kind.value.startswith("role_")
    ]


RoleChange = Callable[[FakeUnitOfWork, Actor, UUID, Role], Awaitable[User]]
ASSIGN_OR_REVOKE = pytest.mark.parametrize(
    "change",
    [pytest.param(roles.assign_role, id="assign"), pytest.param(roles.revoke_role, id="revoke")],
)


def roles_of(bank: Bank, actor: Actor) -> frozenset[Role]:
    return bank.uow.committed.users[actor.user_id].user.roles


@ASSIGN_OR_REVOKE
async def test_an_admin_cannot_change_their_own_roles(bank: Bank, change: RoleChange) -> None:
    # given an admin who is also support
    admin = await bank.person(Role.ADMIN, Role.SUPPORT)
    # when they give themselves the auditor role, or take their admin role away
    role = Role.AUDITOR if change is roles.assign_role else Role.ADMIN
    with pytest.raises(DomainError) as caught:
        await change(bank.uow, admin, admin.user_id, role)
    # then it is refused and their roles stay as they were
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert roles_of(bank, admin) == {Role.ADMIN, Role.SUPPORT}
    assert role_events(bank, admin.user_id) == []


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.OPERATOR, Role.CUSTOMER, Role.AUDITOR])
@ASSIGN_OR_REVOKE
async def test_a_non_admin_cannot_change_anyones_roles_not_even_their_own(
    bank: Bank, role: Role, change: RoleChange
) -> None:
    # given a non-admin caller, and a colleague who is support and an auditor
    caller = await bank.person(role)
    colleague = await bank.person(Role.SUPPORT, Role.AUDITOR)
    # when they make the colleague an admin or take support away, and do so to themselves
    target = Role.ADMIN if change is roles.assign_role else Role.SUPPORT
    with pytest.raises(DomainError) as others:
        await change(bank.uow, caller, colleague.user_id, target)
    with pytest.raises(DomainError) as own:
        await change(bank.uow, caller, caller.user_id, target if target is Role.ADMIN else role)
    # then both are refused and nothing changed
    assert others.value.code is own.value.code is ErrorCode.PERMISSION_DENIED
    assert roles_of(bank, colleague) == {Role.SUPPORT, Role.AUDITOR}
    assert roles_of(bank, caller) == {role}


async def test_revoking_a_users_only_role_is_invalid_state(bank: Bank) -> None:
    # given a customer with no other role
    admin, ana = await bank.person(Role.ADMIN), await bank.person()
    # when the admin revokes it
    with pytest.raises(DomainError) as caught:
        await roles.revoke_role(bank.uow, admin, ana.user_id, Role.CUSTOMER)
    # then a user keeps at least one role
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_STATE, "role")
    assert roles_of(bank, ana) == {Role.CUSTOMER}


@ASSIGN_OR_REVOKE
async def test_a_role_change_for_an_unknown_user_is_user_not_found(
    bank: Bank, change: RoleChange
) -> None:
    # given
    admin = await bank.person(Role.ADMIN)
    # when the admin names a user who does not exist
    with pytest.raises(DomainError) as caught:
        await change(bank.uow, admin, uuid.uuid4(), Role.SUPPORT)
    # then
    assert (caught.value.code, caught.value.field) == (ErrorCode.USER_NOT_FOUND, "userId")


async def test_role_changes_are_recorded_with_who_made_them_and_through_which_session(
    bank: Bank,
) -> None:
    # given an admin acting through a session, and a customer
    admin = replace(await bank.person(Role.ADMIN), session_id=uuid.uuid4())
    ana = await bank.person()
    # when the admin assigns support twice, then revokes it
    assigned = await roles.assign_role(bank.uow, admin, ana.user_id, Role.SUPPORT)
    await roles.assign_role(bank.uow, admin, ana.user_id, Role.SUPPORT)
    revoked = await roles.revoke_role(bank.uow, admin, ana.user_id, Role.SUPPORT)
    # then the roles changed, and exactly the two changes are recorded (the repeat changed
    # nothing), with who made them and through which session
    assert assigned.roles == {Role.CUSTOMER, Role.SUPPORT}
    assert revoked.roles == {Role.CUSTOMER}
    assert role_events(bank, ana.user_id) == [
        SecurityEvent(kind, ana.user_id, admin.user_id, admin.session_id, {"role": "support"})
        for kind in (SecurityEventKind.ROLE_ASSIGNED, SecurityEventKind.ROLE_REVOKED)
    ]


# --- sessions -------------------------------------------------------------------------------


async def open_session(bank: Bank, person: Actor, device: str = "phone") -> sessions.Opened:
    """A session as a login opens it, once the credentials were checked."""
    async with bank.uow:
        user = await bank.uow.users.get(person.user_id)
        assert user is not None
        opened = await sessions.open_session(bank.uow, user, device, POLICY)
        await bank.uow.commit()
    return opened


def as_actor(opened: sessions.Opened) -> Actor:
    return Actor(opened.user.id, opened.user.roles, opened.session.id)


def revoked_reason(bank: Bank, opened: sessions.Opened) -> RevocationReason | None:
    return bank.uow.committed.sessions[opened.session.id].revoked_reason


INVALID_REFRESH = (ErrorCode.INVALID_REFRESH_TOKEN, "refreshToken")


async def refusal(bank: Bank, refresh_token: str) -> tuple[ErrorCode, str | None] | None:
    """The code and field a trade of the token is refused with; None when it goes through."""
    try:
        await sessions.refresh(bank.uow, refresh_token, POLICY)
    except DomainError as error:
        return error.code, error.field
    return None


async def test_a_refresh_token_is_traded_for_a_new_one_that_trades_again(bank: Bank) -> None:
    # given
    opened = await open_session(bank, await bank.person())
    # when
    renewed = await sessions.refresh(bank.uow, opened.refresh_token, POLICY)
    again = await sessions.refresh(bank.uow, renewed.refresh_token, POLICY)
    # then each trade gives the same session a new token, used just now
    assert renewed.session.id == again.session.id == opened.session.id
    assert len({opened.refresh_token, renewed.refresh_token, again.refresh_token}) == 3
    assert renewed.session.last_used_at >= opened.session.last_used_at
    assert renewed.user == opened.user


async def test_a_used_refresh_token_fails_and_ends_the_whole_session(bank: Bank) -> None:
    # given a session whose first refresh token was already traded for a second
    ana = await bank.person()
    opened = await open_session(bank, ana)
    second = await sessions.refresh(bank.uow, opened.refresh_token, POLICY)
    # when the first refresh token is presented again (someone holds a copy)
    reused = await refusal(bank, opened.refresh_token)
    # then it fails, and the newest refresh token is dead too
    assert reused == INVALID_REFRESH
    assert await refusal(bank, second.refresh_token) == INVALID_REFRESH
    # and the session is ended for reuse, which is recorded as a security event
    assert revoked_reason(bank, opened) == RevocationReason.REFRESH_TOKEN_REUSE
    assert bank.uow.committed.security_events == [
        SecurityEvent(
            SecurityEventKind.REFRESH_TOKEN_REUSE, ana.user_id, None, opened.session.id, {}
        )
    ]


async def test_a_refresh_token_never_issued_is_invalid(bank: Bank) -> None:
    # given a token the server never issued
    # when / then
    assert await refusal(bank, "never-issued-" + uuid.uuid4().hex) == INVALID_REFRESH


@pytest.mark.parametrize(
    ("quiet", "refreshed"),
    [
        pytest.param(timedelta(days=30, minutes=1), False, id="idle"),
        pytest.param(timedelta(days=30, minutes=-1), True, id="just-within"),
    ],
)
async def test_a_session_idle_past_the_timeout_cannot_be_refreshed_nor_is_listed(
    bank: Bank, quiet: timedelta, refreshed: bool
) -> None:
    # given Ana on two devices, the tablet last used `quiet` ago (the idle timeout is 30 days)
    ana = await bank.person()
    phone = await open_session(bank, ana, "phone")
    tablet = await open_session(bank, ana, "tablet")
    stored = bank.uow.committed.sessions[tablet.session.id]
    last_used = datetime.now(UTC) - quiet
    bank.uow.committed.sessions[tablet.session.id] = replace(
        stored, session=replace(stored.session, last_used_at=last_used)
    )
    # when the phone lists the sessions, and the tablet refreshes
    listed = await sessions.active_sessions(bank.uow, as_actor(phone), POLICY)
    refused = await refusal(bank, tablet.refresh_token)
    # then the tablet is listed and refreshes exactly while within the timeout
    devices = ["phone", "tablet"] if refreshed else ["phone"]
    assert sorted(s.device_name for s in listed) == devices
    assert refused == (None if refreshed else INVALID_REFRESH)


async def test_a_session_past_its_lifetime_cannot_be_refreshed(bank: Bank) -> None:
    # given a session (never used yet) past its absolute lifetime
    opened = await open_session(bank, await bank.person())
    stored = bank.uow.committed.sessions[opened.session.id]
    expired = replace(stored.session, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    bank.uow.committed.sessions[opened.session.id] = replace(stored, session=expired)
    # when / then
    assert await refusal(bank, opened.refresh_token) == INVALID_REFRESH


async def test_logout_ends_only_the_current_session(bank: Bank) -> None:
    # given Ana on two devices
    ana = await bank.person()
    phone, tablet = await open_session(bank, ana, "phone"), await open_session(bank, ana, "tablet")
    # when the phone logs out
    ended = await sessions.log_out(bank.uow, as_actor(phone))
    # then one session ended: the phone's token is refused, the tablet's still trades
    assert ended == 1
    assert revoked_reason(bank, phone) == RevocationReason.LOGOUT
    assert await refusal(bank, phone.refresh_token) == INVALID_REFRESH
    assert await refusal(bank, tablet.refresh_token) is None


async def test_logout_everywhere_ends_every_session_of_the_user_and_no_one_elses(
    bank: Bank,
) -> None:
    # given Ana on three devices, and Ben
    ana, ben = await bank.person(), await bank.person()
    devices = [await open_session(bank, ana, name) for name in ("phone", "tablet", "laptop")]
    bens = await open_session(bank, ben)
    # when the phone logs out everywhere
    ended = await sessions.log_out_everywhere(bank.uow, as_actor(devices[0]))
    # then
    assert ended == 3
    assert [revoked_reason(bank, d) for d in devices] == [RevocationReason.LOGOUT_EVERYWHERE] * 3
    assert revoked_reason(bank, bens) is None


async def test_revoking_another_users_session_looks_like_a_missing_session(bank: Bank) -> None:
    # given a victim's session, and an attacker with a session of their own
    victim = await open_session(bank, await bank.person(), "victim phone")
    attacker = as_actor(await open_session(bank, await bank.person(), "attacker"))
    # when the attacker revokes the victim's session, and a session that does not exist
    with pytest.raises(DomainError) as stolen:
        await sessions.revoke_session(bank.uow, attacker, victim.session.id)
    with pytest.raises(DomainError) as missing:
        await sessions.revoke_session(bank.uow, attacker, uuid.uuid4())
    # then both answers are the same SESSION_NOT_FOUND, and the victim's session lives on
    assert stolen.value.to_dict() == missing.value.to_dict()
    assert (stolen.value.code, stolen.value.field) == (ErrorCode.SESSION_NOT_FOUND, "sessionId")
    assert revoked_reason(bank, victim) is None
    assert await refusal(bank, victim.refresh_token) is None
