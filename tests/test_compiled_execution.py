"""The app's own documents on the compiled executor and on graphql-core: the same bytes after
canonical JSON encoding (errors, paths and locations included), and the fallback counted."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from bff.runtime import Runtime
from tests.conftest import Person, World, asgi_client
from tests.documents import (
    ACCOUNT,
    HISTORY,
    HOME,
    NODE,
    OPEN_ACCOUNT,
    TRANSFER,
    USER,
    VIEWER,
    VIEWER_ACCOUNTS,
    VIEWER_SESSIONS,
)
from tests.graphql_calls import account_id


def executions(executor: str) -> float:
    """How many queries this process ran on `executor`, as /metrics counts them."""
    return REGISTRY.get_sample_value("bff_graphql_executions_total", {"executor": executor}) or 0.0


TYPENAME = "{ __typename }"
DIRECTIVES = """
query Directives($full: Boolean!) {
  viewer { id ... on User @include(if: $full) { displayName } roles @skip(if: $full) }
}
"""


async def _canonical(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], person: Person
) -> str:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={**person.headers, "x-request-id": "differential"},
    )
    return json.dumps([response.status_code, response.json()], sort_keys=True)


async def test_every_query_answers_the_same_on_both_executors(
    runtime: Runtime, world: World
) -> None:
    ana = await world.person()
    account = await world.account(ana, funds="25.00")
    other = await world.account(await world.person(), funds="5.00")
    cases: list[tuple[str, dict[str, Any]]] = [
        (TYPENAME, {}),
        (VIEWER, {}),
        (VIEWER_SESSIONS, {}),
        (HOME, {}),
        (VIEWER_ACCOUNTS, {"first": 1}),
        (VIEWER_ACCOUNTS, {"first": 0}),  # a domain error: null data and a located error
        (VIEWER_ACCOUNTS, {"after": "not a cursor"}),
        (ACCOUNT, {"id": account_id(account)}),
        (ACCOUNT, {"id": account_id(other)}),  # not Ana's: null
        (HISTORY, {"id": account_id(account), "first": 2}),
        (NODE, {"id": account_id(account)}),
        (NODE, {"id": "garbage"}),
        (TRANSFER, {"id": "garbage"}),
        (USER, {"id": "garbage"}),
        (DIRECTIVES, {"full": True}),
        (DIRECTIVES, {"full": False}),
        (HISTORY, {"id": 12}),  # variables graphql-core refuses: the fallback reports them
    ]
    async with (
        asgi_client(runtime, compiled=True) as compiled,
        asgi_client(runtime, compiled=False) as general,
    ):
        for query, variables in cases:
            before = executions("compiled")
            expected = await _canonical(general, query, variables, ana)
            assert executions("compiled") == before
            assert await _canonical(compiled, query, variables, ana) == expected, query


@pytest.mark.parametrize(
    ("document", "variables", "compiled"),
    [
        (HOME, {}, True),
        ("query Intro { __schema { queryType { name } } }", {}, False),
        (OPEN_ACCOUNT, {"input": {"name": "x", "currency": "USD"}}, False),
    ],
)
async def test_queries_run_compiled_and_the_rest_falls_back_counted(
    runtime: Runtime, world: World, document: str, variables: dict[str, Any], compiled: bool
) -> None:
    ana = await world.person()
    async with asgi_client(runtime, compiled=True) as client:
        before = (executions("compiled"), executions("fallback"))
        await _canonical(client, document, variables, ana)
        after = (executions("compiled"), executions("fallback"))
    assert after == ((before[0] + 1, before[1]) if compiled else (before[0], before[1] + 1))
