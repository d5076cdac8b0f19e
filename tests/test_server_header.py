"""No answer of a real `bff serve` names the software serving it (uvicorn adds `server: uvicorn`
unless told not to): every kind of HTTP answer, from the app, from each edge layer and from
uvicorn itself, and every WebSocket handshake, accepted or refused. Such a header tells an
attacker which advisories to try."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.typing import Origin, Subprotocol

from tests.conftest import ServerStarter
from tests.servers import HOST, Server

PROTOCOL = Subprotocol("graphql-transport-ws")


@pytest.fixture(scope="module")
async def server(one_server: ServerStarter) -> AsyncIterator[Server]:
    env = {"BFF_MAX_BODY_BYTES": "1024"}
    async with one_server("server-header", env) as started:
        yield started


async def raw_answer(server: Server, request: bytes) -> tuple[int, set[str]]:
    """Send bytes as they are; the status and header names of what comes back."""
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    finally:
        writer.close()
    status_line, *lines = head.decode("latin-1").split("\r\n")
    names = {line.split(":", 1)[0].strip().lower() for line in lines if ":" in line}
    return int(status_line.split()[1]), names


HTTP_ANSWERS = [
    pytest.param("GET", "/healthz", {}, b"", 200, id="health"),
    pytest.param("POST", "/graphql", {}, b'{"query": "{ __typename }"}', 200, id="graphql"),
    pytest.param("GET", "/graphql?query={__typename}", {}, b"", 400, id="csrf-refusal"),
    pytest.param("POST", "/graphql", {"authorization": "Bearer x"}, b"{}", 401, id="bad-token"),
    pytest.param("POST", "/graphql", {}, b"x" * 2048, 413, id="body-too-large"),
    pytest.param("GET", "/nowhere", {}, b"", 404, id="not-found"),
    pytest.param("PUT", "/graphql", {}, b"", 405, id="method-not-allowed"),
    pytest.param(
        "OPTIONS",
        "/graphql",
        {"origin": "https://evil.example.net", "access-control-request-method": "POST"},
        b"",
        403,
        id="refused-preflight",
    ),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), HTTP_ANSWERS)
async def test_no_http_answer_names_the_server(
    server: Server, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    # given a request that ends in this kind of answer (bodies are JSON)
    headers = {**({"content-type": "application/json"} if body else {}), **headers}
    # when
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(
            method, f"{server.http_url}{path}", headers=headers, content=body
        )
    # then
    assert response.status_code == status
    assert "server" not in response.headers
    assert "date" in response.headers


async def test_uvicorns_own_answer_to_a_malformed_request_names_no_server(server: Server) -> None:
    # given bytes that are not HTTP
    # when
    status, headers = await raw_answer(server, b"NOT HTTP AT ALL\r\n\r\n")
    # then uvicorn refuses it without naming itself
    assert status == 400
    assert "server" not in headers


async def test_an_accepted_websocket_handshake_names_no_server(server: Server) -> None:
    # given
    # when an app opens a WebSocket
    async with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws:
        handshake = ws.response
    # then the 101 answer does not name the server
    assert handshake is not None
    assert handshake.status_code == 101
    assert "server" not in {name.lower() for name in handshake.headers}


@pytest.mark.parametrize(
    ("path", "origin"),
    [("/graphql", "https://evil.example.net"), ("/nowhere", None)],
    ids=["foreign-origin", "no-such-endpoint"],
)
async def test_a_refused_websocket_handshake_names_no_server(
    server: Server, path: str, origin: str | None
) -> None:
    # given a handshake the edge or the router refuses
    url = server.ws_url.replace("/graphql", path)
    # when
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(
            url,
            subprotocols=[PROTOCOL],
            origin=Origin(origin) if origin else None,
            open_timeout=10,
        ):
            pass
    # then
    assert refused.value.response.status_code == 403
    assert "server" not in {name.lower() for name in refused.value.response.headers}


async def test_a_malformed_websocket_handshake_names_no_server(server: Server) -> None:
    # given an upgrade request without the WebSocket key and version
    request = (
        f"GET /graphql HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    ).encode()
    # when
    status, headers = await raw_answer(server, request)
    # then
    assert 400 <= status < 500
    assert "server" not in headers
