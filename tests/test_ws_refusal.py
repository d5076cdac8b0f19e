"""A refused graphql-transport-ws `connection_init` closes with 4403 (what graphql-ws clients
expect) and a reason the app can show, against a real `bff serve` process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bff.api.view import BAD_BEARER_REASON, ENDED_SESSION_REASON, NO_BEARER_REASON
from bff.config import Settings
from bff.runtime import Runtime
from tests.conftest import World
from tests.servers import Server

PROTOCOL = Subprotocol("graphql-transport-ws")
RECEIVE_TIMEOUT_S = 10.0
LOGOUT_EVERYWHERE = "mutation { logoutEverywhere { sessionsEnded userErrors { code } } }"


@pytest.fixture(scope="module")
async def server(
    runtime: Runtime,
    settings: Settings,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Server]:
    # The runtime has written the development key ring into data_dir: the server reads it too.
    assert settings.keys_file.exists()
    server = Server(
        "ws-refusal",
        database_url=database_url,
        redis_url=None,
        data_dir=settings.data_dir,
        log_dir=tmp_path_factory.mktemp("ws-refusal"),
        # A small pool: the PostgreSQL of CI (max_connections 100) is shared with the test
        # process's own pool.
        env={"BFF_DB_POOL_SIZE": "2", "BFF_DB_MAX_OVERFLOW": "2"},
    )
    await server.start()
    yield server
    await server.stop()


async def first_answer(server: Server, payload: dict[str, Any] | None) -> tuple[str, int, str]:
    """Send connection_init with `payload`: ("ack", 0, "") or ("closed", code, reason)."""
    async with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws:
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await ws.send(json.dumps(message))
        try:
            answer = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S))
        except websockets.ConnectionClosed as closed:
            frame = closed.rcvd
            return ("closed", frame.code, frame.reason) if frame else ("closed", 0, "no frame")
        assert answer == {"type": "connection_ack"}, answer
        return "ack", 0, ""


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="no-payload"),
        pytest.param({}, id="empty-payload"),
        pytest.param({"authorization": "Bearer "}, id="bearer-without-token"),
        pytest.param({"authorization": "Token abc"}, id="other-scheme"),
    ],
)
async def test_connection_init_without_a_bearer_token_says_what_to_send(
    server: Server, payload: dict[str, str] | None
) -> None:
    # given an open WebSocket
    # when connection_init carries no bearer token
    answer = await first_answer(server, payload)
    # then it closes with 4403 and a reason showing the expected payload
    assert answer == ("closed", 4403, NO_BEARER_REASON)
    assert '{"authorization": "Bearer <access token>"}' in NO_BEARER_REASON


async def test_connection_init_with_an_invalid_token_says_it_is_invalid_or_expired(
    server: Server,
) -> None:
    # given / when connection_init carries a token that does not verify
    answer = await first_answer(server, {"authorization": "Bearer not-a-jwt"})
    # then
    assert answer == ("closed", 4403, BAD_BEARER_REASON)


async def test_connection_init_with_the_token_of_an_ended_session_says_log_in_again(
    server: Server, world: World
) -> None:
    # given a valid token of a session that has since ended
    person = await world.person()
    async with httpx.AsyncClient(timeout=10) as http:
        ended = await http.post(
            server.graphql_url, json={"query": LOGOUT_EVERYWHERE}, headers=person.headers
        )
    assert ended.json()["data"]["logoutEverywhere"]["sessionsEnded"] == 1, ended.text
    # when it is sent in connection_init
    answer = await first_answer(server, {"authorization": f"Bearer {person.token}"})
    # then
    assert answer == ("closed", 4403, ENDED_SESSION_REASON)


async def test_connection_init_with_a_live_token_is_acknowledged(
    server: Server, world: World
) -> None:
    # given a live session's token (the control for the refusals above)
    person = await world.person()
    # when / then
    assert await first_answer(server, {"authorization": f"Bearer {person.token}"}) == (
        "ack",
        0,
        "",
    )


@pytest.mark.parametrize("message", ["null", '"connection_init"', "1", "[]", "true"])
async def test_a_message_that_is_json_but_not_an_object_closes_with_4400(
    server: Server, message: str
) -> None:
    # given an open WebSocket (found by tests/test_fuzz.py: `null` closed it with 1011)
    async with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws:
        # when the client sends JSON that is no graphql-transport-ws message
        await ws.send(message)
        # then the server closes for a protocol breach, not for an internal error
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S)
    frame = closed.value.rcvd
    assert frame is not None
    assert frame.code == 4400, frame


async def test_the_server_logged_no_traceback_while_refusing(server: Server) -> None:
    # given the refusals above (and one more)
    await first_answer(server, {})
    # when / then the server handled them as answers, not as errors
    assert "Traceback" not in server.log_tail(lines=10_000)
