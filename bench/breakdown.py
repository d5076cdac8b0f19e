"""Where the CPU of one request goes: figures 1 and 2 explained, measured in one process.

Every line is CPU milliseconds per operation (`time.process_time`), run back to back in this
process through an in-process ASGI client, after a warm-up, with the garbage collector tuned as
the server tunes it. The client's own share is in the first line: a request to `/healthz`.
Nothing here has a target; it shows which layer the missed ratios spend their time in.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event, text

from bench.world import Population, build
from bff.app import create_app
from bff.config import Settings
from bff.db.engine import plain_postgres_url
from bff.domain import transfers
from bff.gc import tune_garbage_collector
from bff.runtime import Runtime, build_runtime

WARMUP, REPEATS = 50, 300
TRIVIAL = "{ viewer { id } }"
LOCK = "SELECT * FROM accounts WHERE id = ANY(:ids) ORDER BY id"  # as the transfer locks
RAW_LOCK = "SELECT * FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id"


async def cpu_ms(operation: Callable[[], Awaitable[Any]], repeats: int = REPEATS) -> float:
    """CPU milliseconds per call of `operation`, after a warm-up."""
    for _ in range(WARMUP):
        await operation()
    started = time.process_time()
    for _ in range(repeats):
        await operation()
    return (time.process_time() - started) / repeats * 1000


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")


async def _graphql(
    http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"breakdown request failed: {response.text[:300]}")


async def round_trips(runtime: Runtime, operation: Callable[[], Awaitable[Any]]) -> float:
    """Statements sent to PostgreSQL per call of `operation` on `runtime`, whose pool must hold
    one connection: those through SQLAlchemy, and those asyncpg sends itself (BEGIN and COMMIT
    among them), once the statements are prepared."""
    await operation()
    sent: list[str] = []

    def through_sqlalchemy(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    async with runtime.database.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    engine = runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    driver.add_query_logger(lambda record: sent.append(record.query))
    try:
        for _ in range(WARMUP):
            await operation()
    finally:
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)
    await asyncio.sleep(0)  # asyncpg calls query loggers soon after each query
    return len(sent) / WARMUP


async def measure(settings: Settings, url: str, home_query: str) -> list[tuple[str, float]]:
    """The CPU per operation of each layer, as (label, ms) rows, and the statements sent to
    PostgreSQL per transfer."""
    from bench.baseline_app import create_app as create_baseline
    from bench.loadgen import TRANSFER_MUTATION

    rows: list[tuple[str, float]] = []
    async with AsyncExitStack() as stack:

        def runtime_with(**update: Any) -> Runtime:
            runtime = build_runtime(settings.model_copy(update=update), url)
            stack.push_async_callback(runtime.close)
            return runtime

        uncached = runtime_with(cache_enabled=False, redis_url=None)
        data_only = runtime_with(response_cache_enabled=False, redis_url=None)
        deployed = runtime_with(redis_url=None)
        population: Population = await build(uncached, viewers=1, customers=2)
        viewer, (payer, payee) = population.viewers[0], population.customers
        tune_garbage_collector()

        http = await stack.enter_async_context(_client(create_app(uncached)))
        rows.append(
            (
                "GET /healthz (the in-process client and ASGI floor)",
                await cpu_ms(lambda: http.get("/healthz")),
            )
        )
        rows.append(
            (
                "{ viewer { id } }: token, session, Strawberry pipeline",
                await cpu_ms(lambda: _graphql(http, viewer.token, TRIVIAL)),
            )
        )
        rows.append(
            (
                "home query, cache off (figure 1's BFF side)",
                await cpu_ms(lambda: _graphql(http, viewer.token, home_query)),
            )
        )
        warm = await stack.enter_async_context(_client(create_app(data_only)))
        rows.append(
            (
                "home query, every row from the data cache: no SQL, all execution",
                await cpu_ms(lambda: _graphql(warm, viewer.token, home_query)),
            )
        )
        cached = await stack.enter_async_context(_client(create_app(deployed)))
        rows.append(
            (
                "home query, from the response cache",
                await cpu_ms(lambda: _graphql(cached, viewer.token, home_query)),
            )
        )
        baseline_app = create_baseline()  # configured by the environment the servers read
        await stack.enter_async_context(baseline_app.router.lifespan_context(baseline_app))
        baseline = await stack.enter_async_context(_client(baseline_app))

        async def hand_written() -> None:
            response = await baseline.post(
                "/home",
                json={"query": home_query},
                headers={"authorization": f"Bearer {viewer.token}"},
            )
            response.raise_for_status()

        rows.append(
            (
                "home query, hand-written endpoint (figure 1's other side)",
                await cpu_ms(hand_written),
            )
        )

        def transfer_input() -> dict[str, Any]:
            return {
                "input": {
                    "idempotencyKey": uuid.uuid4().hex,
                    "fromAccountId": payer.account_ids[0],
                    "toAccountId": payee.account_ids[0],
                    "amount": {"amount": "0.01", "currency": "USD"},
                    "memo": "breakdown",
                }
            }

        rows.append(
            (
                "createTransfer through GraphQL (figure 2's BFF side)",
                await cpu_ms(
                    lambda: _graphql(http, payer.token, TRANSFER_MUTATION, transfer_input())
                ),
            )
        )

        def domain_transfer(runtime: Runtime) -> Callable[[], Awaitable[Any]]:
            async def send() -> None:
                request = transfers.TransferRequest(
                    uuid.uuid4().hex,
                    payer.accounts[0].id,
                    "0.01",
                    "USD",
                    to_account_id=payee.accounts[0].id,
                    memo="breakdown",
                )
                await transfers.create_transfer(
                    runtime.unit_of_work(), payer.actor, request, settings.idempotency_ttl_s
                )

            return send

        rows.append(
            (
                "create_transfer through the domain API only",
                await cpu_ms(domain_transfer(uncached)),
            )
        )
        single = runtime_with(
            cache_enabled=False, redis_url=None, db_pool_size=1, db_max_overflow=0
        )
        rows.append(
            (
                "create_transfer: statements sent to PostgreSQL (count, not ms)",
                await round_trips(single, domain_transfer(single)),
            )
        )

        ids = [account.id for account in payer.accounts]
        statement = text(LOCK)
        async with uncached.database.engine.connect() as connection:

            async def through_sqlalchemy() -> None:
                (await connection.execute(statement, {"ids": ids})).mappings().all()

            rows.append(("one statement through SQLAlchemy", await cpu_ms(through_sqlalchemy)))
        raw = await asyncpg.connect(plain_postgres_url(url))
        try:
            rows.append(
                (
                    "the same statement on asyncpg alone",
                    await cpu_ms(lambda: raw.fetch(RAW_LOCK, ids)),
                )
            )
        finally:
            await raw.close()
    return rows


def run(settings: Settings, url: str, home_query: str) -> None:
    """Print the breakdown (no targets)."""
    print("\n[why 1, 2] CPU per operation, in one process (ms; lower is cheaper)")
    for label, ms in asyncio.run(measure(settings, url, home_query)):
        print(f"  {label:<66}{ms:8.3f}")
