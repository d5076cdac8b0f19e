"""Rate limits per actor and per address, per class of operation, in memory and in Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bff.app import create_app
from bff.config import Settings
from bff.runtime import Runtime, build_runtime
from schema.ids import encode_id
from tests.conftest import PASSWORD, World, runtime_on
from tests.documents import CREATE_TRANSFER, LOGIN, VIEWER_ID
from tests.services import suite_redis_url

Budgets = dict[str, int]


@asynccontextmanager
async def limited_runtime(
    settings: Settings, backend: str, **budgets: float
) -> AsyncIterator[Runtime]:
    redis_url = suite_redis_url(12) if backend == "redis" else None
    async with runtime_on(settings, redis_url, **budgets) as runtime:
        yield runtime


@asynccontextmanager
async def client_from(runtime: Runtime, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime), client=(address, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str = ""
) -> httpx.Response:
    # Asking for `extensions.cost`, which shows the bucket.
    headers = {"x-query-cost": "1", **({"authorization": f"Bearer {token}"} if token else {})}
    return await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def limited(response: httpx.Response) -> bool:
    errors = response.json().get("errors") or []
    return any(error["extensions"]["code"] == "RATE_LIMITED" for error in errors)


def login_input(email: str) -> dict[str, Any]:
    return {"input": {"email": email, "password": "wrong password 123", "deviceName": "t"}}


def address() -> str:
    return f"10.77.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


backends = pytest.mark.parametrize("backend", ["memory", "redis"])


@backends
async def test_login_attempts_beyond_the_budget_are_rate_limited(
    settings: Settings, backend: str
) -> None:
    # given a budget of 3 login attempts per address per window
    async with (
        limited_runtime(
            settings, backend, rate_limit_login=3, rate_limit_address_factor=1
        ) as runtime,
        client_from(runtime, address()) as http,
    ):
        # when 4 attempts arrive
        responses = [
            await post(http, LOGIN, login_input(f"{uuid.uuid4().hex}@example.com"))
            for _ in range(4)
        ]
    # then the 4th is refused with 429, a retry time, and no execution
    assert [limited(response) for response in responses] == [False, False, False, True]
    refused = responses[-1]
    assert refused.status_code == 429
    [error] = refused.json()["errors"]
    assert 0 < error["extensions"]["retryAfter"] <= settings.rate_limit_window_s
    assert refused.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    assert "data" not in refused.json()  # a request error: it never ran


@backends
async def test_aliased_logins_in_one_document_each_spend_budget(
    settings: Settings, backend: str
) -> None:
    # given a budget of 3 login attempts
    aliased = (
        "mutation {"
        + "".join(
            f' a{i}: login(input: {{email: "x{i}@example.com", password: "p", deviceName: "d"}})'
            " { userErrors { code } }"
            for i in range(4)
        )
        + " }"
    )
    async with (
        limited_runtime(
            settings, backend, rate_limit_login=3, rate_limit_address_factor=1
        ) as runtime,
        client_from(runtime, address()) as http,
    ):
        # when one document holds 4 aliased logins
        response = await post(http, aliased)
    # then the document is refused as a whole
    assert limited(response)


@backends
async def test_money_writes_have_their_own_budget_per_actor(
    settings: Settings, backend: str
) -> None:
    # given a budget of 2 transfers per actor
    async with limited_runtime(settings, backend, rate_limit_money=2) as runtime:
        world = World(runtime)
        alice, bob = await world.person(), await world.person()
        source = await world.account(alice, "USD", funds="10.00")
        target = await world.account(bob, "USD")

        def transfer() -> dict[str, Any]:
            return {
                "input": {
                    "idempotencyKey": str(uuid.uuid4()),
                    "fromAccountId": encode_id("Account", source.id),
                    "toAccountId": encode_id("Account", target.id),
                    "amount": {"amount": "1.00", "currency": "USD"},
                }
            }

        async with client_from(runtime, address()) as http:
            # when alice makes 3 transfers, then reads her profile
            results = [await post(http, CREATE_TRANSFER, transfer(), alice.token) for _ in range(3)]
            reading = await post(http, VIEWER_ID, token=alice.token)
    # then the third transfer is refused, but reading is another budget
    assert [limited(result) for result in results] == [False, False, True]
    assert reading.json()["data"]["viewer"]["id"]


@backends
async def test_queries_spend_by_their_cost(settings: Settings, backend: str) -> None:
    # given a bucket of 40 points per user besides reading the small document (new to the
    # process: a point per character, once), refilling too slowly to matter here
    big = "{ viewer { accounts(first: 50) { edges { node { id } } } } }"  # 1 + 1 + 50 objects
    async with limited_runtime(
        settings, backend, cost_bucket=40 + len(VIEWER_ID), cost_restore_rate=0.001
    ) as runtime:
        alice = await World(runtime).person()
        async with client_from(runtime, address()) as http:
            # when small queries (1 point: one object) are made, then one of 52 points
            small = [await post(http, VIEWER_ID, token=alice.token) for _ in range(5)]
            large = await post(http, big, token=alice.token)
    # then the small ones pass and the large one is refused, saying when it would fit
    assert not any(limited(response) for response in small)
    assert limited(large)
    assert large.status_code == 429
    [error] = large.json()["errors"]
    assert large.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    assert small[-1].json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 35


@backends
async def test_a_response_served_from_the_cache_still_spends_budget(
    settings: Settings, backend: str
) -> None:
    # given a bucket of 2 points per user besides reading the document once, and the response
    # cache on
    async with limited_runtime(
        settings, backend, cost_bucket=2 + len(VIEWER_ID), cost_restore_rate=0.001
    ) as runtime:
        alice = await World(runtime).person()
        async with client_from(runtime, address()) as http:
            # when the same 1-point query is sent three times (the second answered from cache)
            results = [await post(http, VIEWER_ID, token=alice.token) for _ in range(3)]
    # then the third goes over the budget all the same
    assert [limited(result) for result in results] == [False, False, True]
    assert runtime.responses is not None
    assert runtime.responses.stats.hits == 1


async def test_limits_are_shared_by_all_processes(settings: Settings) -> None:
    # given two server processes' runtimes on the same Redis, with 3 logins per address
    async with (
        limited_runtime(settings, "redis", rate_limit_login=3, rate_limit_address_factor=1) as one,
        limited_runtime(settings, "redis", rate_limit_login=3, rate_limit_address_factor=1) as two,
    ):
        client = address()
        async with client_from(one, client) as first, client_from(two, client) as second:
            # when the attempts alternate between them
            responses = [
                await post(http, LOGIN, login_input(f"{uuid.uuid4().hex}@example.com"))
                for http in (first, second, first, second)
            ]
    # then the budget was one
    assert [limited(response) for response in responses] == [False, False, False, True]


async def test_logins_fail_closed_and_reads_fail_open_without_redis(settings: Settings) -> None:
    # given a server whose Redis is unreachable
    runtime = build_runtime(
        settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}),
        settings.database_url or "",
    )
    world_runtime = build_runtime(settings, settings.database_url or "")
    try:
        alice = await World(world_runtime).person()
        async with client_from(runtime, address()) as http:
            # when someone logs in and someone reads
            login = await post(
                http,
                LOGIN,
                {"input": {"email": alice.user.email, "password": PASSWORD, "deviceName": "t"}},
            )
            reading = await post(http, VIEWER_ID, token=alice.token)
    finally:
        await runtime.close()
        await world_runtime.close()
    # then the login is refused as an outage (we cannot count attempts), not as the caller's
    # excess, and the read is served
    assert login.status_code == 503
    assert login.headers["retry-after"] == "5"
    [error] = login.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["retryAfter"] == 5
    assert not limited(login)
    assert reading.json()["data"]["viewer"]["id"]
