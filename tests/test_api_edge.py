"""The HTTP edge and the GraphQL defaults: SQL statements per home query, abuse limits, GET,
GraphiQL, introspection, error masking, health, security headers, body size, WebSocket
subprotocols."""

from __future__ import annotations

import json
import re
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

from bff.api.document_limits import LIMIT_CODES
from bff.app import build_schema, create_app
from bff.config import Settings
from bff.domain import transfers
from bff.domain.models import Account
from bff.runtime import Runtime, build_runtime
from schema.ids import encode_id
from tests.conftest import Person, World, graphql
from tests.database import fresh_database
from tests.documents import ACCOUNT, HOME, OPEN_ACCOUNT, VIEWER, VIEWER_ACCOUNTS, VIEWER_ID

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


async def send(world: World, sender: Person, source: Account, destination: Account) -> None:
    """A 1.00 transfer through the domain, to build history quickly."""
    request = transfers.TransferRequest(
        idempotency_key=str(uuid.uuid4()),
        from_account_id=source.id,
        amount="1.00",
        currency="USD",
        to_account_id=destination.id,
        memo="Ring",
    )
    await transfers.create_transfer(
        world.runtime.unit_of_work(),
        sender.actor,
        request,
        world.runtime.settings.idempotency_ttl_s,
    )


async def count_home_statements(
    client: httpx.AsyncClient, person: Person, sql_statements: Any
) -> tuple[int, dict[str, Any]]:
    sql_statements.statements.clear()
    body = await graphql(client, HOME, person=person)
    count = len(sql_statements.statements)
    assert "errors" not in body, body
    return count, body["data"]


# --- the home query's SQL statements --------------------------------------------------------


async def test_the_home_query_costs_the_same_statements_whatever_the_data(
    client: httpx.AsyncClient, world: World, sql_statements: Any
) -> None:
    # given a small customer: one account, one transaction
    small = await world.person()
    await world.account(small, funds="10.00")
    # and a big customer: five accounts of thirty transactions each, with transfers between
    # them and from a stranger whose account the big customer may not see
    big = await world.person()
    accounts = [await world.account(big, funds="1000.00") for _ in range(5)]
    for turn in range(70):
        await send(world, big, accounts[turn % 5], accounts[(turn + 1) % 5])
    stranger = await world.person()
    strangers_account = await world.account(stranger, funds="10.00")
    for account in accounts:
        await send(world, stranger, strangers_account, account)
    # when
    small_count, small_data = await count_home_statements(client, small, sql_statements)
    big_count, big_data = await count_home_statements(client, big, sql_statements)
    # then the answers are complete
    [small_account] = small_data["viewer"]["accounts"]["edges"]
    assert len(small_account["node"]["transactions"]["edges"]) == 1
    big_accounts = big_data["viewer"]["accounts"]["edges"]
    assert len(big_accounts) == 5
    assert all(len(edge["node"]["transactions"]["edges"]) == 20 for edge in big_accounts)
    newest = big_accounts[0]["node"]["transactions"]["edges"][0]["node"]["transfer"]
    assert newest["fromAccount"] is None  # the stranger's account
    assert newest["toAccount"] == {"id": encode_id("Account", accounts[0].id)}
    # and they cost the same number of statements
    assert big_count == small_count, sql_statements.statements
    assert small_count <= 6


# --- abuse limits ---------------------------------------------------------------------------


def _assert_rejected(response: httpx.Response, reason: str) -> None:
    assert response.status_code < 500
    body = response.json()
    assert body.get("data") is None
    assert len(body["errors"]) >= 1
    assert reason in body["errors"][0]["message"].lower()
    # every document error has a typed code: its limit's own, or the generic one
    code = body["errors"][0].get("extensions", {}).get("code")
    assert code in {*LIMIT_CODES, "GRAPHQL_VALIDATION_FAILED"}


async def test_a_query_deeper_than_the_limit_is_rejected(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a document nested beyond the depth limit
    person = await world.person()
    inner = "id"
    for _ in range(runtime.settings.graphql_max_depth // 4 + 1):  # four levels per turn
        inner = f"accounts {{ edges {{ node {{ owner {{ {inner} }} }} }} }}"
    query = f"{{ viewer {{ {inner} }} }}"
    # when
    response = await client.post("/graphql", json={"query": query}, headers=person.headers)
    # then
    _assert_rejected(response, "depth")


async def test_a_query_within_the_depth_limit_runs(client: httpx.AsyncClient, world: World) -> None:
    # given the home query, which nests deeply but within the limit
    person = await world.person()
    # when
    body = await graphql(client, HOME, person=person)
    # then
    assert body == {
        "data": {
            "viewer": {
                "id": encode_id("User", person.user.id),
                "displayName": person.user.display_name,
                "roles": ["CUSTOMER"],
                "accounts": {"edges": []},
            }
        }
    }


async def test_more_than_30_aliases_are_rejected(client: httpx.AsyncClient, world: World) -> None:
    # given
    person = await world.person()
    query = "{ " + " ".join(f"a{n}: viewer {{ id }}" for n in range(31)) + " }"
    # when
    response = await client.post("/graphql", json={"query": query}, headers=person.headers)
    # then
    _assert_rejected(response, "alias")


async def test_30_aliases_are_allowed(client: httpx.AsyncClient, world: World) -> None:
    # given
    person = await world.person()
    query = "{ " + " ".join(f"a{n}: viewer {{ id }}" for n in range(30)) + " }"
    # when
    response = await client.post("/graphql", json={"query": query}, headers=person.headers)
    # then
    body = response.json()
    assert "errors" not in body
    assert len(body["data"]) == 30


async def test_a_document_with_too_many_tokens_is_rejected(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a small document (well under the body limit) with a huge token count, in an
    # argument's list (no selection set over its limit)
    many = " 1" * (runtime.settings.graphql_max_tokens + 100)
    query = f"{{ node(id: [{many}]) {{ id }} }}"
    assert len(query) < runtime.settings.max_body_bytes
    # when
    response = await client.post("/graphql", json={"query": query})
    # then
    _assert_rejected(response, "token")


# --- GET, GraphiQL, introspection -----------------------------------------------------------

PREFLIGHTED = {"apollo-require-preflight": "true"}


async def test_a_mutation_over_get_is_refused(client: httpx.AsyncClient, world: World) -> None:
    # given
    person = await world.person()
    variables = json.dumps({"input": {"name": "Via GET", "currency": "USD"}})
    # when (with a CSRF preflight header: the view's own refusal is under test)
    response = await client.get(
        "/graphql",
        params={"query": OPEN_ACCOUNT, "variables": variables},
        headers={**person.headers, **PREFLIGHTED},
    )
    # then
    assert 400 <= response.status_code < 500
    viewer = await graphql(client, VIEWER_ACCOUNTS, None, person)
    assert viewer["data"]["viewer"]["accounts"]["edges"] == []


async def test_a_query_over_get_works(client: httpx.AsyncClient, world: World) -> None:
    # given
    person = await world.person()
    # when it is sent as apps send GETs: with a CSRF preflight header (tests/test_csrf.py)
    response = await client.get(
        "/graphql", params={"query": VIEWER}, headers={**person.headers, **PREFLIGHTED}
    )
    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "viewer": {
                "id": encode_id("User", person.user.id),
                "email": person.user.email,
                "displayName": person.user.display_name,
                "roles": ["CUSTOMER"],
            }
        }
    }


async def test_graphiql_is_served_to_browsers_in_development(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a development server
    assert not runtime.settings.is_production
    # when
    response = await client.get("/graphql", headers={"accept": "text/html"})
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_introspection_works_in_development(client: httpx.AsyncClient) -> None:
    # given
    query = """
      { __schema { queryType { name } mutationType { name } }
        __type(name: "Account") { fields { name } } }
    """
    # when
    body = await graphql(client, query)
    # then
    assert "errors" not in body
    assert body["data"]["__schema"] == {
        "queryType": {"name": "Query"},
        "mutationType": {"name": "Mutation"},
    }
    fields = {field["name"] for field in body["data"]["__type"]["fields"]}
    assert {"balance", "availableBalance", "transactions", "accountNumber"} <= fields


def _production_settings(**overrides: Any) -> Settings:
    return Settings(
        env="production",
        database_url="postgresql://bff@db.invalid/bff",
        jwt_keys_file=Path("/run/secrets/jwt-keys.json"),
        **overrides,
    )


async def test_introspection_is_off_in_production_unless_enabled() -> None:
    # given
    closed = build_schema(_production_settings())
    opened = build_schema(_production_settings(introspection=True))
    query = "{ __schema { queryType { name } } }"
    # when
    refused = await closed.execute(query)
    allowed = await opened.execute(query)
    # then
    assert refused.errors
    assert refused.data is None
    assert allowed.errors is None
    assert allowed.data == {"__schema": {"queryType": {"name": "Query"}}}


async def test_field_suggestions_are_off_in_production() -> None:
    # given
    development = build_schema(Settings())
    production = build_schema(_production_settings())
    query = "{ viewr { id } }"
    # when
    dev_result = await development.execute(query)
    prod_result = await production.execute(query)
    # then
    assert dev_result.errors
    assert prod_result.errors
    assert "Did you mean" in dev_result.errors[0].message
    assert "Did you mean" not in prod_result.errors[0].message


# --- errors are masked ----------------------------------------------------------------------


async def test_an_unexpected_failure_is_masked_with_the_request_id(
    settings: Settings, tmp_path: Path
) -> None:
    # given an app on a database that has none of its tables (a failure no code expects)
    request_id = f"mask-{uuid.uuid4().hex}"
    query = "query($id: ID!) { account(id: $id) { id } }"
    variables = {"id": encode_id("Account", uuid.uuid4())}
    async with fresh_database(tmp_path) as empty:
        runtime = build_runtime(settings.model_copy(update={"database_url": empty}), empty)
        transport = httpx.ASGITransport(app=create_app(runtime))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                # when a query needs the database
                response = await http.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"x-request-id": request_id},
                )
        finally:
            await runtime.close()
    # then the failure is masked: a generic message with the request id, no internals
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert error["message"] == f"Unexpected error. Quote request id {request_id} to support."
    assert error["path"] == ["account"]
    assert response.headers["x-request-id"] == request_id
    for leak in ("asyncpg", "sqlalchemy", "Traceback", "SELECT", "relation", "accounts"):
        assert leak.lower() not in response.text.lower()


async def test_an_unreachable_database_is_service_unavailable_with_the_request_id(
    settings: Settings,
) -> None:
    # given an app whose database is unreachable (nothing listens on port 1)
    broken = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/x"})
    runtime = build_runtime(broken, broken.database_url or "")
    request_id = f"down-{uuid.uuid4().hex}"
    variables = {"id": encode_id("Account", uuid.uuid4())}
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            # when a query needs the database
            response = await http.post(
                "/graphql",
                json={"query": ACCOUNT, "variables": variables},
                headers={"x-request-id": request_id},
            )
    finally:
        await runtime.close()
    # then it is an outage the app can retry after: 503, Retry-After, a typed code, no internals
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "retryAfter": 1,
        "requestId": request_id,
    }
    assert error["path"] == ["account"]
    for leak in ("asyncpg", "sqlalchemy", "Traceback", "SELECT", "refused", "127.0.0.1"):
        assert leak.lower() not in response.text.lower()


# --- health ---------------------------------------------------------------------------------


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    # given a running app
    # when
    response = await client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_ok_when_the_database_is_reachable(
    client: httpx.AsyncClient,
) -> None:
    # given a reachable database
    # when
    response = await client.get("/readyz")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    # and the cache's counters are reported for operators
    assert set(body["cache"]) == {"hits", "misses", "errors", "reads"}


# --- security headers and request ids -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/graphql", {}),
        ("GET", "/healthz", {}),
        ("POST", "/graphql", {"authorization": "Bearer garbage"}),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    # given
    body = {"query": VIEWER_ID} if method == "POST" else None
    # when
    response = await client.request(method, path, json=body, headers=headers)
    # then
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_a_well_formed_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    # given
    request_id = "req-0123456789abcdef"
    # when
    response = await client.get("/healthz", headers={"x-request-id": request_id})
    # then
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(None, id="absent"),
        pytest.param("short", id="too-short"),
        pytest.param("has spaces in it", id="spaces"),
        pytest.param("x" * 65, id="too-long"),
        pytest.param("bad/chars!<script>", id="bad-characters"),
    ],
)
async def test_a_request_id_is_generated_when_absent_or_malformed(
    client: httpx.AsyncClient, sent: str | None
) -> None:
    # given
    headers = {} if sent is None else {"x-request-id": sent}
    # when
    first = await client.get("/healthz", headers=headers)
    second = await client.get("/healthz", headers=headers)
    # then
    generated = first.headers["x-request-id"]
    assert generated != sent
    assert SAFE_REQUEST_ID.fullmatch(generated)
    assert second.headers["x-request-id"] != generated


# --- request body size ----------------------------------------------------------------------


async def test_a_declared_body_over_the_limit_is_413(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given
    padding = " " * runtime.settings.max_body_bytes
    content = ('{"query": "' + VIEWER_ID + padding + '"}').encode()
    # when
    response = await client.post(
        "/graphql", content=content, headers={"content-type": "application/json"}
    )
    # then
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a chunked body (no Content-Length) that grows past the limit
    chunk = b" " * 8192
    chunks = runtime.settings.max_body_bytes // len(chunk) + 2

    async def body() -> AsyncIterator[bytes]:
        yield b'{"query": "' + VIEWER_ID.encode()
        for _ in range(chunks):
            yield chunk
        yield b'"}'

    # when
    response = await client.post(
        "/graphql", content=body(), headers={"content-type": "application/json"}
    )
    # then
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_body_just_under_the_limit_is_served(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a valid request padded with insignificant whitespace (JSON's, outside the document,
    # which has a length limit of its own) to just under the limit
    prefix, suffix = b'{"query": "' + VIEWER_ID.encode() + b'"', b"}"
    padding = b" " * (runtime.settings.max_body_bytes - len(prefix) - len(suffix) - 1)
    # when
    response = await client.post(
        "/graphql",
        content=prefix + padding + suffix,
        headers={"content-type": "application/json"},
    )
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": None}}


# --- WebSocket subprotocols -----------------------------------------------------------------


def websocket_client(runtime: Runtime) -> Any:
    """Starlette's TestClient over the real app. Used without `with`: the app's lifespan would
    dispose the shared runtime on exit."""
    with warnings.catch_warnings():
        # Starlette asks for `httpx2` for its TestClient; the httpx it supports is installed.
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient
    return TestClient(create_app(runtime))


@pytest.mark.parametrize("subprotocols", [["graphql-ws"], ["something-else"], []])
def test_a_websocket_without_graphql_transport_ws_is_refused(
    runtime: Runtime, subprotocols: list[str]
) -> None:
    # given
    client = websocket_client(runtime)
    # when
    with client.websocket_connect("/graphql", subprotocols=subprotocols) as websocket:
        with pytest.raises(WebSocketDisconnect) as refused:
            websocket.receive_json()
        # then
        assert websocket.accepted_subprotocol is None
    assert refused.value.code == 4406


def test_graphql_transport_ws_is_accepted_and_needs_a_token(runtime: Runtime) -> None:
    # given a client offering the right subprotocol among others
    client = websocket_client(runtime)
    # when it initialises the connection without an access token
    with client.websocket_connect(
        "/graphql", subprotocols=["graphql-ws", "graphql-transport-ws"]
    ) as websocket:
        websocket.send_json({"type": "connection_init"})
        with pytest.raises(WebSocketDisconnect) as refused:
            websocket.receive_json()
        # then the subprotocol was accepted, and the connection closed as forbidden
        assert websocket.accepted_subprotocol == "graphql-transport-ws"
    assert refused.value.code == 4403
