"""The per-request floor: a request needs at most one round trip to Redis for everything it
needs there (every rate-limit budget it spends, in one script), and none when it needs nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from bff.config import Settings
from bff.runtime import Runtime
from tests.conftest import World, asgi_client, runtime_on
from tests.documents import CHANGE_PASSWORD, HOME
from tests.services import suite_redis_url

FLOOR = "{ __typename }"


@asynccontextmanager
async def sent_meanwhile(redis: Redis) -> AsyncIterator[list[str]]:
    """The commands clients send Redis while the block runs, in order: each one a round trip (a
    script's own calls, which Redis also reports, are not)."""
    sent: list[str] = []
    start, end = f"start-{uuid4()}", f"end-{uuid4()}"
    async with redis.monitor() as monitor:
        await redis.echo(start)  # what the asking client needs to connect comes before it
        yield sent
        await redis.echo(end)
        commands = monitor.listen()
        async for command in commands:
            if command["command"] == f"ECHO {start}":
                break
        async for command in commands:
            if command["command"] == f"ECHO {end}":
                return
            if command["client_type"] != "lua":
                sent.append(command["command"].split(" ", 1)[0])


@pytest.fixture
async def on_redis(settings: Settings) -> AsyncIterator[tuple[Runtime, Redis]]:
    url = suite_redis_url(14)
    async with runtime_on(settings, url, cache_enabled=False) as runtime:
        redis = Redis.from_url(url)
        try:
            yield runtime, redis
        finally:
            await redis.aclose()


@pytest.mark.parametrize("query", [FLOOR, HOME], ids=["typename", "home"])
async def test_a_query_costs_one_redis_round_trip(
    on_redis: tuple[Runtime, Redis], world: World, query: str
) -> None:
    # given a customer, Redis for the rate limits, and a first request (which loads the script)
    runtime, redis = on_redis
    alice = await world.person()
    async with asgi_client(runtime) as http:
        await http.post("/graphql", json={"query": query}, headers=alice.headers)
        # when she sends the query again
        async with sent_meanwhile(redis) as sent:
            response = await http.post("/graphql", json={"query": query}, headers=alice.headers)
    # then Redis was sent one command for it: the script that takes its cost
    assert response.status_code == 200
    assert sent == ["EVALSHA"]


async def test_without_rate_limits_a_query_costs_no_redis_round_trip(
    settings: Settings, world: World
) -> None:
    # given Redis, but neither rate limits nor caches
    url = suite_redis_url(14)
    async with runtime_on(settings, url, cache_enabled=False, rate_limits_enabled=False) as runtime:
        redis = Redis.from_url(url)
        alice = await world.person()
        # when a query is sent
        async with asgi_client(runtime) as http, sent_meanwhile(redis) as sent:
            response = await http.post("/graphql", json={"query": FLOOR}, headers=alice.headers)
        await redis.aclose()
    # then Redis heard nothing of it
    assert response.json() == {"data": {"__typename": "Query"}}
    assert sent == []


async def test_a_mutation_spends_its_attempts_and_cost_in_one_round_trip(
    on_redis: tuple[Runtime, Redis], world: World
) -> None:
    # given a customer and a first attempt (which loads the script)
    runtime, redis = on_redis
    alice = await world.person()
    wrong = {"input": {"currentPassword": "not-her-password", "newPassword": "n" * 16}}
    body = {"query": CHANGE_PASSWORD, "variables": wrong}
    async with asgi_client(runtime) as http:
        await http.post("/graphql", json=body, headers=alice.headers)
        # when she tries again
        async with sent_meanwhile(redis) as sent:
            response = await http.post("/graphql", json=body, headers=alice.headers)
    # then one script spent the attempt budgets and took the cost
    assert response.json()["data"]["changePassword"]["userErrors"]
    assert sent == ["EVALSHA"]
