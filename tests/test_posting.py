"""The posting function on PostgreSQL, seen from the domain API: what travels to the server for a
transfer, and the paths that sending it on the driver connection adds (a lock timeout on an
account, a connection that died in the pool). The rules themselves are held to the domain's in
test_port_contract.py; concurrent duplicates are in test_idempotency.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from bff.domain import transfers
from bff.domain.models import Account, Transfer
from bff.runtime import Runtime, build_runtime
from tests.conftest import Person, World


@pytest.fixture
async def one_connection(runtime: Runtime) -> AsyncIterator[Runtime]:
    """A runtime whose pool holds a single connection, so that every unit of work uses it."""
    settings = runtime.settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_lock_timeout_ms": 200}
    )
    single = build_runtime(settings, settings.database_url or "")
    yield single
    await single.close()


@dataclass
class Pair:
    """Alice's account holding 10.00 and Bob's empty one, both USD."""

    alice: Person
    source: Account
    destination: Account


@pytest.fixture
async def pair(world: World) -> Pair:
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    return Pair(alice, source, await world.account(bob, "USD"))


async def driver_of(runtime: Runtime) -> asyncpg.Connection:
    """The asyncpg connection behind the runtime's only pooled connection."""
    async with runtime.database.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


def one_dollar(pair: Pair) -> transfers.TransferRequest:
    """1.00 from Alice to Bob, under a new key."""
    return transfers.TransferRequest(
        idempotency_key=str(uuid.uuid4()),
        from_account_id=pair.source.id,
        amount="1.00",
        currency="USD",
        to_account_id=pair.destination.id,
    )


async def send(runtime: Runtime, pair: Pair, request: transfers.TransferRequest) -> Transfer:
    return await transfers.create_transfer(
        runtime.unit_of_work(), pair.alice.actor, request, runtime.settings.idempotency_ttl_s
    )


async def balance(runtime: Runtime, account: Account) -> int:
    async with runtime.database.engine.connect() as connection:
        statement = text("SELECT balance FROM accounts WHERE id = :id")
        return int((await connection.execute(statement, {"id": account.id})).scalar_one())


async def test_a_transfer_and_its_replay_are_one_round_trip_each(
    one_connection: Runtime, pair: Pair
) -> None:
    # given a funded account, and a transfer already made once (its statement is prepared)
    await send(one_connection, pair, one_dollar(pair))
    # and everything sent to the server counted: statements through SQLAlchemy, and those
    # sent on the driver itself (where BEGIN and COMMIT go too)
    through_sqlalchemy: list[str] = []
    on_the_driver: list[str] = []

    def count_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_sqlalchemy.append(statement)

    engine = one_connection.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count_statement)
    driver = await driver_of(one_connection)
    driver.add_query_logger(lambda record: on_the_driver.append(record.query))
    # when Alice sends money, and the app retries that request
    request = one_dollar(pair)
    try:
        sent = await send(one_connection, pair, request)
        replayed = await send(one_connection, pair, request)
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    await asyncio.sleep(0)  # asyncpg calls query loggers soon after each query, not during it
    # then each was one statement, the posting function, with no BEGIN nor COMMIT around it
    assert through_sqlalchemy == []
    assert len(on_the_driver) == 2
    assert all("post_transfer(" in query for query in on_the_driver), on_the_driver
    assert replayed == sent
    assert await balance(one_connection, pair.source) == 800


async def test_an_account_locked_past_the_lock_timeout_is_retried(
    runtime: Runtime, one_connection: Runtime, pair: Pair
) -> None:
    # given Bob's account locked by another transaction for longer than the lock timeout
    # (200 ms here), which then ends
    async with runtime.database.engine.connect() as other:
        await other.execute(
            text("SELECT 1 FROM accounts WHERE id = :id FOR UPDATE"), {"id": pair.destination.id}
        )
        # when Alice sends money to it meanwhile
        sending = asyncio.create_task(send(one_connection, pair, one_dollar(pair)))
        await asyncio.sleep(0.3)
        await other.rollback()
        sent = await sending
    # then the timed-out attempt was retried, and the retry posted once
    assert sent.to_account_id == pair.destination.id
    assert await balance(one_connection, pair.destination) == 100


async def test_a_connection_that_died_in_the_pool_is_replaced_by_the_retry(
    runtime: Runtime, one_connection: Runtime, pair: Pair
) -> None:
    # given the pool's only connection, ended by the server while it sat in the pool
    await send(one_connection, pair, one_dollar(pair))
    dead = await driver_of(one_connection)
    async with runtime.database.engine.connect() as admin:
        await admin.execute(
            text("SELECT pg_terminate_backend(:pid)"), {"pid": dead.get_server_pid()}
        )
    # when Alice sends money (twice, the second time on whatever the pool holds then)
    first = await send(one_connection, pair, one_dollar(pair))
    second = await send(one_connection, pair, one_dollar(pair))
    # then the attempt on the dead connection was retried on a new one, which stayed pooled
    assert first.id != second.id
    assert await balance(one_connection, pair.destination) == 300
    assert await driver_of(one_connection) is not dead
