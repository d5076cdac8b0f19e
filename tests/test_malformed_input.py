"""Malformed input of every kind is a 4xx GraphQL-over-HTTP error with a stable code: never a
5xx, never INTERNAL."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import World
from tests.documents import ACCOUNT_EVENTS, VIEWER, VIEWER_ACCOUNTS, VIEWER_ID

GRAPHQL_JSON = {"content-type": "application/json"}


def codes(body: Any) -> list[str]:
    errors = body.get("errors", []) if isinstance(body, dict) else []
    return [error.get("extensions", {}).get("code") for error in errors]


async def post_raw(client: httpx.AsyncClient, content: bytes, **headers: str) -> httpx.Response:
    return await client.post("/graphql", content=content, headers={**GRAPHQL_JSON, **headers})


@pytest.mark.parametrize("body", [b'"x"', b"1", b"null", b"true", b'[{"query": "{ __typename }"}]'])
async def test_a_json_body_that_is_not_an_object_is_a_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    # when
    response = await post_raw(client, body)
    # then
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]


async def test_json_nested_beyond_the_limit_is_a_400(client: httpx.AsyncClient) -> None:
    # given variables nested far deeper than any input type
    nested = b"[" * 5_000 + b"]" * 5_000
    body = b'{"query": "query Q($v: String) { __typename }", "variables": {"v": ' + nested + b"}}"
    # when
    response = await post_raw(client, body)
    # then
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]


async def test_invalid_utf8_is_a_400(client: httpx.AsyncClient) -> None:
    response = await post_raw(client, b'{"query": "{ __typename \xff\xfe }"}')
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "query Q($a: String) { viewer { id } }", "variables": {"a": "a\\ud800b"}}',
        b'{"query": "{ viewer { id } }", "operationName": "\\udfff"}',
        b'{"query": "{ viewer(x: \\"a\\ud800b\\") { id } }"}',
    ],
)
async def test_a_lone_surrogate_anywhere_in_the_body_is_a_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await post_raw(client, body)
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]


async def test_a_lone_surrogate_in_a_cursor_is_invalid_input(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a cursor holding a lone surrogate, as JSON escapes can carry it
    person = await world.person()
    query = json.dumps(VIEWER_ACCOUNTS).encode()
    body = b'{"query": ' + query + b', "variables": {"after": "a\\ud800b"}}'
    # when
    response = await post_raw(client, body, **person.headers)
    # then
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        base64.urlsafe_b64encode(b'"x"').decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["2026-01-01", "not-a-uuid"]').decode(),
        base64.urlsafe_b64encode(b'["\xff\xfe"]').decode(),
        base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "\\ud800"]').decode(),
    ],
)
async def test_a_cursor_that_is_not_a_cursor_is_invalid_input(
    client: httpx.AsyncClient, world: World, cursor: str
) -> None:
    person = await world.person()
    response = await client.post(
        "/graphql",
        json={"query": VIEWER_ACCOUNTS, "variables": {"after": cursor}},
        headers=person.headers,
    )
    body = response.json()
    assert response.status_code < 500, body
    assert "INTERNAL" not in codes(body), body
    assert "INVALID_INPUT" in codes(body) or "BAD_REQUEST" in codes(body), body


async def test_a_header_with_a_lone_surrogate_or_bad_bytes_is_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": VIEWER_ID},
        headers=[(b"authorization", b"Bearer \xed\xa0\x80\xff"), (b"x-request-id", b"\xff\xfe")],
    )
    assert response.status_code < 500, response.text
    assert "INTERNAL" not in codes(response.json())


async def test_a_subscription_over_http_post_is_refused_with_a_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": ACCOUNT_EVENTS, "variables": {"accountId": "x"}}
    )
    assert 400 <= response.status_code < 500, response.text
    assert codes(response.json()) == ["OPERATION_NOT_SUPPORTED"]


async def test_several_operations_without_an_operation_name_are_refused_with_a_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"query": VIEWER + "\n" + VIEWER_ID})
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["OPERATION_NAME_REQUIRED"]


async def test_an_unknown_operation_name_is_refused_with_a_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"query": VIEWER, "operationName": "Nope"})
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["OPERATION_NAME_REQUIRED"]
