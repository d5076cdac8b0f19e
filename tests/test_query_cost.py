"""The static cost of an operation (bff/api/cost.py), reported in `extensions.cost`, taken from
each principal's leaky bucket; anonymous callers of an address have a bucket of their own; a
refused document costs only the refusal charge."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import httpx
import pytest
import strawberry
from graphql import (
    DirectiveNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    ScalarTypeDefinitionNode,
    parse,
    value_from_ast_untyped,
)

from bff.api.cost import CostModel, requested_cost
from bff.app import build_schema
from bff.config import Settings
from bff.ratelimit.refusal_charges import INTERVAL_S
from bff.runtime import Runtime
from schema.cost import Cost
from tests.conftest import BOTH_EXECUTORS, World
from tests.documents import HOME, VIEWER_ID
from tests.test_metrics import scrape, value
from tests.test_rate_limits import address, backends, client_from, limited, limited_runtime, post
from tests.test_schema_contract import SCHEMA_FILE

SCHEMA = build_schema()._schema
SDL = parse(SCHEMA_FILE.read_text(encoding="utf-8"))
THREE_ACCOUNTS_TWO_TRANSACTIONS = (
    "{ viewer { accounts(first: 3) { edges { node { id transactions(first: 2) "
    "{ edges { node { id } } pageInfo { hasNextPage } } } } } } }"
)
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


def sdl_fields() -> dict[tuple[str, str], FieldDefinitionNode]:
    """Every field that schema.graphql defines, by type and field name."""
    return {
        (definition.name.value, field.name.value): field
        for definition in SDL.definitions
        if isinstance(definition, ObjectTypeDefinitionNode)
        for field in definition.fields or ()
    }


def sdl_directive(type_name: str, field_name: str, directive: str) -> dict[str, Any] | None:
    """The arguments of `@directive` on a field of schema.graphql, None when it has none."""
    found: DirectiveNode | None = next(
        (
            d
            for d in sdl_fields()[(type_name, field_name)].directives or ()
            if d.name.value == directive
        ),
        None,
    )
    if found is None:
        return None
    return {a.name.value: value_from_ast_untyped(a.value) for a in found.arguments or ()}


def sdl_weight(type_name: str, field_name: str) -> int:
    """A field's weight as schema.graphql says it: its @cost, else the spec's default (0 for a
    scalar or enum, 1 for an object)."""
    cost = sdl_directive(type_name, field_name, "cost")
    if cost is not None:
        return int(float(cost["weight"]))
    leaves = {"ID", "String", "Int", "Float", "Boolean"} | {
        definition.name.value
        for definition in SDL.definitions
        if isinstance(definition, ScalarTypeDefinitionNode | EnumTypeDefinitionNode)
    }
    return 0 if _named(sdl_fields()[(type_name, field_name)]) in leaves else 1


def test_the_sdl_says_what_each_connection_and_mutation_costs() -> None:
    # given the published SDL
    fields = sdl_fields()
    connections = [key for key, field in fields.items() if _named(field).endswith("Connection")]
    mutations = [key for key in fields if key[0] == "Mutation"]
    # then every connection field is sized by `first` on its edges, and every mutation weighs
    assert len(connections) == 5
    for type_name, field_name in connections:
        assert sdl_directive(type_name, field_name, "listSize") == {
            "slicingArguments": ["first"],
            "sizedFields": ["edges"],
        }, (type_name, field_name)
    assert mutations
    assert all(sdl_directive(*key, "cost") is not None for key in mutations)


@pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)
async def test_the_requested_cost_is_what_the_sdl_directives_say(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a customer
    person = await world.person()
    # when a query of 3 accounts with 2 transactions each is sent asking for its cost
    response = await client.post(
        "/graphql",
        json={"query": THREE_ACCOUNTS_TWO_TRANSACTIONS},
        headers={**person.headers, "x-query-cost": "1"},
    )
    # then the cost is the one computed by hand from the weights and list sizes in the SDL
    w = sdl_weight
    per_transaction = w("TransactionConnection", "edges") + w("TransactionEdge", "node")
    per_account = (
        w("AccountConnection", "edges")
        + w("AccountEdge", "node")
        + w("Account", "transactions")
        + 2 * per_transaction
        + w("TransactionConnection", "pageInfo")
    )
    expected = w("Query", "viewer") + w("User", "accounts") + 3 * per_account
    assert expected == 1 + 1 + 3 * (0 + 1 + 1 + 2 * (0 + 1) + 0)  # 14, as the SDL reads today
    assert response.json()["extensions"]["cost"]["requestedQueryCost"] == expected
    # and a mutation costs its @cost plus its errors list at the assumed size of its @listSize
    errors_size = sdl_directive("EndSessionsPayload", "userErrors", "listSize")
    assert errors_size == {"assumedSize": 10}
    assert cost("mutation { logout { sessionsEnded userErrors { code } } }") == (
        w("Mutation", "logout") + errors_size["assumedSize"] * w("EndSessionsPayload", "userErrors")
    )


def _named(field: FieldDefinitionNode) -> str:
    returned: Any = field.type
    while not hasattr(returned, "name"):
        returned = returned.type
    return str(returned.name.value)


@strawberry.type(description="A thing.")
class _Thing:
    name: str = strawberry.field(description="Its name.")


@strawberry.type(name="Query", description="A root with a list of objects and no @listSize.")
class _Unbounded:
    @strawberry.field
    async def things(self) -> list[_Thing]:
        return []


@strawberry.type(name="Query", description="A root with a weighted argument.")
class _Search:
    @strawberry.field
    async def search(
        self,
        exact: Annotated[
            bool | None, strawberry.argument(description="Exact.", directives=[Cost(weight="5")])
        ] = None,
    ) -> _Thing | None:
        return None


def test_a_schema_with_a_list_of_objects_nothing_sizes_is_refused() -> None:
    # given a schema whose list of objects has no @listSize
    schema = strawberry.Schema(query=_Unbounded)._schema
    # when its cost model is read, then it is refused: no document on it would have a bound
    with pytest.raises(ValueError, match=r"Query\.things"):
        CostModel.of(schema)


def test_an_argument_adds_its_weight_when_a_document_gives_it() -> None:
    # given a field whose `exact` argument weighs 5
    schema = strawberry.Schema(query=_Search)._schema
    # then the field costs 1 without it and 1 + 5 with it
    for query, expected in (("{ search { name } }", 1), ("{ search(exact: true) { name } }", 6)):
        document = parse(query)
        [operation] = document.definitions
        assert isinstance(operation, OperationDefinitionNode)
        assert requested_cost(schema, document, operation, None) == expected


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
    assert "data" not in response.json()  # a request error: it never ran


@backends
async def test_anonymous_callers_cannot_drain_the_users_behind_their_address(
    settings: Settings, backend: str
) -> None:
    # given small buckets (30 points besides reading a document once), and a user and an
    # attacker behind the same address
    anonymous = '{ node(id: "VXNlcjox") { id } }'  # 1 point, answered null
    async with limited_runtime(
        settings,
        backend,
        cost_anonymous_bucket=30 + len(anonymous),
        cost_anonymous_restore_rate=SLOW,
        cost_bucket=30 + len(VIEWER_ID),
        cost_restore_rate=SLOW,
    ) as runtime:
        alice = await World(runtime).person()
        shared = address()
        async with client_from(runtime, shared) as http:
            # when the attacker spends the anonymous bucket of the address
            attacks = [await post(http, anonymous) for _ in range(35)]
            # and the user then reads
            reading = await post(http, VIEWER_ID, token=alice.token)
    # then the attacker is refused and the user is not
    assert limited(attacks[-1])
    assert not limited(reading)
    assert reading.json()["data"]["viewer"]["id"]


def hundred_points(
    settings: Settings, backend: str, **budgets: float
) -> AbstractAsyncContextManager[Runtime]:
    """A runtime where an address's bucket holds 100 points, refilling too slowly to matter
    within a test, and a refused document is charged 10."""
    return limited_runtime(
        settings,
        backend,
        cost_anonymous_bucket=100,
        cost_anonymous_restore_rate=SLOW,
        cost_refusal_charge=10,
        **budgets,
    )


@backends
async def test_a_refused_document_costs_only_the_refusal_charge(
    settings: Settings, backend: str
) -> None:
    # given a bucket of 100 points and a refusal charge of 10
    async with (
        hundred_points(settings, backend) as runtime,
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
    # given an address's anonymous bucket of 100 points, a refusal charge of 10, no penalty for
    # refusals in a row (the bucket alone), and a customer behind the same address
    alice = await world.person()
    async with (
        hundred_points(settings, backend, metrics_public=True, cost_refusal_strikes=0) as runtime,
        client_from(runtime, address()) as http,
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


@backends
async def test_refused_documents_in_a_row_have_the_next_ones_refused_unread_for_the_penalty(
    settings: Settings, backend: str, world: World
) -> None:
    # given room in the buckets, a penalty of a minute after ten refused documents in a row,
    # and a customer behind the attacker's address
    alice = await world.person()
    async with (
        limited_runtime(
            settings,
            backend,
            metrics_public=True,
            cost_refusal_strikes=10,
            cost_refusal_penalty_s=60,
        ) as runtime,
        client_from(runtime, address()) as http,
    ):
        # when the attacker sends ten invalid documents, then more
        probes = [await post(http, f"{{ nosuchfield{n} }}") for n in range(10)]
        before = await parsed_documents(http)
        flood = [await post(http, f"{{ nosuchfield{n} }}") for n in range(10, 20)]
        valid = await post(http, '{ node(id: "VXNlcjox") { id } }')
        after = await parsed_documents(http)
        reading = await post(http, VIEWER_ID, token=alice.token)
    # then the ten were read and refused, and what followed, even a valid document, was refused
    # unread (429, Retry-After within the penalty)
    assert not any(limited(response) for response in probes)
    assert all(response.json()["errors"] for response in probes)
    assert all(response.status_code == 429 and limited(response) for response in [*flood, valid])
    assert all(1 <= int(response.headers["retry-after"]) <= 60 for response in flood)
    assert after == before
    # and the customer behind the same address, another principal, is served
    assert not limited(reading)
    assert reading.json()["data"]["viewer"]["id"]


@backends
async def test_a_new_document_costs_its_reading_and_an_abuser_varying_them_is_refused_unread(
    settings: Settings, backend: str, world: World
) -> None:
    # given a user's bucket of 1,000 points that refills too slowly to matter here
    alice = await world.person()
    async with (
        limited_runtime(
            settings, backend, metrics_public=True, cost_bucket=1_000, cost_restore_rate=SLOW
        ) as runtime,
        client_from(runtime, address()) as http,
    ):
        # when she sends one document three times (1 point each), then valid documents that
        # differ only by a comment of 300 characters, each new to the server
        same = [await post(http, VIEWER_ID, token=alice.token) for _ in range(3)]
        padding = "#" + "x" * 299 + "\n"
        varied = [
            await post(http, f"{padding}# {n}\n{VIEWER_ID}", token=alice.token) for n in range(3)
        ]
        before = await parsed_documents(http)
        flood = [
            await post(http, f"{padding}# {n}\n{VIEWER_ID}", token=alice.token) for n in range(3, 9)
        ]
        after = await parsed_documents(http)
    # then the first reading of a document was paid for once, a point per character
    available = [status(response)["currentlyAvailable"] for response in same]
    assert available == [1_000 - len(VIEWER_ID) - spent for spent in (1, 2, 3)]
    # and each varied one paid for its reading (337 points), until one found the bucket short
    assert [limited(response) for response in varied] == [False, False, True]
    [error] = varied[-1].json()["errors"]
    assert "reading a new document" in error["message"]
    # and the documents after it were refused unread until the bucket could pay
    assert all(response.status_code == 429 for response in flood)
    assert after == before


def status(response: httpx.Response) -> dict[str, Any]:
    """The response's `extensions.cost.throttleStatus`."""
    return response.json()["extensions"]["cost"]["throttleStatus"]  # type: ignore[no-any-return]


async def parsed_documents(http: httpx.AsyncClient) -> float:
    _, samples = await scrape(http)
    name = "bff_graphql_documents_parsed_total"
    return sum(value(samples, name, outcome=outcome) for outcome in ("accepted", "refused"))


@backends
async def test_refusals_that_do_not_ask_for_their_cost_are_charged_together_a_moment_later(
    settings: Settings, backend: str
) -> None:
    # given an address's bucket of 100 points, a refusal charge of 10, no penalty for refusals
    # in a row
    where = address()
    async with (
        hundred_points(settings, backend, cost_refusal_strikes=0) as runtime,
        client_from(runtime, where) as http,
    ):
        over_a_limit, invalid = "{ viewer { " + "id " * 100 + "} }", "{ nosuchfield }"

        async def refused_quietly(count: int) -> None:
            for n in range(count):
                query = over_a_limit if n % 2 else invalid
                response = await http.post("/graphql", json={"query": f"# {n}\n{query}"})
                assert response.status_code == 200
                assert "data" not in response.json()

        # when five refused documents are sent without asking for their cost, and a moment
        # passes
        await refused_quietly(5)
        await asyncio.sleep(INTERVAL_S * 4)
        # then their 50 points were taken: a refusal that asks shows what is left after its own
        reported = await post(http, invalid)
        assert reported.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 40
        # when five more are sent, owing 50 where 40 are left, and a moment passes
        await refused_quietly(5)
        await asyncio.sleep(INTERVAL_S * 4)
        # then the bucket paid what it held, and the address's next document is refused unread
        unread = await post(http, "{ viewer { id } }")
        assert unread.status_code == 429
        assert limited(unread)
        assert runtime.cost_buckets is not None
        drained = await runtime.cost_buckets.take(
            f"anonymous:{where}", 1, runtime.settings.rate_limit_budgets.anonymous_cost
        )
        assert not drained.allowed
        assert drained.available < 1
