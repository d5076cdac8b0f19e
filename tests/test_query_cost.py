"""The static cost of an operation (bff/api/cost.py), reported in `extensions.cost`, taken from
each principal's leaky bucket; anonymous callers of an address have a bucket of their own; a
refused document costs only the refusal charge."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse

from bff.api.cost import requested_cost
from bff.app import build_schema
from bff.config import Settings
from tests.conftest import BOTH_EXECUTORS, World, runtime_on
from tests.documents import HOME, VIEWER_ID
from tests.services import suite_redis_url
from tests.test_metrics import scrape, value
from tests.test_rate_limits import address, backends, client_from, limited, limited_runtime, post

SCHEMA = build_schema()._schema
SLOW = 0.001  # points per second: no refill within a test


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return requested_cost(SCHEMA, document, operation, variables)


def test_a_connection_costs_its_page_size_times_its_items() -> None:
    # given the same query asking for 5, then 50 accounts (by literal and by variable)
    query = (
        "query($n: Int!) { viewer { accounts(first: $n) "
        "{ edges { node { id balance { amount } } } } } }"
    )
    # then each account (1) and its balance (1) count per item; edges and ids cost nothing
    assert cost(query, {"n": 5}) == 1 + 1 + 5 * 2
    assert cost(query, {"n": 50}) == 1 + 1 + 50 * 2
    assert cost("{ viewer { accounts { edges { node { id } } } } }") == 1 + 1 + 20  # default first


def test_a_fragment_costs_what_its_expansion_would_without_being_expanded() -> None:
    # given fragments each spreading the next twice (8 copies of `viewer`-level objects)
    fragments = " ".join(f"fragment F{n} on User {{ ...F{n + 1} ...F{n + 1} }}" for n in range(3))
    query = (
        "{ viewer { ...F0 } } "
        + fragments
        + " fragment F3 on User { accounts { pageInfo { hasNextPage } } }"
    )
    # then the cost is the expanded one: 8 account connections, each 1
    assert cost(query) == 1 + 8 * 1


def test_mutations_weigh_more_than_reads() -> None:
    assert cost("mutation { logout { sessionsEnded } }") == 10
    assert cost("{ viewer { id } }") == 1


@pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)
async def test_the_cost_is_reported_in_the_response(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    # given a customer with one account and no transactions
    person = await world.person()
    await world.account(person, "USD")
    # when the home query runs
    response = await client.post(
        "/graphql", json={"query": HOME}, headers={**person.headers, "x-query-cost": "1"}
    )
    # then its requested cost, its actual cost (one account came back) and the bucket are shown
    body = response.json()
    assert "errors" not in body, body
    reported = body["extensions"]["cost"]
    assert reported["requestedQueryCost"] == cost(HOME)
    assert 0 < reported["actualQueryCost"] < reported["requestedQueryCost"]
    status = reported["throttleStatus"]
    assert status["maximumAvailable"] == settings.cost_bucket
    assert status["restoreRate"] == settings.cost_restore_rate
    assert status["currentlyAvailable"] <= settings.cost_bucket - cost(HOME) + 100


async def test_the_cost_is_reported_only_when_asked_for(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a customer
    person = await world.person()
    # when a query is sent without the header
    response = await client.post("/graphql", json={"query": VIEWER_ID}, headers=person.headers)
    # then the response carries no extensions
    assert "extensions" not in response.json()


@pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)
async def test_an_operation_costing_more_than_the_maximum_is_refused_unrun(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a query for 100 accounts of 100 transactions each (10,000 objects)
    person = await world.person()
    query = (
        "{ viewer { accounts(first: 100) { edges { node { "
        "transactions(first: 100) { edges { node { id } } } } } } } }"
    )
    # when
    response = await client.post("/graphql", json={"query": query}, headers=person.headers)
    # then
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert response.json()["data"] is None


@backends
async def test_anonymous_callers_cannot_drain_the_users_behind_their_address(
    settings: Settings, backend: str
) -> None:
    # given small buckets, and a user and an attacker behind the same address
    async with limited_runtime(
        settings,
        backend,
        cost_anonymous_bucket=30,
        cost_anonymous_restore_rate=SLOW,
        cost_bucket=30,
        cost_restore_rate=SLOW,
    ) as runtime:
        alice = await World(runtime).person()
        shared = address()
        anonymous = '{ node(id: "VXNlcjox") { id } }'  # 1 point, answered null
        async with client_from(runtime, shared) as http:
            # when the attacker spends the anonymous bucket of the address
            attacks = [await post(http, anonymous) for _ in range(35)]
            # and the user then reads
            reading = await post(http, VIEWER_ID, token=alice.token)
    # then the attacker is refused and the user is not
    assert limited(attacks[-1])
    assert not limited(reading)
    assert reading.json()["data"]["viewer"]["id"]


@backends
async def test_a_refused_document_costs_only_the_refusal_charge(
    settings: Settings, backend: str
) -> None:
    # given a bucket of 100 points and a refusal charge of 10
    async with (
        limited_runtime(
            settings,
            backend,
            cost_anonymous_bucket=100,
            cost_anonymous_restore_rate=SLOW,
            cost_refusal_charge=10,
        ) as runtime,
        client_from(runtime, address()) as http,
    ):
        # when documents are refused: invalid, over a limit, too costly
        invalid = await post(http, "{ nosuchfield }")
        too_large = await post(http, "{ viewer { " + "id " * 100 + "} }")
        too_costly = await post(
            http,
            "{ viewer { accounts(first: 100) { edges { node { "
            "transactions(first: 100) { edges { node { id } } } } } } } }",
        )
    # then each took 10 points from the bucket, whatever the document would have cost
    available = [
        response.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
        for response in (invalid, too_large, too_costly)
    ]
    assert available == [90, 80, 70]


@backends
async def test_an_address_that_spent_its_budget_on_refusals_is_refused_before_it_is_read(
    settings: Settings, backend: str, world: World
) -> None:
    # given an address's anonymous bucket of 100 points, a refusal charge of 10, and a customer
    # behind the same address
    alice = await world.person()
    redis_url = suite_redis_url(12) if backend == "redis" else None
    here = address()
    async with (
        runtime_on(
            settings,
            redis_url,
            metrics_public=True,
            cost_anonymous_bucket=100,
            cost_anonymous_restore_rate=SLOW,
            cost_refusal_charge=10,
        ) as runtime,
        client_from(runtime, here) as http,
    ):
        # when an attacker there spends the bucket on invalid documents (ten are paid for, the
        # eleventh finds it empty), then sends more
        drained = [await post(http, f"{{ nosuchfield{n} }}") for n in range(11)]
        before = await parsed_documents(http)
        flood = [await post(http, f"{{ nosuchfield{n} }}") for n in range(20)]
        after = await parsed_documents(http)
        reading = await post(http, VIEWER_ID, token=alice.token)
    # then the drained bucket's refusals were read, and the flood after it was refused unread
    # (429 with Retry-After, not one more document parsed)
    assert not any(limited(response) for response in drained)
    assert all(response.status_code == 429 for response in flood)
    assert all(limited(response) for response in flood)
    assert all(int(response.headers["retry-after"]) >= 1 for response in flood)
    assert after == before
    # and the customer behind the same address is served
    assert not limited(reading)
    assert reading.json()["data"]["viewer"]["id"]


async def parsed_documents(http: httpx.AsyncClient) -> float:
    _, samples = await scrape(http)
    name = "bff_graphql_documents_parsed_total"
    return sum(value(samples, name, outcome=outcome) for outcome in ("accepted", "refused"))
