"""A PostgreSQL outage is answered, from every layer, as one thing: HTTP 503 with `Retry-After`
and a GraphQL error `SERVICE_UNAVAILABLE` carrying the request id; nothing waits unbounded on a
paused server; and the service works again by itself when the server is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.app import READY_TIMEOUT_S, create_app
from bff.config import Settings
from bff.db import migrate
from bff.domain import transfers
from bff.domain.errors import ServiceUnavailable
from bff.runtime import Runtime, build_runtime
from tests.conftest import Person, World
from tests.postgres_cluster import PostgresCluster, own_cluster

VIEWER = "{ viewer { id } }"
SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { user { id } userErrors { code } } }
"""
# Generous: what matters is that an answer comes, not how fast (the bounds below are ~1 s).
ANSWER_WITHIN_S = 15.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with own_cluster() as cluster:
        migrate.upgrade(cluster.url)
        yield cluster


@pytest.fixture(autouse=True)
def server_up_afterwards(cluster: PostgresCluster) -> Iterator[None]:
    yield
    cluster.ensure_running()


@pytest.fixture
async def runtime(cluster: PostgresCluster, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=cluster.url,
        data_dir=tmp_path,
        session_cache_ttl_s=0,  # every request asks PostgreSQL whether its session is live
        db_connect_timeout_s=0.5,
        # Longer than /readyz's own bound, which must not wait for it.
        db_command_timeout_s=4.0,
        db_pool_timeout_s=1.0,
    )
    runtime = build_runtime(settings, cluster.url)
    yield runtime
    await runtime.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    person: Person | None = None,
) -> httpx.Response:
    async with asyncio.timeout(ANSWER_WITHIN_S):
        return await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=person.headers if person else {},
        )


def assert_service_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert error["extensions"]["retryAfter"] == int(response.headers["retry-after"])
    for leak in ("asyncpg", "sqlalchemy", "refused", "Traceback", "127.0.0.1"):
        assert leak.lower() not in response.text.lower()


def sign_up_input() -> dict[str, Any]:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    return {"input": {"email": email, "password": "long enough password", "displayName": "N"}}


# --- a stopped server -----------------------------------------------------------------------


async def test_a_stopped_database_is_service_unavailable_from_every_layer(
    cluster: PostgresCluster, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # given a customer with a live session, and then a stopped database
    alice = await World(runtime).person()
    cluster.stop()
    # when the customer reads (authentication must look the session up first), someone signs
    # up (a write through the unit of work), and a probe asks whether the service is ready
    read = await post(client, VIEWER, person=alice)
    sign_up = await post(client, SIGN_UP, sign_up_input())
    ready = await client.get("/readyz")
    # then each is the same typed outage
    assert_service_unavailable(read)
    assert_service_unavailable(sign_up)
    assert ready.status_code == 503
    # and when the database is back, so is the service, with no restart of ours
    cluster.start()
    read = await post(client, VIEWER, person=alice)
    assert read.status_code == 200
    assert read.json()["data"]["viewer"]["id"]


async def test_a_restart_is_invisible_to_a_read_after_it(
    cluster: PostgresCluster, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # given a customer who has read once (the pool keeps the connection), then a restart
    alice = await World(runtime).person()
    assert (await post(client, VIEWER, person=alice)).status_code == 200
    await cluster.restart_async("fast")
    # when the customer reads again, over a pooled connection the restart broke
    read = await post(client, VIEWER, person=alice)
    # then the session look-up was retried on a fresh connection, unseen
    assert read.status_code == 200, read.text
    assert read.json()["data"]["viewer"]["id"]


# --- a paused server ------------------------------------------------------------------------


async def test_a_paused_database_is_answered_within_the_bounds(
    cluster: PostgresCluster, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # given a customer with a live session, and a database that stops answering (SIGSTOP)
    alice = await World(runtime).person()
    assert (await post(client, VIEWER, person=alice)).status_code == 200
    cluster.pause()
    try:
        # when the service is probed, and the customer reads
        started = time.monotonic()
        async with asyncio.timeout(ANSWER_WITHIN_S):
            ready = await client.get("/readyz")
        ready_s = time.monotonic() - started
        started = time.monotonic()
        read = await post(client, VIEWER, person=alice)
        read_s = time.monotonic() - started
    finally:
        cluster.resume()
    print(f"paused database: /readyz answered in {ready_s:.2f} s, a read in {read_s:.2f} s")
    # then the probe says "not ready" at its own bound, not the database's
    assert ready.status_code == 503
    assert ready_s < READY_TIMEOUT_S + 2
    # and the read is a typed outage
    assert_service_unavailable(read)
    # and once the database answers again, so does the service
    for _ in range(50):
        read = await post(client, VIEWER, person=alice)
        if read.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert read.json()["data"]["viewer"]["id"]
    assert (await client.get("/readyz")).status_code == 200


# --- money writes retry, the others do not ---------------------------------------------------


async def test_a_transfer_is_retried_over_connections_a_restart_broke(
    cluster: PostgresCluster, runtime: Runtime
) -> None:
    # given two accounts, and a pool whose every connection a restart has broken
    world = World(runtime)
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, funds="10.00")
    target = await world.account(bob)
    await cluster.restart_async("fast")
    # when alice sends money through the domain
    request = transfers.TransferRequest(
        idempotency_key=str(uuid.uuid4()),
        from_account_id=source.id,
        amount="1.00",
        currency="USD",
        to_account_id=target.id,
    )
    transfer = await transfers.create_transfer(
        runtime.unit_of_work(), alice.actor, request, runtime.settings.idempotency_ttl_s
    )
    # then it went through, without the caller seeing the broken connection
    assert transfer.amount == 100


async def test_a_transfer_gives_up_when_the_database_stays_down(
    cluster: PostgresCluster, runtime: Runtime
) -> None:
    # given an account, and then a stopped database
    world = World(runtime)
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, funds="10.00")
    target = await world.account(bob)
    cluster.stop()
    request = transfers.TransferRequest(
        idempotency_key=str(uuid.uuid4()),
        from_account_id=source.id,
        amount="1.00",
        currency="USD",
        to_account_id=target.id,
    )
    # when alice sends money
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        await transfers.create_transfer(
            runtime.unit_of_work(), alice.actor, request, runtime.settings.idempotency_ttl_s
        )
    # then the retries were bounded, and the caller hears of the outage
    assert time.monotonic() - started < ANSWER_WITHIN_S
