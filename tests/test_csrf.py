"""CSRF prevention at the GraphQL endpoint (bff/edge/csrf.py), as Apollo Server does it: a
request that a page on any site could make a browser send without a preflight (a GET, a POST
with no Content-Type or a form's) is refused unless it carries a header only a preflighted
request can carry. The attacks: a hidden form that posts a mutation as the visitor, an <img>
or <script> whose GET runs a query from the visitor's browser and address."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, World
from tests.documents import SIGN_UP, VIEWER
from tests.graphql_calls import data

PREFLIGHT_HEADERS = ["apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight"]


def assert_csrf_refusal(response: httpx.Response) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "CSRF_PREVENTED",
        "requestId": response.headers["x-request-id"],
    }
    assert "apollo-require-preflight" in error["message"]


def sign_up_variables() -> dict[str, Any]:
    email = f"forged-{uuid.uuid4().hex[:10]}@example.com"
    return {"input": {"email": email, "password": PASSWORD, "displayName": "Forged"}}


def form_post(content_type: str | None, variables: dict[str, Any]) -> dict[str, Any]:
    """What a hidden HTML form (or a no-cors fetch) on another site posts, as httpx arguments."""
    fields = {"query": SIGN_UP, "variables": json.dumps(variables)}
    if content_type is None:
        return {"content": json.dumps({"query": SIGN_UP, "variables": variables}).encode()}
    if content_type.lower().startswith("text/plain"):
        body = json.dumps({"query": SIGN_UP, "variables": variables})
        return {"content": body.encode(), "headers": {"content-type": content_type}}
    if content_type == "multipart/form-data":
        return {"files": {name: (None, value) for name, value in fields.items()}}
    return {"data": fields}  # application/x-www-form-urlencoded


# --- POST -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(None, id="no-content-type"),
        pytest.param("text/plain", id="text-plain"),
        pytest.param("Text/Plain; charset=utf-8", id="text-plain-with-parameters"),
        pytest.param("application/x-www-form-urlencoded", id="urlencoded"),
        pytest.param("multipart/form-data", id="multipart"),
    ],
)
async def test_a_mutation_posted_as_a_form_is_refused_and_does_nothing(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    # given a page on another site that posts signUp as its visitor, with a simple content type
    variables = sign_up_variables()
    # when the browser sends it (no preflight for such a request)
    response = await client.post("/graphql", **form_post(content_type, variables))
    # then it is refused before it runs: the email is still free
    assert_csrf_refusal(response)
    signed_up = (await data(client, SIGN_UP, variables))["signUp"]
    assert signed_up["userErrors"] == []


async def test_a_json_post_passes_as_it_is(client: httpx.AsyncClient) -> None:
    # given a POST with application/json, which no page can send cross-site without a preflight
    # when
    signed_up = (await data(client, SIGN_UP, sign_up_variables()))["signUp"]
    # then it runs
    assert signed_up["userErrors"] == []


# --- GET ------------------------------------------------------------------------------------


async def test_a_get_query_without_a_preflight_header_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a query as an <img src> or <script src> on another site would send it
    # when
    response = await client.get("/graphql", params={"query": VIEWER})
    # then
    assert_csrf_refusal(response)


@pytest.mark.parametrize("header", PREFLIGHT_HEADERS)
async def test_a_get_query_with_a_preflight_header_runs(
    client: httpx.AsyncClient, world: World, header: str
) -> None:
    # given a client that sends one of the headers (a browser would have asked CORS first)
    person = await world.person()
    # when
    response = await client.get(
        "/graphql", params={"query": VIEWER}, headers={**person.headers, header: "Viewer"}
    )
    # then
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["email"] == person.user.email


async def test_an_empty_preflight_header_does_not_count(client: httpx.AsyncClient) -> None:
    # given
    # when
    response = await client.get(
        "/graphql", params={"query": VIEWER}, headers={"apollo-require-preflight": ""}
    )
    # then
    assert_csrf_refusal(response)


async def test_a_get_with_a_json_content_type_runs(client: httpx.AsyncClient, world: World) -> None:
    # given a GET carrying Content-Type: application/json, as Apollo Client sends its GETs (a
    # page can only set that header after a preflight)
    person = await world.person()
    headers = {**person.headers, "content-type": "application/json"}
    # when
    response = await client.get("/graphql", params={"query": VIEWER}, headers=headers)
    # then
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["email"] == person.user.email


async def test_graphiqls_page_is_a_plain_get_and_is_served(client: httpx.AsyncClient) -> None:
    # given a browser opening the endpoint in development (a GET naming no operation)
    # when
    response = await client.get("/graphql", headers={"accept": "text/html"})
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_other_paths_are_not_the_graphql_endpoint(client: httpx.AsyncClient) -> None:
    # given probes and the key set, plain GETs from anywhere
    # when
    health = await client.get("/healthz?probe=1")
    jwks = await client.get("/.well-known/jwks.json")
    # then
    assert (health.status_code, jwks.status_code) == (200, 200)
