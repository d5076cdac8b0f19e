"""The customer's live stream follows a held transfer to its outcome: a real `bff serve` with
screening on, a WebSocket subscriber on the paying account, and an analyst's approval."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from bff.domain.rbac import Role
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import ServerStarter, World, graphql
from tests.documents import APPROVE_TRANSFER
from tests.screened import limit_per_transfer, model_file, send
from tests.servers import Server
from tests.test_subscriptions import PROTOCOL, Client

__all__ = ["model_file"]  # the fixture used here


@pytest.fixture(scope="module")
async def server(one_server: ServerStarter, model_file: Path) -> AsyncIterator[Server]:
    env = {"BFF_FRAUD_SCREENING": "true", "BFF_FRAUD_MODEL_FILE": str(model_file)}
    async with one_server("review-live", env) as started:
        yield started


async def test_a_subscriber_sees_the_hold_and_then_the_approved_posting(
    server: Server, runtime: Runtime, world: World
) -> None:
    # given Alice following her account live, under rules that hold her transfers above 10.00
    alice, bob = await world.person(), await world.person()
    analyst = await world.person(Role.FRAUD_ANALYST)
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    await limit_per_transfer(runtime, alice, 1_000)
    async with (
        connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        client = Client(ws)
        await client.init(alice.token)
        await client.subscribe("1", encode_id("Account", source.id))
        snapshot = await client.event("1")
        assert snapshot["kind"] == "SNAPSHOT"
        # when she sends Bob 30.00, and it is held
        payload = await send(http, alice, source, destination, "30.00")
        assert payload["transfer"]["status"] == "PENDING", payload
        # then her stream shows the hold: the amount reserved, nothing posted
        held = await client.event("1")
        assert held["kind"] == "TRANSFER_HELD"
        assert int(held["sequence"]) == int(snapshot["sequence"]) + 1
        assert held["availableBalance"]["amount"] == "70.00"
        assert held["balance"]["amount"] == "100.00"
        # when an analyst approves it
        approved = await graphql(
            http,
            APPROVE_TRANSFER,
            {"input": {"transferId": payload["transfer"]["id"], "note": "verified"}},
            analyst,
        )
        assert approved["data"]["approveTransfer"]["userErrors"] == []
        # then her stream shows it posted, at the next sequence, for exactly the amount
        posted = await client.event("1")
        assert posted["kind"] == "TRANSACTION_POSTED"
        assert int(posted["sequence"]) == int(held["sequence"]) + 1
        assert posted["balance"]["amount"] == "70.00"
        assert posted["transaction"]["amount"]["amount"] == "-30.00"
        assert posted["transaction"]["transfer"]["id"] == payload["transfer"]["id"]
