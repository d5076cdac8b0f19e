"""Stripe-style idempotency of money writes: replay, stored failures, reuse, scope and races."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import pytest
from sqlalchemy import text

from bff.domain import transfers
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import Account, Transfer
from bff.domain.rbac import Role
from bff.runtime import Runtime, build_runtime
from tests.conftest import Person, World


def transfer_request(
    key: str, source: Account, destination: Account, amount: str, memo: str | None = None
) -> transfers.TransferRequest:
    return transfers.TransferRequest(
        idempotency_key=key,
        from_account_id=source.id,
        amount=amount,
        currency=source.currency,
        to_account_id=destination.id,
        memo=memo,
    )


async def create(runtime: Runtime, person: Person, request: transfers.TransferRequest) -> Transfer:
    return await transfers.create_transfer(
        runtime.unit_of_work(), person.actor, request, runtime.settings.idempotency_ttl_s
    )


async def deposit(runtime: Runtime, person: Person, request: transfers.DepositRequest) -> Transfer:
    return await transfers.deposit_funds(
        runtime.unit_of_work(), person.actor, request, runtime.settings.idempotency_ttl_s
    )


async def balance(runtime: Runtime, account: Account) -> int:
    async with runtime.database.engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    text("SELECT balance FROM accounts WHERE id = :id"), {"id": account.id}
                )
            ).scalar_one()
        )


async def transfer_ids_touching(runtime: Runtime, account: Account) -> list[UUID]:
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT id FROM transfers WHERE kind = 'transfer'"
                " AND (from_account_id = :id OR to_account_id = :id)"
            ),
            {"id": account.id},
        )
    return [row.id for row in rows]


async def test_replay_returns_the_same_transfer_and_moves_money_once(
    runtime: Runtime, world: World
) -> None:
    # given a transfer already made with key K
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    request = transfer_request(str(uuid.uuid4()), source, destination, "30.00", memo="rent")
    first = await create(runtime, alice, request)
    # when the client retries the identical request twice
    second = await create(runtime, alice, request)
    third = await create(runtime, alice, request)
    # then it gets the stored transfer and the money moved once
    assert second == first
    assert third == first
    assert await transfer_ids_touching(runtime, source) == [first.id]
    assert await balance(runtime, source) == 7000
    assert await balance(runtime, destination) == 3000


async def test_stored_failure_is_replayed_even_after_the_account_is_funded(
    runtime: Runtime, world: World
) -> None:
    # given a transfer with key K that failed for lack of funds
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="5.00")
    destination = await world.account(bob, "USD")
    request = transfer_request(str(uuid.uuid4()), source, destination, "10.00")
    with pytest.raises(DomainError) as original:
        await create(runtime, alice, request)
    assert original.value.code is ErrorCode.INSUFFICIENT_FUNDS
    # and the account funded afterwards
    await world.deposit(source, "100.00")
    # when the same request is retried with key K
    with pytest.raises(DomainError) as replayed:
        await create(runtime, alice, request)
    # then the stored failure comes back, and nothing moved
    assert replayed.value.to_dict() == original.value.to_dict()
    assert await transfer_ids_touching(runtime, source) == []
    assert await balance(runtime, source) == 10500
    # while a new key goes through (the funds really are there now)
    retried = transfer_request(str(uuid.uuid4()), source, destination, "10.00")
    await create(runtime, alice, retried)
    assert await balance(runtime, source) == 9500


@pytest.mark.parametrize("change", ["amount", "destination", "memo"])
async def test_same_key_with_a_different_request_is_key_reused(
    runtime: Runtime, world: World, change: str
) -> None:
    # given a transfer made with key K
    alice, bob, carol = await world.person(), await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    other = await world.account(carol, "USD")
    key = str(uuid.uuid4())
    first = await create(runtime, alice, transfer_request(key, source, destination, "10.00"))
    changed = {
        "amount": transfer_request(key, source, destination, "10.01"),
        "destination": transfer_request(key, source, other, "10.00"),
        "memo": transfer_request(key, source, destination, "10.00", memo="changed"),
    }[change]
    # when K is sent with a changed request
    with pytest.raises(DomainError) as caught:
        await create(runtime, alice, changed)
    # then
    assert caught.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert caught.value.field == "idempotencyKey"
    assert await transfer_ids_touching(runtime, source) == [first.id]
    assert await balance(runtime, source) == 9000
    assert await balance(runtime, other) == 0


async def test_keys_are_scoped_to_the_actor(runtime: Runtime, world: World) -> None:
    # given two customers who happen to pick the same key
    alice, bob = await world.person(), await world.person()
    alice_account = await world.account(alice, "USD", funds="50.00")
    bob_account = await world.account(bob, "USD", funds="50.00")
    key = str(uuid.uuid4())
    # when each sends money with it
    from_alice = await create(
        runtime, alice, transfer_request(key, alice_account, bob_account, "10.00")
    )
    from_bob = await create(runtime, bob, transfer_request(key, bob_account, alice_account, "3.00"))
    # then both transfers happened, independently
    assert from_alice.id != from_bob.id
    assert from_bob.from_account_id == bob_account.id
    assert await balance(runtime, alice_account) == 5000 - 1000 + 300
    assert await balance(runtime, bob_account) == 5000 + 1000 - 300


async def test_concurrent_duplicates_post_exactly_one_transfer(
    runtime: Runtime, world: World
) -> None:
    # given a funded account and one request the client fires ten times at once
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    request = transfer_request(str(uuid.uuid4()), source, destination, "25.00")
    # when
    outcomes = await asyncio.gather(
        *(create(runtime, alice, request) for _ in range(10)), return_exceptions=True
    )
    # then one transfer was posted, and each duplicate got it or was told to retry
    posted = await transfer_ids_touching(runtime, source)
    assert len(posted) == 1
    results = [outcome for outcome in outcomes if isinstance(outcome, Transfer)]
    failures = [outcome for outcome in outcomes if not isinstance(outcome, Transfer)]
    assert results, failures
    assert {result.id for result in results} == set(posted)
    for failure in failures:
        assert isinstance(failure, DomainError), repr(failure)
        assert failure.code is ErrorCode.IDEMPOTENCY_IN_PROGRESS
    assert await balance(runtime, source) == 7500
    assert await balance(runtime, destination) == 2500


async def test_concurrent_duplicates_of_a_failing_request_all_fail_alike(
    runtime: Runtime, world: World
) -> None:
    # given a request the account cannot cover, fired ten times at once
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="1.00")
    destination = await world.account(bob, "USD")
    request = transfer_request(str(uuid.uuid4()), source, destination, "2.00")
    # when
    outcomes = await asyncio.gather(
        *(create(runtime, alice, request) for _ in range(10)), return_exceptions=True
    )
    # then every attempt failed, with the stored failure or a retry hint, and nothing moved
    codes = set()
    for outcome in outcomes:
        assert isinstance(outcome, DomainError), repr(outcome)
        codes.add(outcome.code)
    assert ErrorCode.INSUFFICIENT_FUNDS in codes
    assert codes <= {ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.IDEMPOTENCY_IN_PROGRESS}
    assert await transfer_ids_touching(runtime, source) == []
    assert await balance(runtime, source) == 100


async def test_key_held_by_an_in_flight_request_is_in_progress(
    runtime: Runtime, world: World
) -> None:
    # given a server whose lock waits are short, and another transaction holding key K
    # (as a first request still in flight would) without committing
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "USD")
    request = transfer_request(str(uuid.uuid4()), source, destination, "5.00")
    impatient = build_runtime(
        runtime.settings.model_copy(update={"db_lock_timeout_ms": 200}),
        runtime.settings.database_url or "",
    )
    try:
        async with runtime.database.engine.connect() as in_flight:
            await in_flight.execute(
                text(
                    "INSERT INTO idempotency_keys (actor_id, key, fingerprint, expires_at)"
                    " VALUES (:actor, :key, 'first request', now() + interval '2 days')"
                ),
                {"actor": alice.user.id, "key": request.idempotency_key},
            )
            # when the duplicate arrives while K is held
            with pytest.raises(DomainError) as caught:
                await create(impatient, alice, request)
            # and the first request then dies without committing
            await in_flight.rollback()
        retried = await create(impatient, alice, request)
    finally:
        await impatient.close()
    # then the duplicate was told to retry, and the retry went through once
    assert caught.value.code is ErrorCode.IDEMPOTENCY_IN_PROGRESS
    assert caught.value.field == "idempotencyKey"
    assert await transfer_ids_touching(runtime, source) == [retried.id]
    assert await balance(runtime, source) == 4500


async def test_invalid_input_does_not_use_up_the_key(runtime: Runtime, world: World) -> None:
    # given a request refused for a malformed amount under key K
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "USD")
    key = str(uuid.uuid4())
    with pytest.raises(DomainError) as invalid:
        await create(runtime, alice, transfer_request(key, source, destination, "1e3"))
    # when the client corrects the amount and retries with K
    transfer = await create(runtime, alice, transfer_request(key, source, destination, "10.00"))
    # then the corrected request is carried out
    assert invalid.value.code is ErrorCode.INVALID_AMOUNT
    assert invalid.value.field == "amount.amount"
    assert transfer.amount == 1000
    assert await balance(runtime, source) == 4000


async def test_deposits_are_idempotent(runtime: Runtime, world: World) -> None:
    # given an operator's deposit made with key K
    alice, operator = await world.person(), await world.person(Role.OPERATOR)
    account = await world.account(alice, "USD")
    key = str(uuid.uuid4())
    request = transfers.DepositRequest(key, account.id, "40.00", "USD", reference="wire 123")
    first = await deposit(runtime, operator, request)
    # when it is replayed, and then K is reused for a different amount
    replayed = await deposit(runtime, operator, request)
    changed = transfers.DepositRequest(key, account.id, "41.00", "USD", reference="wire 123")
    with pytest.raises(DomainError) as caught:
        await deposit(runtime, operator, changed)
    # then the replay is the same deposit, the change is refused, and the money came in once
    assert replayed == first
    assert caught.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await balance(runtime, account) == 4000


async def test_concurrent_duplicate_deposits_credit_once(runtime: Runtime, world: World) -> None:
    # given one deposit request fired five times at once
    alice, operator = await world.person(), await world.person(Role.OPERATOR)
    account = await world.account(alice, "EUR")
    request = transfers.DepositRequest(str(uuid.uuid4()), account.id, "9.99", "EUR")
    # when
    outcomes = await asyncio.gather(
        *(deposit(runtime, operator, request) for _ in range(5)), return_exceptions=True
    )
    # then
    ids = {outcome.id for outcome in outcomes if isinstance(outcome, Transfer)}
    assert len(ids) == 1
    for outcome in outcomes:
        if not isinstance(outcome, Transfer):
            assert isinstance(outcome, DomainError), repr(outcome)
            assert outcome.code is ErrorCode.IDEMPOTENCY_IN_PROGRESS
    assert await balance(runtime, account) == 999


async def test_expired_key_is_taken_by_a_new_request(runtime: Runtime, world: World) -> None:
    # given a key whose stored record expired (written straight into the table, a day old)
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="50.00")
    destination = await world.account(bob, "USD")
    key = str(uuid.uuid4())
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO idempotency_keys (actor_id, key, fingerprint, result, created_at,"
                " expires_at) VALUES (:actor, :key, 'old request', CAST(:result AS jsonb),"
                " now() - interval '49 hours', now() - interval '1 hour')"
            ),
            {"actor": alice.user.id, "key": key, "result": '{"transfer_id": "x"}'},
        )
    # when the key is used for a new request
    transfer = await create(runtime, alice, transfer_request(key, source, destination, "5.00"))
    # then the new request is carried out, not refused as a reuse
    assert await transfer_ids_touching(runtime, source) == [transfer.id]
    assert await balance(runtime, source) == 4500
