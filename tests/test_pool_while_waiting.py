"""A write gives its pooled connection back before it waits on Redis for its post-commit
effects: a burst of writes while Redis is slow must not starve the pool."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from bff.config import Settings
from bff.db.engine import plain_postgres_url
from bff.domain import transfers
from bff.runtime import build_runtime
from tests.conftest import World
from tests.services import RedisServer, require_redis_server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.process.send_signal(signal.SIGCONT)
    server.stop()


async def test_a_write_waiting_on_redis_holds_no_pooled_connection(
    settings: Settings, redis_server: RedisServer
) -> None:
    # given a process whose pool holds one connection, on a Redis of its own
    runtime = build_runtime(
        settings.model_copy(
            update={
                "redis_url": redis_server.url(),
                "db_pool_size": 1,
                "db_max_overflow": 0,
                # Far less than the Redis client's own timeout (0.5 s) that the write waits out.
                "db_pool_timeout_s": 0.1,
            }
        ),
        settings.database_url or "",
    )
    world = World(runtime)
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    target = await world.account(bob, "USD")
    assert redis_server.process is not None
    redis_server.process.send_signal(signal.SIGSTOP)  # Redis stops answering, sockets stay open
    try:
        # when a transfer commits and then waits on Redis to retire the cached balances
        request = transfers.TransferRequest(
            str(uuid.uuid4()), source.id, "1.00", "USD", to_account_id=target.id
        )
        paying = asyncio.create_task(
            transfers.create_transfer(
                runtime.unit_of_work(), alice.actor, request, settings.idempotency_ttl_s
            )
        )

        # Watched on a connection of the test's own: the pool's one is the transfer's.
        observer = await asyncpg.connect(plain_postgres_url(settings.database_url or ""))
        try:
            async with asyncio.timeout(20):
                query = "SELECT balance FROM accounts WHERE id = $1"
                while not await observer.fetchval(query, target.id) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        finally:
            await observer.close()
        # then the pool's one connection is free for the next request meanwhile
        async with runtime.database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    # and once Redis answers again the transfer completes
    async with asyncio.timeout(30):
        await paying
    await runtime.close()
