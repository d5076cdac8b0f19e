"""Idempotent money writes racing on PostgreSQL: concurrent duplicates and a key held by a
request in flight. The rules (replay, stored failures, a reused key, keys per actor) are in
test_domain_rules.py; claiming and expiry of keys in test_port_contract.py."""

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
    key: str, source: Account, destination: Account, amount: str
) -> transfers.TransferRequest:
    return transfers.TransferRequest(
        idempotency_key=key,
        from_account_id=source.id,
        amount=amount,
        currency=source.currency,
        to_account_id=destination.id,
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
