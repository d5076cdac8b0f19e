"""Load shedding by priority, through the endpoint: while the process is saturated (here: one
request held in flight over a threshold of one), heavy reads and introspection are refused with
503, Retry-After and OVERLOADED, while money writes, logins and light reads are served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from bff.config import Settings
from bff.runtime import Runtime
from tests.conftest import BOTH_EXECUTORS, PASSWORD, World, asgi_client, runtime_on
from tests.documents import CREATE_TRANSFER, LOGIN, VIEWER_ACCOUNTS, VIEWER_ID
from tests.graphql_calls import account_id, transfer_input

# A query that costs more than this is a heavy read (VIEWER_ACCOUNTS with 100 accounts does).
HEAVY_COST = 50
HEAVY = {"query": VIEWER_ACCOUNTS, "variables": {"first": 100}}
INTROSPECTION = {"query": "{ __schema { types { name } } }"}

pytestmark = pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)


@pytest.fixture(scope="module")
async def saturable(settings: Settings) -> AsyncIterator[Runtime]:
    # Saturated as soon as a second request is in flight; the loop's lag never decides here.
    async with runtime_on(
        settings,
        None,
        shed_max_in_flight=1,
        shed_max_loop_lag_ms=60_000,
        shed_heavy_cost=HEAVY_COST,
    ) as runtime:
        yield runtime


@pytest.fixture
async def client(saturable: Runtime, compiled: bool | None) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(saturable, compiled=compiled) as http:
        yield http


@pytest.fixture
def world(saturable: Runtime) -> World:
    return World(saturable)


class HeldRequest:
    """A request whose body arrives only when released: in flight all the while."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.release = asyncio.Event()
        self.task = asyncio.create_task(
            client.post(
                "/graphql", content=self._body(), headers={"content-type": "application/json"}
            )
        )

    async def _body(self) -> AsyncIterator[bytes]:
        await self.release.wait()
        yield json.dumps({"query": VIEWER_ID}).encode()

    async def finish(self) -> httpx.Response:
        self.release.set()
        return await self.task


@pytest.fixture
async def saturated(client: httpx.AsyncClient) -> AsyncIterator[None]:
    held = HeldRequest(client)
    # Let it reach the app in process, where it waits for its body (a few loop turns).
    for _ in range(20):
        await asyncio.sleep(0)
    yield
    assert (await held.finish()).status_code == 200


def shed_count(priority: str) -> float:
    return REGISTRY.get_sample_value("bff_requests_shed_total", {"priority": priority}) or 0.0


def codes(response: httpx.Response) -> list[Any]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers or {})


async def test_a_heavy_read_is_refused_with_503_while_saturated(
    client: httpx.AsyncClient, world: World, saturated: None
) -> None:
    # given a saturated process and a customer
    person = await world.person()
    before = shed_count("heavy_read")
    # when they ask for a query over the heavy-read cost
    response = await post(client, HEAVY, person.headers)
    # then it is shed, in the API's error shape, and counted
    assert response.status_code == 503, response.text
    assert codes(response) == ["OVERLOADED"]
    assert response.headers["retry-after"] == "1"
    assert shed_count("heavy_read") == before + 1


async def test_introspection_is_refused_with_503_while_saturated(
    client: httpx.AsyncClient, saturated: None
) -> None:
    before = shed_count("introspection")
    response = await post(client, INTROSPECTION)
    assert response.status_code == 503, response.text
    assert codes(response) == ["OVERLOADED"]
    assert response.headers["retry-after"] == "1"
    assert shed_count("introspection") == before + 1


async def test_money_writes_logins_and_light_reads_are_served_while_saturated(
    client: httpx.AsyncClient, world: World, saturated: None
) -> None:
    # given a saturated process and a customer with money
    person = await world.person()
    source = await world.account(person, funds="10.00")
    destination = await world.account(person)
    # when they move money, log in again and read their own id
    variables = transfer_input(account_id(source), account_id(destination))
    transfer = await post(
        client, {"query": CREATE_TRANSFER, "variables": variables}, person.headers
    )
    login = await post(
        client,
        {
            "query": LOGIN,
            "variables": {"input": {"email": person.user.email, "password": PASSWORD}},
        },
    )
    light = await post(client, {"query": VIEWER_ID}, person.headers)
    # then each is served
    assert transfer.status_code == 200, transfer.text
    assert transfer.json()["data"]["createTransfer"]["transfer"]["status"], transfer.text
    assert login.status_code == 200, login.text
    assert login.json()["data"]["login"]["accessToken"], login.text
    assert light.status_code == 200, light.text


async def test_nothing_is_shed_once_the_load_is_gone(
    client: httpx.AsyncClient, world: World
) -> None:
    # given no request in flight but this one (the control of the tests above)
    person = await world.person()
    # when / then the heavy read and introspection are answered
    assert (await post(client, HEAVY, person.headers)).status_code == 200
    assert (await post(client, INTROSPECTION)).status_code == 200
