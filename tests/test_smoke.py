"""Given a customer with a funded account, the home query shows it."""

from __future__ import annotations

import httpx

from tests.conftest import World, graphql
from tests.documents import HOME


async def test_viewer_sees_own_funded_account(client: httpx.AsyncClient, world: World) -> None:
    # given
    alice = await world.person()
    await world.account(alice, "USD", funds="100.00")
    # when
    body = await graphql(client, HOME, person=alice)
    # then
    edges = body["data"]["viewer"]["accounts"]["edges"]
    assert [edge["node"]["balance"] for edge in edges] == [{"amount": "100.00", "currency": "USD"}]
