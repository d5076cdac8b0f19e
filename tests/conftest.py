"""Shared fixtures: one migrated database per run, the app over ASGI, and a world builder."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import event

from bff.app import create_app
from bff.config import Settings
from bff.db import migrate
from bff.domain import accounts, transfers, users
from bff.domain.actor import Actor
from bff.domain.models import Account, User
from bff.domain.rbac import Role
from bff.runtime import Runtime, build_runtime
from tests.database import fresh_database, require_redis
from tests.servers import Server, serving
from tests.services import stop_suite_redis

PASSWORD = "correct horse battery staple"


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_suite_redis()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(tmp_path_factory.mktemp("pg")) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        db_pool_size=20,
        db_max_overflow=20,
        # The whole suite comes from one address, with documents of its own making: budgets
        # that only the rate-limit tests reach, and no penalty for refusals in a row (the
        # suite's refused documents are its tests; tests of the limits set their own).
        rate_limit_login=100_000,
        rate_limit_money=100_000,
        rate_limit_mutations=100_000,
        cost_anonymous_bucket=100_000_000,
        cost_anonymous_restore_rate=100_000_000,
        cost_refusal_strikes=0,
        # The suite sends documents of its own making: any text runs (tests of trusted mode
        # switch it on for themselves).
        documents_mode="open",
        # Screening would hold the suite's bursts of transfers for review; the fraud tests
        # switch it on for themselves, with a model of their own.
        fraud_screening=False,
        # A loaded test machine lags every event loop and the load tests run many requests at
        # once: shedding would refuse their reads (tests/test_load_shedding.py sets its own).
        shed_max_in_flight=100_000,
        shed_max_loop_lag_ms=600_000,
    )


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings, settings.database_url or "")
    yield runtime
    await runtime.close()


def asgi_client(
    runtime: Runtime, host: str = "testserver", compiled: bool | None = None
) -> httpx.AsyncClient:
    """A client of the app served by `runtime`, in process (one "server process" per runtime);
    `compiled` picks the executor queries run on (None: as the settings say)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime, compiled)),
        base_url=f"http://{host}",
    )


@pytest.fixture
def compiled(request: pytest.FixtureRequest) -> bool | None:
    """Which executor queries run on. A module runs on both with
    `pytestmark = pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)`."""
    return getattr(request, "param", None)


BOTH_EXECUTORS = [pytest.param(True, id="compiled"), pytest.param(False, id="graphql-core")]


@asynccontextmanager
async def runtime_on(
    settings: Settings, redis_url: str | None, **update: object
) -> AsyncIterator[Runtime]:
    """A runtime on process memory only, or on a real Redis (flushed first), with `update`
    applied to the settings."""
    if redis_url:
        await require_redis(redis_url)
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()
    update["redis_url"] = redis_url
    runtime = build_runtime(settings.model_copy(update=update), settings.database_url or "")
    try:
        yield runtime
    finally:
        await runtime.close()


@asynccontextmanager
async def fresh_runtime(
    settings: Settings, scratch: Path, **update: object
) -> AsyncIterator[tuple[str, Runtime]]:
    """A runtime on a database of its own, new and migrated (its URL beside it), with `update`
    applied to the settings."""
    async with fresh_database(scratch) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        runtime = build_runtime(settings.model_copy(update={**update, "database_url": url}), url)
        try:
            yield url, runtime
        finally:
            await runtime.close()


ServerStarter = Callable[[str, Mapping[str, str]], AbstractAsyncContextManager[Server]]


@pytest.fixture(scope="module")
def one_server(
    settings: Settings, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> ServerStarter:
    """Starts a `bff serve` of a test module's own on the suite's database, with the key ring of
    the test process (its tokens verify there): `async with one_server(name, env) as server`."""
    log_dir = tmp_path_factory.mktemp("servers")

    def start(name: str, env: Mapping[str, str]) -> AbstractAsyncContextManager[Server]:
        return serving(
            name, database_url=database_url, data_dir=settings.data_dir, log_dir=log_dir, env=env
        )

    return start


@pytest.fixture
async def client(runtime: Runtime, compiled: bool | None) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(runtime, compiled=compiled) as http:
        yield http


@dataclass
class Person:
    user: User
    token: str

    @property
    def actor(self) -> Actor:
        return Actor(self.user.id, self.user.roles)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


class World:
    """Builds users, accounts and money through the domain API, for tests to act on."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._operator: Person | None = None

    async def person(self, *roles: Role) -> Person:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        command = users.SignUp(email, PASSWORD, "Test Person")
        user = await users.provision_user(
            self.runtime.unit_of_work(), command, frozenset(roles or (Role.CUSTOMER,))
        )
        return await self.log_in(user)

    async def log_in(self, user: User) -> Person:
        settings = self.runtime.settings
        logged_in = await users.log_in(
            self.runtime.unit_of_work(),
            users.LogIn(user.email, PASSWORD, "pytest", "127.0.0.1"),
            settings.session_policy,
            settings.throttle_policy,
        )
        return Person(user, self.runtime.tokens.issue(user.id, logged_in.session.id))

    async def account(
        self, owner: Person, currency: str = "USD", funds: str | None = None
    ) -> Account:
        account = await accounts.open_account(
            self.runtime.unit_of_work(), owner.actor, "Test account", currency
        )
        if funds is not None:
            await self.deposit(account, funds)
        return account

    async def deposit(self, account: Account, amount: str) -> None:
        if self._operator is None:
            self._operator = await self.person(Role.OPERATOR)
        request = transfers.DepositRequest(str(uuid.uuid4()), account.id, amount, account.currency)
        await transfers.deposit_funds(
            self.runtime.unit_of_work(),
            self._operator.actor,
            request,
            self.runtime.settings.idempotency_ttl_s,
        )


@pytest.fixture
def world(runtime: Runtime) -> World:
    return World(runtime)


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    person: Person | None = None,
) -> dict[str, Any]:
    """POST a GraphQL document; returns the decoded JSON body (whatever the status)."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=person.headers if person else {},
    )
    return response.json()  # type: ignore[no-any-return]


class StatementCounter:
    """Counts SQL statements sent through the runtime's engine while active."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


@pytest.fixture
def sql_statements(runtime: Runtime) -> Any:
    counter = StatementCounter()
    engine = runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
