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

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bff.domain.accounts import new_account_number
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import (
    Account,
    AccountChange,
    AccountKind,
    AccountStatus,
    Entry,
    EventKind,
    Posting,
    RevocationReason,
    SecurityEventKind,
    Transfer,
    TransferKind,
    TransferStatus,
    User,
)
from bff.domain.ports import StoredResult, UnitOfWork
from bff.domain.rbac import Role
from bff.domain.throttle import ThrottleScope, ThrottleState
from bff.runtime import Runtime
from tests.fakes import ConstraintViolation, FakeUnitOfWork

DAY_S = 24 * 3600
# What each implementation raises for a write the database refuses.
REFUSED = (ConstraintViolation, DBAPIError)


@dataclass
class Store:
    """A unit of work, and what a test needs to see or change beside the ports."""

    uow: UnitOfWork
    security_events: Callable[[UUID], Awaitable[list[tuple[Any, ...]]]]
    age_key: Callable[[UUID, str, timedelta], Awaitable[None]]


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

    return Store(fake, security_events, age_key)


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

    return Store(runtime.unit_of_work(), security_events, age_key)


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


def posting(
    source: Account, destination: Account, amount: int, by: UUID, received: int | None = None
) -> Posting:
    """A transfer of `amount` from `source` to `destination`, as the domain would write it
    (with `received` the destination's leg does not balance the source's)."""
    now = datetime.now(UTC)
    transfer = Transfer(
        id=uuid.uuid4(),
        kind=TransferKind.TRANSFER,
        status=TransferStatus.COMPLETED,
        amount=amount,
        currency=source.currency,
        from_account_id=source.id,
        to_account_id=destination.id,
        from_owner_id=source.owner_id,
        to_owner_id=destination.owner_id,
        memo="Rent",
        initiated_by=by,
        created_at=now,
    )

    def leg(account: Account, signed: int) -> AccountChange:
        entry = Entry(
            id=uuid.uuid4(),
            transfer_id=transfer.id,
            account_id=account.id,
            sequence=account.last_sequence + 1,
            amount=signed,
            balance_after=account.balance + signed,
            currency=account.currency,
            description="Rent",
            created_at=now,
        )
        return AccountChange(
            account_id=account.id,
            sequence=entry.sequence,
            balance=entry.balance_after,
            available_balance=account.available_balance + signed,
            status=account.status,
            event=EventKind.TRANSACTION_POSTED,
            entry=entry,
        )

    credit = amount if received is None else received
    return Posting(transfer, (leg(source, -amount), leg(destination, credit)))


_RUN = uuid.uuid4().hex[:8]


def token(name: str) -> bytes:
    """A refresh-token digest (32 bytes), the same for one name within this test run."""
    return hashlib.sha256(f"{_RUN}:{name}".encode()).digest()


async def settlement(uow: UnitOfWork, currency: str) -> Account:
    async with uow:
        settlement_id = await uow.accounts.settlement_id(currency)
        assert settlement_id is not None
        return (await uow.accounts.lock([settlement_id]))[settlement_id]


async def post_and_commit(uow: UnitOfWork, posted: Posting) -> None:
    async with uow:
        await uow.ledger.post(posted)
        await uow.commit()


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


# --- accounts and the ledger ----------------------------------------------------------------


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
    # and it is found by its number, and locked by its id (an unknown id is left out)
    async with uow:
        assert await uow.accounts.id_by_number(number) == account.id
        assert await uow.accounts.id_by_number(new_account_number()) is None
        assert await uow.accounts.lock([account.id, uuid.uuid4()]) == {account.id: account}


async def test_each_currency_has_a_settlement_account_that_no_number_reaches(store: Store) -> None:
    # given
    uow = store.uow
    # when
    usd, jpy = await settlement(uow, "USD"), await settlement(uow, "JPY")
    async with uow:
        by_number = await uow.accounts.id_by_number(usd.account_number)
        unknown = await uow.accounts.settlement_id("XXX")
    # then
    assert (usd.kind, usd.currency, usd.owner_id) == (AccountKind.SETTLEMENT, "USD", None)
    assert jpy.currency == "JPY"
    assert (by_number, unknown) == (None, None)


async def test_a_posting_moves_both_balances_and_is_read_back_as_posted(store: Store) -> None:
    # given a USD account the settlement account paid 10.00 into, and an empty one
    uow = store.uow
    source, destination = await an_account(uow), await an_account(uow)
    bank, operator = await settlement(uow, "USD"), await a_user(uow, Role.OPERATOR)
    await post_and_commit(uow, posting(bank, source, 1000, operator.id))
    async with uow:
        funded = (await uow.accounts.lock([source.id]))[source.id]
    # when 2.50 goes from one to the other
    sent = posting(funded, destination, 250, operator.id)
    await post_and_commit(uow, sent)
    # then both balances and sequences moved, and the transfer reads back as it was posted
    async with uow:
        locked = await uow.accounts.lock([source.id, destination.id])
        transfer = await uow.ledger.transfer(sent.transfer.id)
    balances = {id_: (a.balance, a.available_balance, a.last_sequence) for id_, a in locked.items()}
    assert balances == {source.id: (750, 750, 2), destination.id: (250, 250, 1)}
    assert transfer == sent.transfer


@pytest.mark.parametrize(
    ("amount", "received", "funded"),
    [
        pytest.param(100, None, False, id="overdraft"),
        pytest.param(100, 99, True, id="unbalanced"),
        pytest.param(0, None, True, id="zero"),
    ],
)
async def test_a_posting_the_ledger_refuses_leaves_nothing(
    store: Store, amount: int, received: int | None, funded: bool
) -> None:
    # given an empty account or the settlement account (which may run negative), an empty
    # account, and a posting that overdraws, does not balance, or moves nothing
    uow = store.uow
    source = await settlement(uow, "USD") if funded else await an_account(uow)
    destination = await an_account(uow)
    bad = posting(source, destination, amount, (await a_user(uow)).id, received)
    # when it is posted and committed
    with pytest.raises(REFUSED):
        await post_and_commit(uow, bad)
    # then no balance moved
    async with uow:
        locked = await uow.accounts.lock([source.id, destination.id])
    assert locked == {source.id: source, destination.id: destination}


async def test_a_status_change_takes_the_next_sequence(store: Store) -> None:
    # given
    uow = store.uow
    account = await an_account(uow)
    change = AccountChange(
        account_id=account.id,
        sequence=1,
        balance=0,
        available_balance=0,
        status=AccountStatus.FROZEN,
        event=EventKind.STATUS_CHANGED,
    )
    # when
    async with uow:
        frozen = await uow.accounts.set_status(change)
        await uow.commit()
    # then
    assert (frozen.status, frozen.last_sequence) == (AccountStatus.FROZEN, 1)
    async with uow:
        assert (await uow.accounts.lock([account.id]))[account.id] == frozen


# --- idempotency keys -----------------------------------------------------------------------


async def answer(
    uow: UnitOfWork, actor: User, fingerprint: str, transfer_id: str, *, commit: bool = True
) -> StoredResult | None:
    """Claim key K for a request and store its result, as a money write does; the claim's
    answer (None when the key was free)."""
    async with uow:
        claimed = await uow.idempotency.claim(actor.id, "K", fingerprint, DAY_S)
        await uow.idempotency.complete(actor.id, "K", {"transfer_id": transfer_id})
        if commit:
            await uow.commit()
    return claimed


async def test_a_key_is_claimed_once_per_actor_and_then_gives_its_result(store: Store) -> None:
    # given Ana's request claimed key K and stored its result
    uow = store.uow
    ana, ben = await a_user(uow), await a_user(uow)
    first = await answer(uow, ana, "request 1", "t1")
    # when Ana claims K again with another request, and Ben claims K
    async with uow:
        again = await uow.idempotency.claim(ana.id, "K", "request 2", DAY_S)
        bens = await uow.idempotency.claim(ben.id, "K", "request 3", DAY_S)
    # then Ana gets the first request's fingerprint and result; Ben's K is his own
    assert first is None
    assert again == StoredResult("request 1", {"transfer_id": "t1"})
    assert bens is None


async def test_a_claim_that_is_rolled_back_leaves_the_key_free(store: Store) -> None:
    # given a claim whose transaction did not commit
    uow = store.uow
    ana = await a_user(uow)
    await answer(uow, ana, "lost", "t1", commit=False)
    # when
    async with uow:
        claimed = await uow.idempotency.claim(ana.id, "K", "retried", DAY_S)
    # then
    assert claimed is None


async def test_an_expired_key_is_taken_by_a_new_request(store: Store) -> None:
    # given a key stored a day and an hour ago for a day
    uow = store.uow
    ana = await a_user(uow)
    await answer(uow, ana, "old request", "t1")
    await store.age_key(ana.id, "K", timedelta(hours=25))
    # when a new request claims it
    taken = await answer(uow, ana, "new request", "t2")
    # then it is the new request's now
    async with uow:
        stored = await uow.idempotency.claim(ana.id, "K", "new request", DAY_S)
    assert taken is None
    assert stored == StoredResult("new request", {"transfer_id": "t2"})


async def test_a_key_kept_less_than_a_day_is_refused(store: Store) -> None:
    # given
    uow = store.uow
    ana = await a_user(uow)
    # when / then
    with pytest.raises(REFUSED):
        async with uow:
            await uow.idempotency.claim(ana.id, "K", "request", DAY_S - 1)


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
