"""Connected apps on WebSockets: a DPoP-bound token (with a proof for GET /graphql in
`connection_init`) may subscribe to the shared accounts' events only, and its live streams end
when the customer disconnects the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import ServerStarter, World, graphql
from tests.documents import ACCOUNT_EVENTS, CONNECTED_APPS, REVOKE_APP_ACCESS
from tests.oauth_party import Connected, ThirdParty, register
from tests.oauth_party import connect as connect_app
from tests.servers import Server
from tests.test_subscriptions import PROTOCOL, Client, Closed


@pytest.fixture(scope="module")
async def server(one_server: ServerStarter) -> AsyncIterator[Server]:
    async with one_server("oauth-ws", {"BFF_DB_POOL_SIZE": "3"}) as started:
        yield started


@pytest.fixture
async def party(runtime: Runtime, server: Server) -> AsyncIterator[ThirdParty]:
    party = await register(runtime, {}, server.http_url)
    yield party
    await party.http.aclose()


async def subscribe(client: Client, account: str) -> None:
    await client.send(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": ACCOUNT_EVENTS, "variables": {"accountId": account}},
        }
    )


async def init(client: Client, party: ThirdParty, token: str, proof: str | None) -> dict[str, Any]:
    payload = {"authorization": f"DPoP {token}", **({"dpop": proof} if proof else {})}
    await client.send({"type": "connection_init", "payload": payload})
    return await client.receive()


async def test_an_app_streams_a_shared_account_until_the_customer_disconnects_it(
    party: ThirdParty, server: Server, world: World
) -> None:
    # given an app connected to one of two accounts
    connected: Connected = await connect_app(party, world, server.http_url)
    token = connected.tokens["access_token"]
    async with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws:
        client = Client(ws)
        # when it opens a connection with its token and a proof for GET /graphql
        proof = party.proof("GET", party.url("/graphql"), token)
        assert (await init(client, party, token, proof))["type"] == "connection_ack"
        # then it may follow the shared account, not the other one
        await subscribe(client, encode_id("Account", connected.other.id))
        assert await client.error_code("1") == "ACCOUNT_NOT_FOUND"
        await subscribe(client, encode_id("Account", connected.shared.id))
        snapshot = await client.event("1")
        assert snapshot["kind"] == "SNAPSHOT"
        # when the customer disconnects the app in their own app
        async with httpx.AsyncClient(base_url=server.http_url) as own:
            apps = await graphql(own, CONNECTED_APPS, person=connected.person)
            app_id = apps["data"]["viewer"]["connectedApps"][0]["id"]
            revoked = await graphql(
                own, REVOKE_APP_ACCESS, {"input": {"appId": app_id}}, connected.person
            )
            assert revoked["data"]["revokeAppAccess"]["userErrors"] == []
        # then the live stream ends
        assert await client.error_code("1") == "SESSION_ENDED"


async def test_a_connection_without_a_proof_is_refused(
    party: ThirdParty, server: Server, world: World
) -> None:
    connected = await connect_app(party, world, server.http_url)
    async with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws:
        client = Client(ws)
        with pytest.raises(Closed) as closed:
            await init(client, party, connected.tokens["access_token"], None)
    assert closed.value.code == 4403
    assert "DPoP proof" in closed.value.reason


async def test_a_proof_for_a_post_does_not_open_a_websocket(
    party: ThirdParty, server: Server, world: World
) -> None:
    connected = await connect_app(party, world, server.http_url)
    token = connected.tokens["access_token"]
    async with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws:
        client = Client(ws)
        with pytest.raises(Closed) as closed:
            await init(client, party, token, party.proof("POST", party.url("/graphql"), token))
    assert closed.value.code == 4403
    assert "DPoP proof" in closed.value.reason
