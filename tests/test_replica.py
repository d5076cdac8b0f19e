"""Read replicas: history pages come from a streaming replica the test starts itself, except
where the replica has not replayed what the reader has already seen (read-your-writes), while
it lags beyond the setting, or once it has failed; then the primary answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import REGISTRY

from bff.app import create_app
from bff.config import Settings
from bff.db import migrate
from bff.db.replica import ReplicaReads
from bff.domain.models import Account
from bff.runtime import Runtime, build_runtime
from tests.conftest import Person, World
from tests.documents import CREATE_TRANSFER, HISTORY
from tests.graphql_calls import account_id, data, transfer_input
from tests.postgres_cluster import PostgresCluster, own_cluster
from tests.standby import Standby, scalar, wait_replayed

MAX_LAG_S = 0.5


@dataclass
class Replicated:
    primary: PostgresCluster
    standby: Standby


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    with own_cluster() as primary:
        migrate.upgrade(primary.url)
        standby = Standby()
        try:
            standby.create_from(primary)
            standby.start()
            yield Replicated(primary, standby)
        finally:
            standby.destroy()


@pytest.fixture
async def runtime(settings: Settings, replicated: Replicated) -> AsyncIterator[Runtime]:
    """A runtime on the test's primary and its replica; no caches, so every page is read."""
    if not replicated.standby.running:
        replicated.standby.start()
    await scalar(replicated.standby.url, "SELECT pg_wal_replay_resume()")
    configured = settings.model_copy(
        update={
            "database_url": replicated.primary.url,
            "database_replica_url": replicated.standby.url,
            "db_replica_max_lag_s": MAX_LAG_S,
            "cache_enabled": False,
            "db_pool_size": 4,
            "db_max_overflow": 4,
        }
    )
    runtime = build_runtime(configured, replicated.primary.url)
    try:
        yield runtime
    finally:
        await runtime.close()


@dataclass
class Customer:
    person: Person
    source: Account
    target: Account


@pytest.fixture
async def customer(runtime: Runtime, replicated: Replicated) -> Customer:
    world = World(runtime)
    person = await world.person()
    source = await world.account(person, funds="100.00")
    target = await world.account(person)
    await wait_replayed(replicated.primary, replicated.standby)
    await measured(runtime)
    return Customer(person, source, target)


async def measured(runtime: Runtime) -> float | None:
    reads = runtime.database.reads
    assert isinstance(reads, ReplicaReads)
    return await reads.replica.measure_lag()


def reads_from(target: str) -> float:
    return REGISTRY.get_sample_value("bff_db_replica_reads_total", {"target": target}) or 0.0


async def history(runtime: Runtime, customer: Customer) -> list[str]:
    """The source account's transaction descriptions, newest first, through the API."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://t"
    ) as http:
        account = (await data(http, HISTORY, {"id": account_id(customer.source)}, customer.person))[
            "account"
        ]
    return [edge["node"]["id"] for edge in account["transactions"]["edges"]]


async def transfer(runtime: Runtime, customer: Customer) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://t"
    ) as http:
        variables = transfer_input(account_id(customer.source), account_id(customer.target))
        sent = await data(http, CREATE_TRANSFER, variables, customer.person)
    assert sent["createTransfer"]["userErrors"] == []


async def test_history_pages_come_from_a_replica_that_has_caught_up(
    runtime: Runtime, customer: Customer
) -> None:
    # given a replica that has replayed the customer's deposit
    before = reads_from("replica")
    # when the customer reads the history
    entries = await history(runtime, customer)
    # then the replica served it, with the deposit
    assert len(entries) == 1
    assert reads_from("replica") == before + 1


async def test_a_reader_who_just_wrote_reads_the_primary_while_the_replica_is_behind(
    runtime: Runtime, customer: Customer, replicated: Replicated
) -> None:
    # given a replica that stopped replaying (it still answers, with old data)
    await scalar(replicated.standby.url, "SELECT pg_wal_replay_pause()")
    before = reads_from("primary_behind")
    # when the customer sends money and reads the history at once
    await transfer(runtime, customer)
    entries = await history(runtime, customer)
    # then the transfer is in it: the primary answered, since the replica lacks its sequence
    assert len(entries) == 2
    assert reads_from("primary_behind") == before + 1


async def test_a_replica_lagging_beyond_the_setting_is_not_asked(
    runtime: Runtime, customer: Customer, replicated: Replicated
) -> None:
    # given a replica whose replay is paused while the primary commits
    await scalar(replicated.standby.url, "SELECT pg_wal_replay_pause()")
    await transfer(runtime, customer)
    lag = await measured(runtime)
    while lag is not None and lag <= MAX_LAG_S:
        await asyncio.sleep(0.1)
        lag = await measured(runtime)
    before = reads_from("primary_lagging")
    # when the history is read
    entries = await history(runtime, customer)
    # then the primary answers without the replica being asked
    assert len(entries) == 2
    assert reads_from("primary_lagging") == before + 1
    # and once the replica has caught up again, it serves again
    await scalar(replicated.standby.url, "SELECT pg_wal_replay_resume()")
    await wait_replayed(replicated.primary, replicated.standby)
    assert await measured(runtime) == 0
    before = reads_from("replica")
    assert len(await history(runtime, customer)) == 2
    assert reads_from("replica") == before + 1


async def test_reads_fail_over_to_the_primary_when_the_replica_dies(
    runtime: Runtime, customer: Customer, replicated: Replicated
) -> None:
    # given a replica that has just died
    replicated.standby.stop("immediate")
    before = reads_from("primary_failed")
    # when the customer reads the history
    entries = await history(runtime, customer)
    # then the primary answered it, and the replica is left alone for a while
    assert len(entries) == 1
    assert reads_from("primary_failed") == before + 1
    assert await measured(runtime) is None
    before = reads_from("primary_lagging")
    assert len(await history(runtime, customer)) == 1
    assert reads_from("primary_lagging") == before + 1
