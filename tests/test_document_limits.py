"""Abusive documents are refused by their shape, in one pass before graphql-core validates them,
each limit with its own stable code; and production hides every kind of "Did you mean" hint."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bff.config import Environment, Settings
from tests.conftest import BOTH_EXECUTORS, World, asgi_client, runtime_on
from tests.production_keys import production_keys
from tests.test_metrics import scrape, value

pytestmark = pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


async def refused(client: httpx.AsyncClient, world: World, query: str) -> list[str]:
    person = await world.person()
    response = await client.post("/graphql", json={"query": query}, headers=person.headers)
    assert response.status_code < 500, response.text
    assert response.json().get("data") is None
    return codes(response)


def fan_out(levels: int) -> str:
    """Fragments that each spread the next twice: 2**levels fields once expanded."""
    fragments = [f"fragment F{n} on User {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    return "{ viewer { ...F0 } } " + " ".join(fragments) + f" fragment F{levels} on User {{ id }}"


async def test_fragments_that_fan_out_are_refused_unexpanded(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a document like the issue's: 2**20 fields once expanded
    query = fan_out(20)
    # when / then refused by its size, alone (validation, which would expand it, never ran)
    assert await refused(client, world, query) == ["QUERY_TOO_LARGE"]


async def test_repeated_fields_are_refused_before_validation_compares_them(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    # given one selection set of 200 fields, one of them unknown (validation would say so)
    query = "{ viewer { nosuchfield " + "id " * 199 + "} }"
    # when / then only the limit answers
    assert await refused(client, world, query) == ["TOO_MANY_SELECTIONS"]


async def test_many_directives_in_one_place_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    # given 200 (unknown) directives on one field
    query = "{ viewer " + "@a " * 200 + "{ id } }"
    # when / then
    assert await refused(client, world, query) == ["TOO_MANY_DIRECTIVES"]


async def test_long_string_literals_are_refused_before_they_are_read(
    client: httpx.AsyncClient, world: World
) -> None:
    # given literals holding more characters together than the limit (values go as variables)
    half = "x" * 600
    query = f'{{ a: node(id: "{half}") {{ id }} b: node(id: """{half}""") {{ id }} }}'
    # when / then only the limit answers
    assert await refused(client, world, query) == ["STRINGS_TOO_LONG"]


async def test_depth_through_fragments_counts(client: httpx.AsyncClient, world: World) -> None:
    # given 14 levels of fields, split over fragments spread inside each other
    query = (
        "{ viewer { ...A } } "
        "fragment A on User { accounts { edges { node { owner { ...B } } } } } "
        "fragment B on User { accounts { edges { node { owner { ...C } } } } } "
        "fragment C on User { accounts { edges { node { id } } } }"
    )
    # when / then
    assert await refused(client, world, query) == ["QUERY_TOO_DEEP"]


async def test_a_long_chain_of_fragments_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    # given 50 fragments, each spreading the next (no field depth, but deep recursion)
    chain = " ".join(f"fragment F{n} on User {{ ...F{n + 1} }}" for n in range(50))
    query = "{ viewer { ...F0 } } " + chain + " fragment F50 on User { id }"
    # when / then
    assert await refused(client, world, query) == ["QUERY_TOO_DEEP"]


async def test_a_document_too_long_is_refused_before_it_is_read(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    # given a document of few tokens (one string), longer than the length limit
    query = '{ account(id: "' + "x" * settings.graphql_max_document_chars + '") { id } }'
    # when / then refused by its length alone
    assert await refused(client, world, query) == ["DOCUMENT_TOO_LONG"]


async def test_aliases_in_fragments_count(client: httpx.AsyncClient, world: World) -> None:
    # given 31 aliases spread over a fragment and the operation
    aliases = " ".join(f"a{n}: id" for n in range(20))
    more = " ".join(f"b{n}: id" for n in range(11))
    query = f"{{ viewer {{ {more} ...F }} }} fragment F on User {{ {aliases} }}"
    # when / then
    assert await refused(client, world, query) == ["TOO_MANY_ALIASES"]


@pytest.fixture
async def metered(settings: Settings, compiled: bool | None) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose /metrics is on its public listener."""
    async with (
        runtime_on(settings, None, metrics_public=True) as runtime,
        asgi_client(runtime, compiled=compiled) as http,
    ):
        yield http


async def parsed(http: httpx.AsyncClient) -> tuple[float, float]:
    """How many documents the server has parsed: (accepted, refused)."""
    _, samples = await scrape(http)
    name = "bff_graphql_documents_parsed_total"
    return value(samples, name, outcome="accepted"), value(samples, name, outcome="refused")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ node(id: [" + "1 " * 600 + "]) { id } }", "GRAPHQL_VALIDATION_FAILED"),  # tokens
        ("{ viewer { " + "id " * 3_000 + "} }", "DOCUMENT_TOO_LONG"),
        ("{ viewer { " + "id " * 100 + "} }", "TOO_MANY_SELECTIONS"),
        ("{ viewer { id } ", "GRAPHQL_VALIDATION_FAILED"),  # syntax
    ],
    ids=["tokens", "length", "limit", "syntax"],
)
async def test_a_refused_document_is_parsed_once(
    metered: httpx.AsyncClient, world: World, query: str, code: str
) -> None:
    # given a document the server has not seen, that the gate refuses
    person = await world.person()
    unseen = f"# {uuid.uuid4()}\n{query}"
    before = await parsed(metered)
    # when it is sent
    response = await metered.post("/graphql", json={"query": unseen}, headers=person.headers)
    # then it is refused, after a single parse (whichever executors tried it)
    assert codes(response) == [code]
    accepted, refused = await parsed(metered)
    assert (accepted - before[0], refused - before[1]) == (0, 1)


async def test_an_accepted_document_is_parsed_once_per_process(
    metered: httpx.AsyncClient, world: World
) -> None:
    # given a document the server has not seen, within every limit
    person = await world.person()
    unseen = f"# {uuid.uuid4()}\n{{ viewer {{ id }} }}"
    before = await parsed(metered)
    # when it is sent twice
    for _ in range(2):
        response = await metered.post("/graphql", json={"query": unseen}, headers=person.headers)
        assert response.json()["data"]["viewer"]["id"]
    # then it was parsed once, the second request finding it parsed
    accepted, refused = await parsed(metered)
    assert (accepted - before[0], refused - before[1]) == (1, 0)


async def test_a_document_at_every_limit_runs(client: httpx.AsyncClient, world: World) -> None:
    # given fragments spread several times, within every limit
    person = await world.person()
    query = (
        "{ viewer { ...F ...F @include(if: true) accounts(first: 5) { edges { node { ...A } } } } }"
        " fragment F on User { id displayName }"
        " fragment A on Account { id name balance { amount } }"
    )
    # when
    response = await client.post("/graphql", json={"query": query}, headers=person.headers)
    # then
    assert "errors" not in response.json(), response.text
    assert response.json()["data"]["viewer"]["displayName"] == person.user.display_name


@pytest.fixture
async def production(
    settings: Settings, compiled: bool | None, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    update = {"env": Environment.PRODUCTION, "data_dir": tmp_path, **production_keys(tmp_path)}
    async with (
        runtime_on(settings, None, **update) as runtime,
        asgi_client(runtime, compiled=compiled) as http,
    ):
        yield http


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ viewr { id } }", None),  # field
        ("{ node(idd: 1) { id } }", None),  # argument
        ("query($a: Strin) { viewer { id } }", None),  # type
        ("{ viewer { ... on Usr { id } } }", None),  # type condition
        ('mutation { openAccount(input: {name: "x", currency: USDD}) { account { id } } }', None),
        (
            'mutation($c: CurrencyCode!) { openAccount(input: {name: "x", currency: $c}) '
            "{ account { id } } }",
            {"c": "USDD"},
        ),  # enum value in a variable
        ('mutation { openAccount(input: {nam: "x", currency: USD}) { account { id } } }', None),
    ],
)
async def test_production_gives_no_suggestion_of_any_kind(
    production: httpx.AsyncClient, query: str, variables: dict[str, str] | None
) -> None:
    # when a document close to the schema is sent to a production server
    response = await production.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"content-type": "application/json"},
    )
    # then it is refused without a hint
    assert response.status_code < 500
    messages = [error["message"] for error in response.json()["errors"]]
    assert messages
    assert not any("Did you mean" in message for message in messages), messages
