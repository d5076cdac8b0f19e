"""The WebSocket Origin check (bff/edge/websocket_origin.py) against a real `bff serve`: exact in
scheme, host and port. The attack: a page on another origin (another site, or the API's own
host over plain http, where a network attacker can serve anything) opens a WebSocket to the
API from its visitor's browser; browsers apply no CORS to WebSockets.

The server sits behind a "load balancer" that terminates TLS: it trusts 127.0.0.1 to name the
scheme in X-Forwarded-Proto, so its own origin is https://127.0.0.1:<port>."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.typing import Origin, Subprotocol

from tests.conftest import ServerStarter
from tests.servers import Server

PROTOCOL = Subprotocol("graphql-transport-ws")
LISTED = "https://app.example.com"
FROM_THE_BALANCER = {"x-forwarded-proto": "https"}


@pytest.fixture(scope="module")
async def server(one_server: ServerStarter) -> AsyncIterator[Server]:
    env = {"BFF_ALLOWED_ORIGINS": LISTED, "BFF_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    async with one_server("ws-origin", env) as started:
        yield started


async def handshake(
    server: Server, origin: str | None, headers: dict[str, str] | None = None
) -> int:
    """The status a handshake with this Origin gets: 101 when the connection opens."""
    try:
        async with connect(
            server.ws_url,
            subprotocols=[PROTOCOL],
            origin=Origin(origin) if origin else None,
            additional_headers={**FROM_THE_BALANCER, **(headers or {})},
            open_timeout=10,
        ) as ws:
            assert ws.subprotocol == PROTOCOL
            return 101
    except websockets.InvalidStatus as refused:
        response = refused.response
        if response.status_code == 403:
            [error] = json.loads(response.body or b"")["errors"]
            assert error["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
        return response.status_code


def own_origin(server: Server, scheme: str = "https") -> str:
    return f"{scheme}://127.0.0.1:{server.port}"


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        pytest.param(LISTED, 101, id="listed"),
        pytest.param(None, 101, id="native-app-sends-no-origin"),
        pytest.param("http://app.example.com", 403, id="listed-host-over-http"),
        pytest.param("https://app.example.com:8443", 403, id="listed-host-other-port"),
        pytest.param("https://evil.com", 403, id="another-site"),
        pytest.param("null", 403, id="opaque-origin"),
    ],
)
async def test_origins_are_compared_in_scheme_host_and_port(
    server: Server, origin: str | None, status: int
) -> None:
    # given a page of this origin (or an app, which sends none)
    # when it opens a WebSocket to the API
    # then
    assert await handshake(server, origin) == status


async def test_the_servers_own_pages_may_connect(server: Server) -> None:
    # given a page served by the API's own origin (GraphiQL in development)
    # when it opens a WebSocket
    # then
    assert await handshake(server, own_origin(server)) == 101


async def test_the_servers_own_host_over_plain_http_is_another_origin(server: Server) -> None:
    # given a page on http://<the API's host>, as a network attacker can serve one (the API
    # is reached over https)
    # when it opens a WebSocket to the API
    # then it is refused (Strawberry's own check, host and port only, let this pass)
    assert await handshake(server, own_origin(server, "http")) == 403


async def test_a_browser_saying_same_origin_is_believed(server: Server) -> None:
    # given a proxy that does not say the scheme, and a page the browser itself reports as
    # same-origin (pages cannot set Sec-Fetch-Site)
    headers = {"x-forwarded-proto": "http", "sec-fetch-site": "same-origin"}
    # when
    # then
    assert await handshake(server, own_origin(server), headers) == 101
