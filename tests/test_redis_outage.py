"""Stopping Redis under load costs no failed request, and the cache comes back by itself."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bff.app import create_app
from bff.config import Settings
from bff.domain import transfers
from bff.runtime import build_runtime
from schema.ids import encode_id
from tests.conftest import World, graphql
from tests.documents import CREATE_TRANSFER, HOME
from tests.services import RedisServer, require_redis_server

LOAD_S = 30.0
STOP_AT_S = 8.0
RESTART_AT_S = 20.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_stopping_redis_under_load_fails_no_request(
    settings: Settings, redis_server: RedisServer
) -> None:
    # given a server on our own Redis (buckets that closed-loop clients cannot empty), and
    # customers with money
    unlimited = {"cost_bucket": 10**9, "cost_restore_rate": 10.0**9}
    runtime = build_runtime(
        settings.model_copy(update={"redis_url": redis_server.url(), **unlimited}),
        settings.database_url or "",
    )
    world = World(runtime)
    people = [await world.person() for _ in range(4)]
    accounts = [await world.account(person, "USD", funds="1000.00") for person in people]
    failures: list[str] = []
    started = time.monotonic()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def customer(index: int) -> None:
            person, source = people[index], accounts[index]
            target = accounts[(index + 1) % len(accounts)]
            while time.monotonic() - started < LOAD_S:
                home = await graphql(client, HOME, person=person)
                if "errors" in home:
                    failures.append(str(home["errors"]))
                payment = await graphql(
                    client,
                    CREATE_TRANSFER,
                    {
                        "input": {
                            "idempotencyKey": str(uuid.uuid4()),
                            "fromAccountId": encode_id("Account", source.id),
                            "toAccountId": encode_id("Account", target.id),
                            "amount": {"amount": "0.01", "currency": "USD"},
                        }
                    },
                    person,
                )
                if "errors" in payment or payment["data"]["createTransfer"]["userErrors"]:
                    failures.append(str(payment))

        async def outage() -> None:
            await asyncio.sleep(STOP_AT_S)
            redis_server.stop()
            await asyncio.sleep(RESTART_AT_S - STOP_AT_S)
            redis_server.start()

        assert runtime.cache is not None
        # when Redis is killed in the middle of 30 s of reads and writes, then restarted
        await asyncio.gather(outage(), *(customer(index) for index in range(len(people))))
        hits_before = runtime.cache.stats.hits
        final = [await graphql(client, HOME, person=person) for person in people]
    await runtime.close()
    # then no request failed, the cache was in use again after the restart, and the balances
    # the cache serves are the database's
    assert failures == []
    assert runtime.cache.stats.errors > 0
    assert runtime.cache.stats.hits > hits_before
    total = sum(
        float(body["data"]["viewer"]["accounts"]["edges"][0]["node"]["balance"]["amount"])
        for body in final
    )
    assert round(total, 2) == 4000.00


async def test_the_relay_survives_a_redis_outage(
    settings: Settings, redis_server: RedisServer
) -> None:
    # given a serving process (relay running) on our own Redis
    runtime = build_runtime(
        settings.model_copy(update={"redis_url": redis_server.url()}), settings.database_url or ""
    )
    await runtime.start()
    world = World(runtime)
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    target = await world.account(bob, "USD")

    async def pay_one() -> None:
        request = transfers.TransferRequest(
            str(uuid.uuid4()), source.id, "1.00", "USD", to_account_id=target.id
        )
        await transfers.create_transfer(
            runtime.unit_of_work(), alice.actor, request, settings.idempotency_ttl_s
        )

    async def published(sequence: int) -> bool:
        async with runtime.database.read_engine.connect() as connection:
            row = await connection.execute(
                text(
                    "SELECT published_at IS NOT NULL FROM account_events "
                    "WHERE account_id = :account AND sequence = :sequence"
                ),
                {"account": source.id, "sequence": sequence},
            )
            return bool(row.scalar_one_or_none())

    async def wait_until_published(sequence: int) -> None:
        async with asyncio.timeout(20):
            while not await published(sequence):  # noqa: ASYNC110 (the state is in PostgreSQL)
                await asyncio.sleep(0.1)

    try:
        await pay_one()
        await wait_until_published(2)  # the deposit was 1, this transfer is 2
        # when Redis dies, a transfer commits meanwhile, and Redis comes back
        redis_server.stop()
        await pay_one()
        await asyncio.sleep(2)
        assert not await published(3)
        redis_server.start()
        # then the relay, still alive, publishes the event committed during the outage
        await wait_until_published(3)
    finally:
        await runtime.close()
