"""The last-resort layer: whatever fails below it and is not handled, over HTTP or WebSocket,
the client gets a typed answer in the API's shape (never a plain 500), and never two answers."""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

from bff.app import create_app
from bff.config import Settings
from bff.domain.errors import ServiceUnavailable
from bff.edge.asgi import ASGIApp, Receive, Scope, Send
from bff.edge.last_resort import LastResort
from bff.edge.request_log import RequestLog
from bff.runtime import build_runtime

with warnings.catch_warnings():
    # Starlette asks for `httpx2` for its TestClient; the httpx it supports is installed.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketDenialResponse


def failing_app(error: Exception, *, after: list[dict[str, Any]] | None = None) -> ASGIApp:
    """An app with a bug: it sends `after` (if anything), then raises `error`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in after or []:
            await send(message)
        raise error

    return app


def edge(app: ASGIApp) -> ASGIApp:
    """The layer where the app factory puts it: inside the request log, which names requests."""
    return RequestLog(LastResort(app))


async def get(app: ASGIApp) -> httpx.Response:
    transport = httpx.ASGITransport(app=edge(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/graphql", headers={"x-request-id": f"last-{uuid.uuid4().hex}"})


# --- HTTP -----------------------------------------------------------------------------------


async def test_an_unhandled_exception_is_a_masked_json_500() -> None:
    # given an app that fails with an exception nothing handles
    app = failing_app(RuntimeError("secret internals"))
    # when it is asked something
    response = await get(app)
    # then the answer is a GraphQL-shaped INTERNAL error with the request id, and no internals
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert request_id in error["message"]
    assert "secret" not in response.text


async def test_an_unreachable_dependency_is_a_503_with_retry_after() -> None:
    # given an app that finds a dependency down and does not handle it
    app = failing_app(ServiceUnavailable("postgresql", retry_after_s=2))
    # when
    response = await get(app)
    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "retryAfter": 2,
        "requestId": response.headers["x-request-id"],
    }
    assert "postgresql" not in response.text


async def test_a_connection_failure_below_is_a_503() -> None:
    # given an app whose database connection is refused, raw
    app = failing_app(ConnectionRefusedError(111, "Connect call failed"))
    # when
    response = await get(app)
    # then
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


async def test_no_second_response_once_one_has_started() -> None:
    # given an app that fails after it started its answer
    started = {"type": "http.response.start", "status": 200, "headers": []}
    partial = {"type": "http.response.body", "body": b'{"data": ', "more_body": True}
    app = edge(failing_app(RuntimeError("late"), after=[started, partial]))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/graphql", "headers": []}
    # when it is asked something
    with pytest.raises(RuntimeError):
        await app(scope, receive, send)
    # then the one answer that started is all there is, and the failure reaches the server,
    # which cuts the connection so that the client knows the answer is short
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]


async def test_inside_starlette_a_route_failure_is_json_not_plain_text() -> None:
    # given a Starlette app with a route that fails, the layer in its middleware (as the app
    # factory puts it: Starlette's own outermost layer would answer first, in plain text)
    async def failing_route(_: Request) -> Response:
        raise RuntimeError("secret internals")

    app = Starlette(routes=[Route("/graphql", failing_route)], middleware=[Middleware(LastResort)])
    # when the route is asked
    response = await get(app)
    # then
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL"


# --- WebSocket ------------------------------------------------------------------------------


def websocket_client(app: ASGIApp) -> TestClient:
    return TestClient(edge(app))


def test_a_failure_before_the_handshake_is_a_json_denial() -> None:
    # given an app that fails before it answers the WebSocket handshake
    client = websocket_client(failing_app(RuntimeError("secret internals")))
    # when a client connects
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/graphql"):
        pass
    # then it is refused with the same typed error as over HTTP
    response = denied.value
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert "secret" not in response.text


@pytest.mark.parametrize(
    ("error", "code"),
    [(RuntimeError("secret internals"), 1011), (ServiceUnavailable("postgresql"), 1013)],
)
def test_a_failure_after_the_handshake_closes_with_a_code(error: Exception, code: int) -> None:
    # given an app that fails after it accepted a WebSocket
    client = websocket_client(failing_app(error, after=[{"type": "websocket.accept"}]))
    # when a client connects and waits for a message
    with (
        client.websocket_connect("/graphql") as websocket,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        websocket.receive_json()
    # then the connection closes with "internal error" or "try again later"
    assert closed.value.code == code


# --- in the app -----------------------------------------------------------------------------


@pytest.fixture
def app_without_database(settings: Settings, tmp_path: Path) -> tuple[ASGIApp, str]:
    broken = settings.model_copy(
        update={"database_url": "postgresql://postgres@127.0.0.1:1/x", "data_dir": tmp_path}
    )
    runtime = build_runtime(broken, broken.database_url or "")
    token = runtime.tokens.issue(uuid.uuid4(), uuid.uuid4())
    return create_app(runtime), token


def test_a_websocket_that_finds_the_database_down_is_told_to_try_again_later(
    app_without_database: tuple[ASGIApp, str],
) -> None:
    # given the app on an unreachable database, and a well-signed access token
    app, token = app_without_database
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    with (
        TestClient(app) as client,  # its lifespan closes the runtime
        client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        # when the connection is initialised (its session cannot be looked up)
        ws.send_json(init)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    # then it closes with "try again later", not as forbidden or broken
    assert closed.value.code == 1013
