"""The storage ports' contract, run alike against the in-memory fake and the SQL unit of work,
so that the fake the domain-rule tests use cannot drift from what PostgreSQL does."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bff.db.rows import ENTRIES_WITH_KEY, to_account
from bff.domain.accounts import new_account_number
from bff.domain.delegation import Client, ClientRegistration, GrantRevocation, new_client
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import (
    Account,
    AccountChange,
    AccountKind,
    AccountStatus,
    EventKind,
    RevocationReason,
    SecurityEventKind,
    TransferKind,
    TransferStatus,
    User,
)
from bff.domain.money import Money
from bff.domain.notification_models import Platform, Preferences
from bff.domain.ports import (
    PostingCommand,
    PostingFields,
    PostingOutcome,
    PostingResult,
    Refusal,
    UnitOfWork,
)
from bff.domain.rbac import Role
from bff.domain.throttle import ThrottleScope, ThrottleState
from bff.runtime import Runtime
from tests.fakes import ConstraintViolation, FakeUnitOfWork

DAY_S = 24 * 3600
# What each implementation raises for a write the database refuses (post_once sends its
# statement on the driver connection, so PostgreSQL's refusal comes from asyncpg itself).
REFUSED = (ConstraintViolation, DBAPIError, asyncpg.PostgresError)
# A ledger entry as the tests compare them: account, sequence, amount, balance after,
# currency, description.
EntryRow = tuple[UUID, int, int, int, str, str]


@dataclass
class Store:
    """A unit of work, and what a test needs to see or change beside the ports."""

    uow: UnitOfWork
    security_events: Callable[[UUID], Awaitable[list[tuple[Any, ...]]]]
    age_key: Callable[[UUID, str, timedelta], Awaitable[None]]
    settlement: Callable[[str], Awaitable[Account]]
    set_overdraft_limit: Callable[[UUID, int], Awaitable[None]]
    entries: Callable[[UUID], Awaitable[list[EntryRow]]]


def fake_store() -> Store:
    fake = FakeUnitOfWork()

    async def security_events(user_id: UUID) -> list[tuple[Any, ...]]:
        return [
            (event.kind.value, event.actor_id, event.session_id, event.detail)
            for event in fake.committed.security_events
            if event.user_id == user_id
        ]

    async def age_key(actor_id: UUID, key: str, age: timedelta) -> None:
        stored = fake.committed.idempotency_keys[(actor_id, key)]
        fake.committed.idempotency_keys[(actor_id, key)] = replace(
            stored, created_at=stored.created_at - age, expires_at=stored.expires_at - age
        )

    async def settlement(currency: str) -> Account:
        [account] = [
            account
            for account in fake.committed.accounts.values()
            if account.kind is AccountKind.SETTLEMENT and account.currency == currency
        ]
        return account

    async def set_overdraft_limit(account_id: UUID, limit: int) -> None:
        accounts = fake.committed.accounts
        accounts[account_id] = replace(accounts[account_id], overdraft_limit=limit)

    async def entries(transfer_id: UUID) -> list[EntryRow]:
        return sorted(
            (e.account_id, e.sequence, e.amount, e.balance_after, e.currency, e.description)
            for e in fake.committed.entries.values()
            if e.transfer_id == transfer_id
        )

    return Store(fake, security_events, age_key, settlement, set_overdraft_limit, entries)


def sql_store(runtime: Runtime) -> Store:
    engine = runtime.database.engine

    async def security_events(user_id: UUID) -> list[tuple[Any, ...]]:
        statement = text(
            "SELECT kind, actor_id, session_id, detail FROM security_events"
            " WHERE user_id = :user_id ORDER BY id"
        )
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(statement, {"user_id": user_id})]

    async def age_key(actor_id: UUID, key: str, age: timedelta) -> None:
        statement = text(
            "UPDATE idempotency_keys SET created_at = created_at - CAST(:age AS interval),"
            " expires_at = expires_at - CAST(:age AS interval)"
            " WHERE actor_id = :actor_id AND key = :key"
        )
        async with engine.begin() as connection:
            await connection.execute(statement, {"age": age, "actor_id": actor_id, "key": key})

    async def settlement(currency: str) -> Account:
        statement = text("SELECT * FROM accounts WHERE kind = 'settlement' AND currency = :c")
        async with engine.connect() as connection:
            return to_account(
                (await connection.execute(statement, {"c": currency})).mappings().one()
            )

    async def set_overdraft_limit(account_id: UUID, limit: int) -> None:
        statement = text("UPDATE accounts SET overdraft_limit = :limit WHERE id = :id")
        async with engine.begin() as connection:
            await connection.execute(statement, {"limit": limit, "id": account_id})

    async def entries(transfer_id: UUID) -> list[EntryRow]:
        # Descriptions are sealed (tests/test_sealed_fields.py): read as the storage opens them.
        statement = text(ENTRIES_WITH_KEY + " WHERE e.transfer_id = :id")
        async with engine.connect() as connection:
            rows = (await connection.execute(statement, {"id": transfer_id})).mappings()
            opened = [runtime.database.sealing.entry(row) for row in rows]
        return sorted(
            (e.account_id, e.sequence, e.amount, e.balance_after, e.currency, e.description)
            for e in opened
        )

    return Store(
        runtime.unit_of_work(),
        security_events,
        age_key,
        settlement,
        set_overdraft_limit,
        entries,
    )


@pytest.fixture(params=["fake", "sql"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "fake":
        return fake_store()
    return sql_store(request.getfixturevalue("runtime"))


async def a_user(uow: UnitOfWork, *roles: Role) -> User:
    async with uow:
        user = await uow.users.add(
            f"{uuid.uuid4().hex[:12]}@example.com", "hash", "Ana", frozenset(roles or [Role.ADMIN])
        )
        await uow.commit()
    return user


async def an_account(uow: UnitOfWork, currency: str = "USD") -> Account:
    owner = await a_user(uow)
    async with uow:
        account = await uow.accounts.add(owner.id, "Everyday", currency, new_account_number())
        await uow.commit()
    assert account is not None
    return account


_RUN = uuid.uuid4().hex[:8]


def token(name: str) -> bytes:
    """A refresh-token digest (32 bytes), the same for one name within this test run."""
    return hashlib.sha256(f"{_RUN}:{name}".encode()).digest()


FIELDS = PostingFields("from", "to", "amount", "currency")


def transfer(
    actor: User | UUID,
    source: Account | UUID | None,
    amount: int,
    currency: str = "USD",
    *,
    to: Account | UUID | None = None,
    to_number: str | None = None,
    key: str | None = None,
    fingerprint: str = "request",
    ttl_s: int = DAY_S,
    kind: TransferKind = TransferKind.TRANSFER,
) -> PostingCommand:
    """A command moving `amount` minor units from `source` (None: the settlement account of
    the currency, as a deposit names it) to an account by id or by number."""

    def id_of(account: Account | UUID | None) -> UUID | None:
        return account.id if isinstance(account, Account) else account

    return PostingCommand(
        actor_id=actor.id if isinstance(actor, User) else actor,
        key=key or uuid.uuid4().hex,
        fingerprint=fingerprint,
        ttl_s=ttl_s,
        kind=kind,
        transfer_id=uuid.uuid4(),
        money=Money(amount, currency),
        memo="Rent",
        description="Rent paid",
        fields=FIELDS,
        source_id=id_of(source),
        destination_id=id_of(to),
        destination_number=to_number,
    )


def deposit(
    actor: User, account: Account | UUID, amount: int, currency: str = "USD"
) -> PostingCommand:
    return transfer(actor, None, amount, currency, to=account, kind=TransferKind.DEPOSIT)


async def post(uow: UnitOfWork, command: PostingCommand, *, commit: bool = True) -> PostingResult:
    async with uow:
        result = await uow.ledger.post_once(command)
        if commit:
            await uow.commit()
    return result


async def funded(store: Store, owner: User, amount: int, currency: str = "USD") -> Account:
    """A new account of `owner` the settlement account paid `amount` into."""
    uow = store.uow
    async with uow:
        account = await uow.accounts.add(owner.id, "Everyday", currency, new_account_number())
        await uow.commit()
    assert account is not None
    if amount:
        operator = await a_user(uow, Role.OPERATOR)
        paid = await post(uow, deposit(operator, account, amount, currency))
        assert paid.outcome is PostingOutcome.POSTED, paid
    return await now(uow, account)


async def now(uow: UnitOfWork, account: Account) -> Account:
    async with uow:
        return (await uow.accounts.lock([account.id]))[account.id]


async def set_status(uow: UnitOfWork, account: Account, status: AccountStatus) -> Account:
    account = await now(uow, account)
    change = AccountChange(
        account.id,
        account.last_sequence + 1,
        account.balance,
        account.available_balance,
        status,
        EventKind.STATUS_CHANGED,
    )
    async with uow:
        changed = await uow.accounts.set_status(change)
        await uow.commit()
    return changed


# --- the unit of work -----------------------------------------------------------------------


async def test_a_block_left_without_commit_writes_nothing(store: Store) -> None:
    # given a user added in a block that does not commit
    uow = store.uow
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    async with uow:
        added = await uow.users.add(email, "hash", "Ana", frozenset({Role.CUSTOMER}))
    # when the next block looks for it
    async with uow:
        by_id = await uow.users.get(added.id)
        by_email = await uow.users.credentials(email)
    # then it is not there
    assert (by_id, by_email) == (None, None)


async def test_writes_after_the_commit_of_a_block_are_discarded(store: Store) -> None:
    # given a block that commits one user, then adds another and leaves
    uow = store.uow
    async with uow:
        kept = await uow.users.add(f"{uuid.uuid4().hex}@example.com", "h", "A", frozenset(Role))
        await uow.commit()
        dropped = await uow.users.add(f"{uuid.uuid4().hex}@example.com", "h", "B", frozenset(Role))
    # when
    async with uow:
        found = [await uow.users.get(kept.id), await uow.users.get(dropped.id)]
    # then
    assert found == [kept, None]


# --- users ----------------------------------------------------------------------------------


async def test_a_user_is_found_by_id_and_by_email_with_the_password_hash(store: Store) -> None:
    # given
    uow = store.uow
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    roles = frozenset({Role.CUSTOMER, Role.SUPPORT})
    async with uow:
        added = await uow.users.add(email, "first hash", "Ana", roles)
        await uow.commit()
    # when the password and the roles change
    async with uow:
        await uow.users.set_password(added.id, "second hash")
        changed = await uow.users.set_roles(added.id, frozenset({Role.AUDITOR}))
        await uow.commit()
    async with uow:
        found = await uow.users.get(added.id)
        locked = await uow.users.lock(added.id)
        by_email = await uow.users.credentials(email)
        by_id = await uow.users.credentials_of(added.id)
        nobody = await uow.users.get(uuid.uuid4())
    # then
    assert (added.email, added.display_name, added.roles) == (email, "Ana", roles)
    assert changed.roles == frozenset({Role.AUDITOR})
    assert found == locked == changed
    assert by_email == by_id == (changed, "second hash")
    assert nobody is None


async def test_a_second_user_with_the_same_email_is_email_taken(store: Store) -> None:
    # given
    uow = store.uow
    first = await a_user(uow)
    # when
    with pytest.raises(DomainError) as caught:
        async with uow:
            await uow.users.add(first.email, "hash", "Imposter", frozenset({Role.CUSTOMER}))
    # then
    assert (caught.value.code, caught.value.field) == (ErrorCode.EMAIL_TAKEN, "email")


# --- accounts -------------------------------------------------------------------------------


async def test_a_new_account_is_empty_active_and_its_number_is_taken_once(store: Store) -> None:
    # given
    uow = store.uow
    owner = await a_user(uow)
    number = new_account_number()
    # when the number is used twice
    async with uow:
        account = await uow.accounts.add(owner.id, "Holiday", "EUR", number)
        twice = await uow.accounts.add(owner.id, "Again", "EUR", number)
        await uow.commit()
    # then the first is an empty active account of the owner, and the second is refused
    assert account is not None
    assert twice is None
    assert (account.owner_id, account.kind, account.name, account.currency) == (
        owner.id,
        AccountKind.CUSTOMER,
        "Holiday",
        "EUR",
    )
    assert (account.status, account.balance, account.available_balance) == (
        AccountStatus.ACTIVE,
        0,
        0,
    )
    assert (account.overdraft_limit, account.last_sequence) == (0, 0)
    # and it is locked by its id (an unknown id is left out)
    async with uow:
        assert await uow.accounts.lock([account.id, uuid.uuid4()]) == {account.id: account}


async def test_a_status_change_takes_the_next_sequence(store: Store) -> None:
    # given
    uow = store.uow
    account = await an_account(uow)
    # when
    frozen = await set_status(uow, account, AccountStatus.FROZEN)
    # then
    assert (frozen.status, frozen.last_sequence) == (AccountStatus.FROZEN, 1)
    assert await now(uow, account) == frozen


# --- posting: what a posting writes ---------------------------------------------------------


async def test_a_deposit_then_a_transfer_move_both_sides_and_replay_as_posted(
    store: Store,
) -> None:
    # given Ana's account that an operator paid 10.00 into, and Ben's empty one
    uow = store.uow
    ana, ben, operator = await a_user(uow), await a_user(uow), await a_user(uow, Role.OPERATOR)
    bank_before = await store.settlement("USD")
    source = await funded(store, ana, 0)
    destination = await funded(store, ben, 0)
    paid = await post(uow, deposit(operator, source, 1000))
    # when Ana sends 2.50 to Ben, then sends the same command again
    command = transfer(ana, source, 250, to=destination)
    sent = await post(uow, command)
    again = await post(uow, command)
    # then the deposit came from the settlement account, which may run negative
    assert paid.outcome is PostingOutcome.POSTED
    assert paid.transfer is not None
    assert (paid.transfer.kind, paid.transfer.from_account_id) == (
        TransferKind.DEPOSIT,
        bank_before.id,
    )
    assert (paid.transfer.from_owner_id, paid.transfer.initiated_by) == (None, operator.id)
    bank = await store.settlement("USD")
    assert (bank.balance, bank.last_sequence) == (
        bank_before.balance - 1000,
        bank_before.last_sequence + 1,
    )
    # and the transfer is as commanded, with the owners of both sides
    assert sent.outcome is PostingOutcome.POSTED
    assert sent.transfer is not None
    posted = sent.transfer
    assert (posted.id, posted.kind, posted.status) == (
        command.transfer_id,
        TransferKind.TRANSFER,
        TransferStatus.COMPLETED,
    )
    assert (posted.amount, posted.currency, posted.memo, posted.initiated_by) == (
        250,
        "USD",
        "Rent",
        ana.id,
    )
    assert (posted.from_account_id, posted.to_account_id) == (source.id, destination.id)
    assert (posted.from_owner_id, posted.to_owner_id) == (ana.id, ben.id)
    # and both balances and sequences moved, each leg an entry with the balance after it
    balances = {
        account.id: (account.balance, account.available_balance, account.last_sequence)
        for account in [await now(uow, source), await now(uow, destination)]
    }
    assert balances == {source.id: (750, 750, 2), destination.id: (250, 250, 1)}
    assert await store.entries(posted.id) == sorted(
        [
            (source.id, 2, -250, 750, "USD", "Rent paid"),
            (destination.id, 1, 250, 250, "USD", "Rent paid"),
        ]
    )
    # and the command sent again is the same transfer, replayed, with nothing moved twice
    assert again == PostingResult(PostingOutcome.REPLAYED, transfer=posted)
    assert (await now(uow, source)).balance == 750


async def test_a_posting_is_settled_when_post_once_returns(store: Store) -> None:
    # given a funded account
    uow = store.uow
    ana = await a_user(uow)
    source, destination = await funded(store, ana, 500), await an_account(uow)
    # when a posting's block is left without commit()
    command = transfer(ana, source, 100, to=destination)
    await post(uow, command, commit=False)
    # then the posting happened all the same: it was a transaction of its own
    assert (await now(uow, source)).balance == 400
    assert (await post(uow, command)).outcome is PostingOutcome.REPLAYED


async def test_a_transfer_by_number_reaches_a_customer_account_only(store: Store) -> None:
    # given Ana's funded account, Ben's account, and the USD settlement account's number
    uow = store.uow
    ana = await a_user(uow)
    source, destination = await funded(store, ana, 500), await an_account(uow)
    bank = await store.settlement("USD")
    # when Ana sends to Ben's number, then to the settlement account's
    by_number = await post(uow, transfer(ana, source, 100, to_number=destination.account_number))
    to_bank = await post(uow, transfer(ana, source, 100, to_number=bank.account_number))
    # then the first reached Ben, and the settlement account is not found
    assert by_number.transfer is not None
    assert by_number.transfer.to_account_id == destination.id
    assert to_bank == PostingResult(
        PostingOutcome.REFUSED, refusal=Refusal(ErrorCode.ACCOUNT_NOT_FOUND, "to")
    )


@pytest.mark.parametrize("amount", [pytest.param(0, id="zero"), pytest.param(-100, id="negative")])
async def test_the_ledger_itself_refuses_a_posting_that_moves_no_money(
    store: Store, amount: int
) -> None:
    # given a funded account (the domain never commands such amounts: the ledger's own checks
    # stand behind its rules)
    uow = store.uow
    ana = await a_user(uow)
    source, destination = await funded(store, ana, 500), await an_account(uow)
    # when / then
    with pytest.raises(REFUSED):
        await post(uow, transfer(ana, source, amount, to=destination))
    assert (await now(uow, source)).balance == 500


# --- posting: the rules, in order -----------------------------------------------------------
# Each case breaks one rule and, where it can, later ones too: the first rule broken answers.


@dataclass
class Scene:
    """Ana's funded USD account, Ben's USD and EUR accounts, and the USD settlement account."""

    store: Store
    ana: User
    ben: User
    operator: User
    mine: Account
    bens: Account
    bens_eur: Account
    bank: Account


@pytest.fixture
async def scene(store: Store) -> Scene:
    uow = store.uow
    ana, ben, operator = await a_user(uow), await a_user(uow), await a_user(uow, Role.OPERATOR)
    return Scene(
        store,
        ana,
        ben,
        operator,
        mine=await funded(store, ana, 1000),
        bens=await funded(store, ben, 1000),
        bens_eur=await funded(store, ben, 0, "EUR"),
        bank=await store.settlement("USD"),
    )


async def freeze(scene: Scene, *accounts: Account) -> None:
    for account in accounts:
        await set_status(scene.store.uow, account, AccountStatus.FROZEN)


async def not_owned(scene: Scene) -> PostingCommand:
    return transfer(scene.ana, scene.bens, 100, to=uuid.uuid4())  # and no destination


async def missing_source(scene: Scene) -> PostingCommand:
    return transfer(scene.ana, uuid.uuid4(), 100, to=scene.bens)


async def missing_destination(scene: Scene) -> PostingCommand:
    await freeze(scene, scene.mine)
    return transfer(scene.ana, scene.mine, 100, to=uuid.uuid4())


async def unknown_number(scene: Scene) -> PostingCommand:
    return transfer(scene.ana, scene.mine, 100, to_number=new_account_number())


async def settlement_destination(scene: Scene) -> PostingCommand:
    return transfer(scene.ana, scene.mine, 100, to=scene.bank)


async def same_account(scene: Scene) -> PostingCommand:
    await freeze(scene, scene.mine)
    return transfer(scene.ana, scene.mine, 5000, to=scene.mine)


async def frozen_source(scene: Scene) -> PostingCommand:
    await freeze(scene, scene.mine, scene.bens)
    return transfer(scene.ana, scene.mine, 5000, to=scene.bens)


async def frozen_destination(scene: Scene) -> PostingCommand:
    await freeze(scene, scene.bens_eur)
    return transfer(scene.ana, scene.mine, 5000, to=scene.bens_eur)


async def accounts_differ(scene: Scene) -> PostingCommand:
    return transfer(scene.ana, scene.mine, 5000, to=scene.bens_eur)


async def amount_differs(scene: Scene) -> PostingCommand:
    return transfer(scene.ana, scene.mine, 100, "EUR", to=scene.bens)


async def beyond_the_balance(scene: Scene) -> PostingCommand:
    return transfer(scene.ana, scene.mine, 1001, to=scene.bens)


async def beyond_the_overdraft_limit(scene: Scene) -> PostingCommand:
    await scene.store.set_overdraft_limit(scene.mine.id, 500)
    return transfer(scene.ana, scene.mine, 1501, to=scene.bens)


async def no_settlement_account(scene: Scene) -> PostingCommand:
    return deposit(scene.operator, scene.bens, 100, "XTS")  # ISO 4217's code for testing


async def deposit_into_settlement(scene: Scene) -> PostingCommand:
    return deposit(scene.operator, scene.bank, 100)


async def deposit_into_frozen(scene: Scene) -> PostingCommand:
    await freeze(scene, scene.bens)
    return deposit(scene.operator, scene.bens, 100)


FROZEN = AccountStatus.FROZEN
RULE_CASES = [
    (not_owned, Refusal(ErrorCode.ACCOUNT_NOT_FOUND, "from")),
    (missing_source, Refusal(ErrorCode.ACCOUNT_NOT_FOUND, "from")),
    (missing_destination, Refusal(ErrorCode.ACCOUNT_NOT_FOUND, "to")),
    (unknown_number, Refusal(ErrorCode.ACCOUNT_NOT_FOUND, "to")),
    (settlement_destination, Refusal(ErrorCode.ACCOUNT_NOT_FOUND, "to")),
    (same_account, Refusal(ErrorCode.SAME_ACCOUNT, "to")),
    (frozen_source, Refusal(ErrorCode.ACCOUNT_FROZEN, "from", FROZEN)),
    (frozen_destination, Refusal(ErrorCode.ACCOUNT_FROZEN, "to", FROZEN)),
    (accounts_differ, Refusal(ErrorCode.CURRENCY_MISMATCH, "currency")),
    (amount_differs, Refusal(ErrorCode.CURRENCY_MISMATCH, "currency")),
    (beyond_the_balance, Refusal(ErrorCode.INSUFFICIENT_FUNDS, "amount")),
    (beyond_the_overdraft_limit, Refusal(ErrorCode.INSUFFICIENT_FUNDS, "amount")),
    (no_settlement_account, Refusal(ErrorCode.UNSUPPORTED_CURRENCY, "currency")),
    (deposit_into_settlement, Refusal(ErrorCode.ACCOUNT_NOT_FOUND, "to")),
    (deposit_into_frozen, Refusal(ErrorCode.ACCOUNT_FROZEN, "to", FROZEN)),
]


@pytest.mark.parametrize(
    ("case", "expected"), [pytest.param(*case, id=case[0].__name__) for case in RULE_CASES]
)
async def test_the_first_rule_a_posting_breaks_refuses_it_and_is_its_keys_answer(
    scene: Scene, case: Callable[[Scene], Awaitable[PostingCommand]], expected: Refusal
) -> None:
    # given a command that breaks the rule (and maybe later ones)
    uow = scene.store.uow
    command = await case(scene)
    accounts = [scene.mine, scene.bens, scene.bens_eur]
    before = [await now(uow, account) for account in accounts]
    # when it is posted, and posted again
    first = await post(uow, command)
    again = await post(uow, command)
    # then the first rule broken is the answer, both times, and no money moved
    assert first == again == PostingResult(PostingOutcome.REFUSED, refusal=expected)
    assert [await now(uow, account) for account in accounts] == before


async def test_a_refusal_stays_the_keys_answer_once_its_cause_is_gone(scene: Scene) -> None:
    # given a transfer refused because Ben's account was frozen, which is then unfrozen
    uow = scene.store.uow
    await freeze(scene, scene.bens)
    command = transfer(scene.ana, scene.mine, 100, to=scene.bens)
    first = await post(uow, command)
    await set_status(uow, scene.bens, AccountStatus.ACTIVE)
    # when the command is sent again, and then with a new key
    again = await post(uow, command)
    fresh = await post(uow, replace(command, key=uuid.uuid4().hex))
    # then the key keeps its refusal, and the new key posts
    refusal = Refusal(ErrorCode.ACCOUNT_FROZEN, "to", FROZEN)
    assert first == again == PostingResult(PostingOutcome.REFUSED, refusal=refusal)
    assert fresh.outcome is PostingOutcome.POSTED


async def test_the_overdraft_limit_lets_a_balance_go_exactly_that_far_below_zero(
    scene: Scene,
) -> None:
    # given Ana's 10.00 with an overdraft limit of 5.00
    uow = scene.store.uow
    await scene.store.set_overdraft_limit(scene.mine.id, 500)
    # when she sends 15.00
    sent = await post(uow, transfer(scene.ana, scene.mine, 1500, to=scene.bens))
    # then
    assert sent.outcome is PostingOutcome.POSTED
    assert (await now(uow, scene.mine)).balance == -500


# --- posting: idempotency keys --------------------------------------------------------------


async def test_a_key_answers_only_its_first_request_and_belongs_to_its_actor(
    scene: Scene,
) -> None:
    # given Ana's transfer under key K
    uow = scene.store.uow
    first = await post(uow, transfer(scene.ana, scene.mine, 100, to=scene.bens, key="K"))
    # when Ana sends another request under K, and Ben sends his own under K
    changed = transfer(scene.ana, scene.mine, 200, to=scene.bens, key="K", fingerprint="other")
    reused = await post(uow, changed)
    bens = await post(uow, transfer(scene.ben, scene.bens, 300, to=scene.mine, key="K"))
    # then Ana's second request is refused as a reused key; Ben's K is his own
    assert first.outcome is PostingOutcome.POSTED
    assert reused == PostingResult(PostingOutcome.KEY_REUSED)
    assert bens.outcome is PostingOutcome.POSTED
    assert (await now(uow, scene.mine)).balance == 1000 - 100 + 300


async def test_an_expired_key_is_taken_by_a_new_request(scene: Scene) -> None:
    # given a key stored a day and an hour ago for a day
    uow = scene.store.uow
    await post(uow, transfer(scene.ana, scene.mine, 100, to=scene.bens, key="K"))
    await scene.store.age_key(scene.ana.id, "K", timedelta(hours=25))
    # when a different request uses it
    changed = transfer(scene.ana, scene.mine, 200, to=scene.bens, key="K", fingerprint="new")
    taken = await post(uow, changed)
    # then it is the new request's now
    assert taken.outcome is PostingOutcome.POSTED
    assert (await post(uow, changed)).outcome is PostingOutcome.REPLAYED
    assert (await now(uow, scene.mine)).balance == 1000 - 100 - 200


async def test_a_key_kept_less_than_a_day_is_refused(scene: Scene) -> None:
    # given
    uow = scene.store.uow
    # when / then
    with pytest.raises(REFUSED):
        await post(uow, transfer(scene.ana, scene.mine, 100, to=scene.bens, ttl_s=DAY_S - 1))
    assert (await now(uow, scene.mine)).balance == 1000


# --- sessions -------------------------------------------------------------------------------


async def test_a_rotated_refresh_token_is_used_and_its_successor_is_not(store: Store) -> None:
    # given a session opened with token A
    uow = store.uow
    ana = await a_user(uow)
    expires = datetime.now(UTC) + timedelta(days=1)
    async with uow:
        session = await uow.sessions.add(ana.id, "phone", token("A"), expires)
        await uow.commit()
    # when A is traded for B
    async with uow:
        before = await uow.sessions.lock_refresh_token(token("A"))
        rotated = await uow.sessions.rotate(session.id, token("A"), token("B"))
        await uow.commit()
    async with uow:
        spent = await uow.sessions.lock_refresh_token(token("A"))
        fresh = await uow.sessions.lock_refresh_token(token("B"))
        unknown = await uow.sessions.lock_refresh_token(token("C"))
    # then
    assert (session.user_id, session.device_name, session.expires_at) == (ana.id, "phone", expires)
    assert before is not None
    assert (before.session, before.used, before.revoked) == (session, False, False)
    assert rotated.last_used_at > session.last_used_at
    assert spent is not None
    assert (spent.session, spent.used, spent.revoked) == (rotated, True, False)
    assert fresh is not None
    assert (fresh.used, fresh.revoked) == (False, False)
    assert unknown is None


async def test_sessions_end_once_and_the_live_ones_list_most_recent_first(store: Store) -> None:
    # given Ana on three devices, the phone (opened first) refreshed since, and Ben on one
    uow = store.uow
    ana, ben = await a_user(uow), await a_user(uow)
    expires = datetime.now(UTC) + timedelta(days=1)
    opened = {}
    for device in ("phone", "tablet", "laptop"):
        async with uow:
            opened[device] = await uow.sessions.add(ana.id, device, token(device), expires)
            await uow.commit()
    async with uow:
        await uow.sessions.add(ben.id, "bens", token("bens"), expires)
        await uow.sessions.rotate(opened["phone"].id, token("phone"), token("phone again"))
        await uow.commit()
    # when the laptop is revoked twice, then every session but the phone's
    async with uow:
        revoked = [
            await uow.sessions.revoke(opened["laptop"].id, RevocationReason.REVOKED)
            for _ in range(2)
        ]
        listed = [s.device_name for s in await uow.sessions.active(ana.id)]
        ended = await uow.sessions.revoke_all(
            ana.id, RevocationReason.PASSWORD_CHANGED, keep=opened["phone"].id
        )
        await uow.commit()
    async with uow:
        left = [s.device_name for s in await uow.sessions.active(ana.id)]
        bens = [s.device_name for s in await uow.sessions.active(ben.id)]
        ended_session = await uow.sessions.get(opened["laptop"].id)
        grant = await uow.sessions.lock_refresh_token(token("laptop"))
    # then each session ended once; the live ones list most recently used first
    assert revoked == [True, False]
    assert listed == ["phone", "tablet"]
    assert ended == 1
    assert left == ["phone"]
    assert bens == ["bens"]
    # and an ended session is still found by its id, its token marked revoked
    assert ended_session == opened["laptop"]
    assert grant is not None
    assert (grant.used, grant.revoked) == (False, True)


# --- throttles and security events ----------------------------------------------------------


async def test_throttle_counters_start_empty_and_keep_what_was_saved(store: Store) -> None:
    # given
    uow = store.uow
    account, address = (ThrottleScope.ACCOUNT, uuid.uuid4().hex), (ThrottleScope.ADDRESS, "10.9")
    saved = ThrottleState(2, datetime.now(UTC), None)
    # when
    async with uow:
        fresh = await uow.throttles.lock([account, address])
        await uow.throttles.save(account, saved)
        await uow.commit()
    async with uow:
        later = await uow.throttles.lock([account])
    # then
    assert fresh[account] == ThrottleState()
    assert set(fresh) == {account, address}
    assert later == {account: saved}


async def test_security_events_are_recorded_with_who_and_through_which_session(
    store: Store,
) -> None:
    # given Ana, and an admin acting through a session
    uow = store.uow
    ana, admin = await a_user(uow), await a_user(uow)
    expires = datetime.now(UTC) + timedelta(days=1)
    async with uow:
        session = await uow.sessions.add(admin.id, "desk", token("desk"), expires)
        await uow.commit()
    # when
    async with uow:
        await uow.security_events.record(
            SecurityEventKind.ROLE_ASSIGNED, ana.id, admin.id, session.id, {"role": "support"}
        )
        await uow.security_events.record(SecurityEventKind.PASSWORD_CHANGED, ana.id, ana.id, None)
        await uow.commit()
    # then
    assert await store.security_events(ana.id) == [
        ("role_assigned", admin.id, session.id, {"role": "support"}),
        ("password_changed", ana.id, None, {}),
    ]


# --- notifications ----------------------------------------------------------------------------


async def test_preferences_are_the_defaults_until_saved_then_what_was_saved(store: Store) -> None:
    # given a new customer
    uow = store.uow
    ana = await a_user(uow)
    # when they read, then save, then read again
    async with uow:
        before = await uow.notifications.preferences(ana.id)
        chosen = Preferences(money_received=False, money_sent=True, locale="de_DE")
        await uow.notifications.save_preferences(ana.id, chosen)
        await uow.commit()
    async with uow:
        after = await uow.notifications.preferences(ana.id)
    # then the defaults came first, and the saved choice after
    assert before == Preferences()
    assert after == chosen


async def test_a_session_has_one_push_device_replaced_by_its_next_registration(
    store: Store,
) -> None:
    # given Ana signed in on a phone
    uow = store.uow
    ana = await a_user(uow)
    expires = datetime.now(UTC) + timedelta(days=1)
    async with uow:
        session = await uow.sessions.add(ana.id, "phone", token("phone"), expires)
        await uow.commit()
    # when the app registers a token, then a renewed one on another service
    async with uow:
        first = await uow.notifications.register_device(
            ana.id, session.id, Platform.EXPO, "ExponentPushToken[first]"
        )
        second = await uow.notifications.register_device(
            ana.id, session.id, Platform.FCM, "fcm-token-second"
        )
        await uow.commit()
    # then the session's one registration is the latest, under the same id
    assert second.id == first.id
    assert (second.user_id, second.session_id, second.platform, second.token) == (
        ana.id,
        session.id,
        Platform.FCM,
        "fcm-token-second",
    )


# --- OAuth: clients, grants, codes, refresh tokens, seen JWT IDs ------------------------------


async def a_client(uow: UnitOfWork) -> Client:
    registration = ClientRegistration(
        "Budget Buddy", ["https://app.example.com/cb"], ["accounts:read"], None
    )
    client = new_client(registration, datetime.now(UTC))
    async with uow:
        await uow.oauth.add_client(client, None)
        await uow.commit()
    return client


async def test_a_new_grant_replaces_the_live_one_and_grants_end_once(store: Store) -> None:
    # given a customer who approved the same client twice
    uow = store.uow
    ana, client = await a_user(uow, Role.CUSTOMER), await a_client(uow)
    account = uuid.uuid4()
    async with uow:
        first = await uow.oauth.add_grant(
            ana.id, client.id, frozenset({"accounts:read"}), [account], 5
        )
        second = await uow.oauth.add_grant(ana.id, client.id, frozenset({"accounts:read"}), [], 0)
        await uow.commit()
    async with uow:
        live = await uow.oauth.grants_of(ana.id)
        replaced = await uow.oauth.grant(first.id)
        ended = await uow.oauth.revoke_grant(second.id, GrantRevocation.CUSTOMER)
        again = await uow.oauth.revoke_grant(second.id, GrantRevocation.CUSTOMER)
        locked = await uow.oauth.lock_grant(second.id)
        await uow.commit()
    # then only the second was live, with the client's name; it ends once
    assert [grant.id for grant in live] == [second.id]
    assert live[0].client_name == "Budget Buddy"
    assert (first.account_ids, first.daily_limit) == ((account,), 5)
    assert replaced is not None
    assert replaced.revoked_at is not None
    assert (ended, again, locked) == (True, False, None)


async def test_a_code_is_spent_once_and_then_reads_as_replayed(store: Store) -> None:
    uow = store.uow
    ana, client = await a_user(uow, Role.CUSTOMER), await a_client(uow)
    soon = datetime.now(UTC) + timedelta(seconds=60)
    async with uow:
        grant = await uow.oauth.add_grant(ana.id, client.id, frozenset({"accounts:read"}), [], 0)
        await uow.oauth.add_code(
            token("code"), grant.id, "https://app.example.com/cb", "c", None, soon
        )
        await uow.commit()
    async with uow:
        first = await uow.oauth.use_code(token("code"))
        await uow.commit()
    async with uow:
        second = await uow.oauth.use_code(token("code"))
        unknown = await uow.oauth.use_code(token("other code"))
    assert first is not None
    assert (first.replayed, first.expired, first.grant.id) == (False, False, grant.id)
    assert second is not None
    assert second.replayed is True
    assert unknown is None


async def test_a_jwt_id_is_new_once_and_reserved_transfers_count_until_released(
    store: Store,
) -> None:
    uow = store.uow
    ana, client = await a_user(uow, Role.CUSTOMER), await a_client(uow)
    jti = f"contract:{uuid.uuid4()}"
    later = datetime.now(UTC) + timedelta(minutes=1)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    async with uow:
        grant = await uow.oauth.add_grant(ana.id, client.id, frozenset({"transfers:write"}), [], 9)
        first = await uow.oauth.first_use_of_jti(jti, later)
        second = await uow.oauth.first_use_of_jti(jti, later)
        await uow.oauth.record_transfer(kept, grant.id, client.id, Money(300, "USD"))
        await uow.oauth.record_transfer(dropped, grant.id, client.id, Money(200, "USD"))
        await uow.oauth.record_transfer(uuid.uuid4(), grant.id, client.id, Money(700, "EUR"))
        await uow.oauth.release_transfer(dropped)
        spent = await uow.oauth.spent_today(grant.id, "USD")
        await uow.commit()
    assert (first, second) == (True, False)
    assert spent == 300
