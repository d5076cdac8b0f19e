"""The GraphQL-over-HTTP media types (bff/edge/media_type.py): a client that accepts
`application/graphql-response+json` gets it, with a 4xx and no `data` for a request that never
ran, and a 200 for one that ran, field errors and all; `application/json` stays the default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import BOTH_EXECUTORS, World
from tests.documents import VIEWER

pytestmark = pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)

GRAPHQL_RESPONSE = "application/graphql-response+json"
ACCOUNT_BY_ID = "query Account($id: ID!) { account(id: $id) { id } }"


async def post(
    client: httpx.AsyncClient, world: World, accept: str | None, body: dict[str, Any]
) -> httpx.Response:
    person = await world.person()
    headers = dict(person.headers)
    if accept is not None:
        headers["accept"] = accept
    return await client.post("/graphql", json=body, headers=headers)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
    ],
)
async def test_the_response_is_in_the_media_type_the_client_prefers(
    client: httpx.AsyncClient, world: World, accept: str | None, expected: str
) -> None:
    # when a query is posted with this Accept header
    response = await post(client, world, accept, {"query": VIEWER})
    # then it runs, answered in the preferred type
    assert response.status_code == 200
    assert media_type(response) == expected
    assert response.json()["data"]["viewer"]["id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ viewer { id } "}, "GRAPHQL_VALIDATION_FAILED"),  # does not parse
        ({"query": "{ viewer { nosuchfield } }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": ACCOUNT_BY_ID, "variables": {"id": {"not": "an id"}}}, "INVALID_INPUT"),
        ({"query": "{ viewer { " + "id " * 100 + "} }"}, "TOO_MANY_SELECTIONS"),
        ({"query": VIEWER, "operationName": {"an": "object"}}, "BAD_REQUEST"),
        ({"query": VIEWER, "operationName": ["Viewer"]}, "BAD_REQUEST"),
        ({"query": VIEWER, "variables": "{}"}, "BAD_REQUEST"),
    ],
    ids=["parse", "validation", "variables", "limit", "object-name", "array-name", "string-vars"],
)
async def test_a_request_that_never_ran_is_a_400_without_data(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], code: str
) -> None:
    # when a request that cannot run is posted by a client accepting the new type
    response = await post(client, world, GRAPHQL_RESPONSE, body)
    # then it is a 400 in that type, its error coded, and no data entry at all
    assert response.status_code == 400, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    answer = response.json()
    assert "data" not in answer
    assert [error["extensions"]["code"] for error in answer["errors"]] == [code]


async def test_a_request_that_never_ran_stays_a_200_for_application_json(
    client: httpx.AsyncClient, world: World
) -> None:
    # when a document that does not validate is posted by a client accepting only JSON
    response = await post(client, world, "application/json", {"query": "{ viewer { nope } }"})
    # then it keeps the status such clients expect, without a data entry either
    assert response.status_code == 200
    assert media_type(response) == "application/json"
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_field_error_that_nulls_the_data_is_still_a_200(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a customer, who may not read the audit log
    # when they ask for it, accepting the new type
    body = {"query": "query { auditLog(first: 1) { edges { node { id } } } }"}
    response = await post(client, world, GRAPHQL_RESPONSE, body)
    # then the operation ran: a 200, data present (null), the error at its field
    assert response.status_code == 200
    answer = response.json()
    assert answer["data"] is None
    assert answer["errors"][0]["path"] == ["auditLog"]
    assert answer["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_a_refusal_at_the_edge_is_in_the_preferred_type_too(
    client: httpx.AsyncClient,
) -> None:
    # when a browser-sendable form post (no preflight) is refused by CSRF prevention
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "text/plain", "accept": GRAPHQL_RESPONSE},
    )
    # then the refusal is a 4xx in the type asked for
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"
