"""Every error a client receives, from any layer and over either transport, carries a typed
`extensions.code` and the request's `extensions.requestId`."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import strawberry
from starlette.exceptions import StarletteDeprecationWarning
from strawberry.extensions import SchemaExtension

from bff.api.errors import ErrorBoundary
from bff.app import create_app
from bff.config import Settings
from bff.runtime import Runtime, build_runtime
from schema.ids import encode_id
from tests.conftest import World

ACCOUNT = "query($id: ID!) { account(id: $id) { id } }"
SEND = """
mutation($input: CreateTransferInput!) { createTransfer(input: $input) { transfer { id } } }
"""
A_JSON_NUMBER_AMOUNT = {
    "input": {
        "idempotencyKey": "k",
        "fromAccountId": encode_id("Account", uuid.uuid4()),
        "toAccountId": encode_id("Account", uuid.uuid4()),
        "amount": {"amount": 12.34, "currency": "USD"},
    }
}


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[httpx.Response, dict[str, Any]]:
    request_id = f"boundary-{uuid.uuid4().hex}"
    response = await client.post(
        "/graphql", json=body, headers={"x-request-id": request_id, **(headers or {})}
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["requestId"] == request_id
    return response, error


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        ("{ viewer { noSuchField } }", {}, "GRAPHQL_VALIDATION_FAILED"),
        ("{ viewer { id ", {}, "GRAPHQL_VALIDATION_FAILED"),  # a syntax error
        (SEND, A_JSON_NUMBER_AMOUNT, "INVALID_INPUT"),  # a variable that fails coercion
        (ACCOUNT, {}, "INVALID_INPUT"),  # a missing variable
    ],
)
async def test_document_errors_carry_a_code_and_the_request_id(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any], code: str
) -> None:
    # given a document the server cannot run as sent
    # when it is posted
    response, error = await post(client, {"query": document, "variables": variables})
    # then its error says why, and which request it was
    assert error["extensions"]["code"] == code
    assert response.status_code < 500


async def test_a_refused_token_carries_a_code_and_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    # given a malformed access token
    # when it is sent
    response, error = await post(
        client, {"query": "{ viewer { id } }"}, {"authorization": "Bearer not-a-token"}
    )
    # then
    assert response.status_code == 401
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_body_over_the_limit_carries_a_code_and_the_request_id(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a body over the size limit
    padding = " " * runtime.settings.max_body_bytes
    # when it is posted
    response, error = await post(client, {"query": "{ viewer { id } }" + padding})
    # then
    assert response.status_code == 413
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


@strawberry.type
class Probe:
    @strawberry.field
    def ok(self) -> bool:
        return True


class Failing(SchemaExtension):
    """An extension that fails while the operation runs, as a bug in one would."""

    async def on_execute(self) -> AsyncIterator[None]:
        raise RuntimeError("secret internals")
        yield  # an async generator hook, like the real ones


async def test_an_error_raised_by_an_extension_is_masked() -> None:
    # given a schema one of whose extensions fails
    schema = strawberry.Schema(query=Probe, extensions=[ErrorBoundary, Failing])
    context = SimpleNamespace(request_id="ext-failure-1", response=None)
    # when an operation runs
    result = await schema.execute("{ ok }", context_value=context)
    # then the client gets a masked error, not the exception's text
    assert result.errors is not None
    [error] = result.errors
    assert error.extensions == {"code": "INTERNAL", "requestId": "ext-failure-1"}
    assert "secret" not in error.message


# --- over WebSocket -------------------------------------------------------------------------


@pytest.fixture
def websocket_client(settings: Settings) -> Iterator[Any]:
    """Starlette's TestClient over the real app, with a runtime of its own: the client runs the
    app in an event loop of its own, where the suite's pools cannot be used."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient
    runtime = build_runtime(settings, settings.database_url or "")
    with TestClient(create_app(runtime)) as client:  # its lifespan closes the runtime
        yield client


EVENTS = "subscription($id: ID!) { accountEvents(accountId: $id) { sequence } }"


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        ("subscription { accountEvents { noSuchField } }", {}, "GRAPHQL_VALIDATION_FAILED"),
        (EVENTS, {"id": encode_id("Account", uuid.uuid4())}, "ACCOUNT_NOT_FOUND"),
    ],
)
async def test_subscription_errors_carry_a_code_and_the_request_id(
    world: World, websocket_client: Any, document: str, variables: dict[str, Any], code: str
) -> None:
    # given an authenticated WebSocket
    person = await world.person()
    request_id = f"ws-{uuid.uuid4().hex}"
    with websocket_client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"], headers={"x-request-id": request_id}
    ) as websocket:
        websocket.send_json(
            {
                "type": "connection_init",
                "payload": {"authorization": person.headers["authorization"]},
            }
        )
        assert websocket.receive_json()["type"] == "connection_ack"
        # when a subscription fails, before running or while running
        websocket.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": document, "variables": variables}}
        )
        message = websocket.receive_json()
    # then its error says why, and which connection it was
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors
    for error in errors:
        assert error["extensions"]["code"] == code
        assert error["extensions"]["requestId"] == request_id
