"""Customers are told when an app is given access to their accounts and when that access ends:
customer events written by the database in the transaction of the change (as for sign-ins)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import text

from bff.domain.notification_models import CustomerEventKind, Preferences
from bff.domain.notification_texts import compose
from bff.runtime import Runtime
from tests.conftest import World, graphql
from tests.documents import CONNECTED_APPS, REVOKE_APP_ACCESS
from tests.oauth_party import (
    ThirdParty,
    app,
    connect,
    customer,
    oauth_runtime,
    oauth_world,
    party,
)

__all__ = ["app", "oauth_runtime", "oauth_world", "party"]  # the fixtures used here


async def app_events(runtime: Runtime, user_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT kind, payload FROM customer_events WHERE user_id = :user_id"
                " AND kind LIKE 'app_%' ORDER BY id"
            ),
            {"user_id": user_id},
        )
        return [(row.kind, row.payload) for row in rows]


async def test_connecting_and_disconnecting_an_app_tell_the_customer(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport, oauth_runtime: Runtime
) -> None:
    # given a customer who connected an app
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    user_id = connected.person.user.id
    # then an app_connected event names the app and its scopes
    [(kind, payload)] = await app_events(oauth_runtime, user_id)
    assert kind == "app_connected"
    assert payload["client_name"] == "Budget Buddy"
    assert payload["scopes"] == ["accounts:read"]
    # when the customer disconnects it
    async with httpx.AsyncClient(transport=app, base_url="http://localhost") as own:
        apps = await graphql(own, CONNECTED_APPS, person=connected.person)
        app_id = apps["data"]["viewer"]["connectedApps"][0]["id"]
        await graphql(own, REVOKE_APP_ACCESS, {"input": {"appId": app_id}}, connected.person)
    # then an app_disconnected event follows, with the reason
    events = await app_events(oauth_runtime, user_id)
    assert [kind for kind, _ in events] == ["app_connected", "app_disconnected"]
    assert events[1][1]["reason"] == "customer"


async def test_a_new_consent_replacing_the_old_is_not_a_disconnection(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport, oauth_runtime: Runtime
) -> None:
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    # when the same customer approves the same app again (the earlier grant is replaced)
    authorization = await party.authorize(["accounts:read"])
    await customer(connected.person, app).approve(
        party.authorize_url(authorization), [connected.shared]
    )
    kinds = [kind for kind, _ in await app_events(oauth_runtime, connected.person.user.id)]
    assert kinds == ["app_connected", "app_connected"]


def test_the_notifications_name_the_app_and_connecting_one_cannot_be_muted() -> None:
    payload = {"client_name": "Budget Buddy"}
    connected = compose(CustomerEventKind.APP_CONNECTED, payload, "en_GB")
    ended = compose(CustomerEventKind.APP_DISCONNECTED, payload, "en_GB")
    assert connected.title == "App connected"
    assert "Budget Buddy" in connected.body
    assert ended.data == {"kind": "app_disconnected"}
    muted = Preferences(account_changes=False)
    assert muted.wants(CustomerEventKind.APP_CONNECTED)
    assert not muted.wants(CustomerEventKind.APP_DISCONNECTED)
