"""The connection-failure classifier, against a real PostgreSQL that the test stops, restarts,
pauses and crashes: each fault is recognised (and becomes `ServiceUnavailable`), and an answer
from a working server is not."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.config import Settings
from bff.db.engine import create_engine
from bff.db.failures import is_connection_failure, retrying, unavailable_on_connection_failure
from bff.domain.errors import ServiceUnavailable
from tests.postgres_cluster import PostgresCluster, own_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with own_cluster() as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def server_up_afterwards(cluster: PostgresCluster) -> Iterator[None]:
    yield
    cluster.ensure_running()  # whatever the test did to it, the next one finds it up


@pytest.fixture
async def engine(cluster: PostgresCluster, tmp_path: Any) -> AsyncIterator[AsyncEngine]:
    settings = Settings(
        data_dir=tmp_path,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout_s=0.5,
        db_connect_timeout_s=0.5,
        db_command_timeout_s=1.0,
    )
    engine = create_engine(settings, cluster.url)
    yield engine
    await engine.dispose()


async def select(engine: AsyncEngine, sql: str = "SELECT 1") -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar()


async def failure_of(operation: Awaitable[Any]) -> BaseException:
    try:
        await operation
    except Exception as error:
        return error
    raise AssertionError("the operation succeeded")


def assert_unavailable(error: BaseException) -> None:
    assert is_connection_failure(error), repr(error)
    with pytest.raises(ServiceUnavailable) as raised, unavailable_on_connection_failure():
        raise error
    assert raised.value.dependency == "postgresql"
    assert raised.value.__cause__ is error


# --- what each fault raises -----------------------------------------------------------------


async def test_a_stopped_server_refuses_connections(
    cluster: PostgresCluster, engine: AsyncEngine
) -> None:
    # given a stopped server
    cluster.stop()
    # when a connection is asked for
    error = await failure_of(select(engine))
    # then nothing listens, and that is an outage
    assert isinstance(error, ConnectionRefusedError)
    assert_unavailable(error)


async def test_a_fast_shutdown_breaks_pooled_connections(
    cluster: PostgresCluster, engine: AsyncEngine
) -> None:
    # given a pooled connection
    await select(engine)
    # when the server shuts down (fast: sessions are told) and the pool hands it out again
    cluster.stop("fast")
    error = await failure_of(select(engine))
    # then SQLAlchemy reports it invalidated, caused by the server's administrator shutdown
    assert getattr(error, "connection_invalidated", False)
    assert "terminating connection due to administrator command" in str(error)
    assert_unavailable(error)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_restart_breaks_a_statement_under_way(
    cluster: PostgresCluster, engine: AsyncEngine, mode: str
) -> None:
    # given a statement under way
    statement = asyncio.create_task(failure_of(select(engine, "SELECT pg_sleep(5)")))
    await asyncio.sleep(0.3)
    # when the server restarts
    await cluster.restart_async(mode)
    error = await statement
    # then the connection closed in the middle of the statement
    assert "connection was closed in the middle of operation" in str(error)
    assert_unavailable(error)


async def test_a_server_shutting_down_refuses_new_sessions(cluster: PostgresCluster) -> None:
    # given a server in a smart shutdown, waiting for a session to end
    session = await asyncpg.connect(cluster.url)
    try:
        stopping = asyncio.create_task(asyncio.to_thread(cluster.stop, "smart"))
        await asyncio.sleep(0.5)
        # when another session is asked for
        error = await failure_of(asyncpg.connect(cluster.url, timeout=2))
    finally:
        await session.close()
        await stopping
    # then the server says it cannot take connections now (57P03)
    assert isinstance(error, asyncpg.CannotConnectNowError)
    assert_unavailable(error)


async def test_a_terminated_session_is_closed(cluster: PostgresCluster) -> None:
    # given a session that an administrator (or a crash) ends
    session = await asyncpg.connect(cluster.url)
    admin = await asyncpg.connect(cluster.url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", session.get_server_pid())
        await asyncio.sleep(0.2)
        # when it is used
        error = await failure_of(session.fetchval("SELECT 1"))
    finally:
        await admin.close()
        session.terminate()
    # then asyncpg knows it closed
    assert isinstance(error, asyncpg.InterfaceError)
    assert_unavailable(error)


async def test_a_crashed_backend_ends_every_session(
    cluster: PostgresCluster, engine: AsyncEngine
) -> None:
    # given a pooled connection, and another session whose process dies
    await select(engine)
    victim = await asyncpg.connect(cluster.url)
    os.kill(victim.get_server_pid(), signal.SIGKILL)
    await asyncio.sleep(0.5)
    # when the pooled connection is used (the server ended it to recover)
    error = await failure_of(select(engine))
    victim.terminate()
    # then
    assert_unavailable(error)
    await wait_until_up(engine)


async def test_a_paused_server_times_out_connections_and_statements(
    cluster: PostgresCluster, engine: AsyncEngine
) -> None:
    # given a pooled connection, and a server that stops answering
    await select(engine)
    cluster.pause()
    # when the pooled connection is used, and a new one is opened alongside
    pooled, fresh = await asyncio.gather(failure_of(select(engine)), failure_of(select(engine)))
    cluster.resume()
    # then both time out on the client's own bounds (command, connect)
    assert isinstance(pooled, TimeoutError)
    assert isinstance(fresh, TimeoutError)
    assert_unavailable(pooled)
    assert_unavailable(fresh)


async def test_a_server_without_a_free_connection_slot_refuses(cluster: PostgresCluster) -> None:
    # given a role whose one allowed connection is taken (as max_connections would be)
    admin = await asyncpg.connect(cluster.url)
    await admin.execute("CREATE ROLE one_slot LOGIN CONNECTION LIMIT 1")
    limited_url = cluster.url.replace("postgres@", "one_slot@")
    held = await asyncpg.connect(limited_url)
    try:
        # when one more connection is asked for
        error = await failure_of(asyncpg.connect(limited_url))
    finally:
        await held.close()
        await admin.execute("DROP ROLE one_slot")
        await admin.close()
    # then the server refuses it for now (53300)
    assert isinstance(error, asyncpg.TooManyConnectionsError)
    assert_unavailable(error)


async def test_an_exhausted_pool_times_out(engine: AsyncEngine) -> None:
    # given every pooled connection taken
    held = [await engine.connect() for _ in range(2)]
    try:
        # when one more is asked for
        error = await failure_of(select(engine))
    finally:
        for connection in held:
            await connection.close()
    # then
    assert type(error).__module__ == "sqlalchemy.exc"
    assert type(error).__name__ == "TimeoutError"
    assert_unavailable(error)


@pytest.mark.parametrize(
    "sql",
    [
        "SET statement_timeout = 10; SELECT pg_sleep(1)",  # the server's own timeout
        "SELECT * FROM no_such_table",
        "SELECT 1/0",
    ],
)
async def test_answers_of_a_working_server_are_not_outages(engine: AsyncEngine, sql: str) -> None:
    # given a working server
    # when a statement fails on it
    error = await failure_of(_statements(engine, sql))
    # then that is no connection failure, and it passes through untouched
    assert not is_connection_failure(error)
    with pytest.raises(type(error)), unavailable_on_connection_failure():
        raise error


async def _statements(engine: AsyncEngine, sql: str) -> None:
    async with engine.connect() as connection:
        for statement in sql.split(";"):
            await connection.execute(text(statement))


# --- retrying reads -------------------------------------------------------------------------


async def test_a_read_is_retried_across_a_restart(
    cluster: PostgresCluster, engine: AsyncEngine
) -> None:
    # given a pool whose connections a restart has broken
    await select(engine)
    await cluster.restart_async("fast")
    attempts = Counted(lambda: select(engine))
    # when the read is retried
    answer = await retrying(attempts)
    # then the first attempt failed on the stale connection and the second one answered
    assert answer == 1
    assert attempts.calls == 2


async def test_a_read_gives_up_with_service_unavailable(
    cluster: PostgresCluster, engine: AsyncEngine
) -> None:
    # given a stopped server
    cluster.stop()
    attempts = Counted(lambda: select(engine))
    # when the read is retried
    with pytest.raises(ServiceUnavailable):
        await retrying(attempts, attempts=3)
    # then it ran a bounded number of times
    assert attempts.calls == 3


async def test_other_failures_are_not_retried(engine: AsyncEngine) -> None:
    # given a read that fails on a working server
    attempts = Counted(lambda: select(engine, "SELECT 1/0"))
    # when
    with pytest.raises(DBAPIError, match="division by zero"):
        await retrying(attempts)
    # then it ran once, and its error is what the caller sees
    assert attempts.calls == 1


class Counted:
    """An operation that counts its runs."""

    def __init__(self, operation: Callable[[], Awaitable[Any]]) -> None:
        self.operation = operation
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        return await self.operation()


async def wait_until_up(engine: AsyncEngine) -> None:
    for _ in range(100):
        try:
            await select(engine)
            return
        except Exception:  # still recovering
            await asyncio.sleep(0.1)
