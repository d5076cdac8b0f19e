"""What a connected app may read and move through /graphql: only the shared accounts, only
with the scopes granted, within the daily limit; and what the customer sees and cuts."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import World, graphql
from tests.graphql_calls import account_id, transfer_input
from tests.oauth_party import (
    ThirdParty,
    app,
    connect,
    oauth_runtime,
    oauth_world,
    party,
)

__all__ = ["app", "oauth_runtime", "oauth_world", "party"]  # the fixtures used here

ACCOUNT_WITH_TRANSACTIONS = """
query ($id: ID!) {
  account(id: $id) { id balance { amount } transactions(first: 5) { edges { node { id } } } }
}
"""
NODE = "query ($id: ID!) { node(id: $id) { id } }"
VIEWER_PRIVATE = "{ viewer { sessions { id } activity { edges { cursor } } connectedApps { id } } }"
TRANSFER = """
mutation ($input: CreateTransferInput!) {
  createTransfer(input: $input) { transfer { id } userErrors { code field } }
}
"""
LOGOUT_EVERYWHERE = "mutation { logoutEverywhere { sessionsEnded userErrors { code } } }"
OPEN_ACCOUNT = """
mutation { openAccount(input: {name: "App's", currency: USD}) { userErrors { code } } }
"""
CONNECTED_APPS = """
{ viewer { connectedApps { id clientId name scopes dailyLimit lastUsedAt
                           accounts { id } } } }
"""
REVOKE = """
mutation ($input: RevokeAppAccessInput!) {
  revokeAppAccess(input: $input) { app { id } userErrors { code field } }
}
"""


async def data_of(
    party: ThirdParty, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = await party.graphql(token, query, variables)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def test_accounts_read_sees_the_shared_account_without_its_transactions(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an app granted accounts:read on one account
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    token = connected.tokens["access_token"]
    # when it reads the shared account and the other one
    shared = await data_of(
        party, token, ACCOUNT_WITH_TRANSACTIONS, {"id": account_id(connected.shared)}
    )
    other = await data_of(
        party, token, ACCOUNT_WITH_TRANSACTIONS, {"id": account_id(connected.other)}
    )
    node = await data_of(party, token, NODE, {"id": account_id(connected.other)})
    # then it sees the shared balance but no transactions, and the other account is missing
    assert shared["account"]["balance"]["amount"] == "100.00"
    assert shared["account"]["transactions"]["edges"] == []
    assert other["account"] is None
    assert node["node"] is None


async def test_transactions_read_sees_the_shared_accounts_transactions(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    connected = await connect(party, oauth_world, app, ["accounts:read", "transactions:read"])
    token = connected.tokens["access_token"]
    shared = await data_of(
        party, token, ACCOUNT_WITH_TRANSACTIONS, {"id": account_id(connected.shared)}
    )
    assert len(shared["account"]["transactions"]["edges"]) == 1  # the deposit


async def test_an_app_never_sees_the_customers_sessions_activity_or_apps(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    connected = await connect(party, oauth_world, app, ["accounts:read", "transactions:read"])
    viewer = (await data_of(party, connected.tokens["access_token"], VIEWER_PRIVATE))["viewer"]
    assert viewer == {"sessions": None, "activity": None, "connectedApps": None}


async def test_an_app_without_transfers_write_gets_insufficient_scope(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    variables = transfer_input(account_id(connected.shared), account_id(connected.other))
    answer = await data_of(party, connected.tokens["access_token"], TRANSFER, variables)
    assert answer["createTransfer"]["userErrors"] == [{"code": "INSUFFICIENT_SCOPE", "field": None}]


async def test_a_retried_payment_gets_its_transfer_after_the_daily_room_ran_out(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an app allowed to pay 10 a day that paid all 10 at once
    connected = await connect(
        party, oauth_world, app, ["accounts:read", "transfers:write"], daily_limit=10
    )
    token = connected.tokens["access_token"]
    payment = transfer_input(account_id(connected.shared), account_id(connected.other), "10.00")
    paid = await data_of(party, token, TRANSFER, payment)
    # when it retries the same request (its answer was lost), and then sends a new one
    retried = await data_of(party, token, TRANSFER, payment)
    fresh = transfer_input(account_id(connected.shared), account_id(connected.other), "1.00")
    over = await data_of(party, token, TRANSFER, fresh)
    over_again = await data_of(party, token, TRANSFER, fresh)
    # then the retry gets the transfer that was paid, not a refusal; the new one is refused,
    # and stays refused under its key
    assert retried["createTransfer"] == paid["createTransfer"]
    assert paid["createTransfer"]["transfer"] is not None
    refusal = [{"code": "TRANSFER_LIMIT_EXCEEDED", "field": "amount.amount"}]
    assert over["createTransfer"]["userErrors"] == refusal
    assert over_again["createTransfer"]["userErrors"] == refusal


async def test_an_app_pays_from_shared_accounts_within_its_daily_limit(
    party: ThirdParty,
    oauth_world: World,
    app: httpx.ASGITransport,
    oauth_runtime: Runtime,
) -> None:
    # given an app allowed to pay 10 a day from one account
    connected = await connect(
        party, oauth_world, app, ["accounts:read", "transfers:write"], daily_limit=10
    )
    token = connected.tokens["access_token"]
    shared, other = account_id(connected.shared), account_id(connected.other)
    # when it pays 6, then from the unshared account, then 6 more
    paid = await data_of(party, token, TRANSFER, transfer_input(shared, other, "6.00"))
    unshared = await data_of(party, token, TRANSFER, transfer_input(other, shared, "1.00"))
    over = await data_of(party, token, TRANSFER, transfer_input(shared, other, "6.00"))
    # then the first is paid and names the client, the others are refused
    assert paid["createTransfer"]["userErrors"] == []
    assert unshared["createTransfer"]["userErrors"] == [
        {"code": "ACCOUNT_NOT_FOUND", "field": "fromAccountId"}
    ]
    assert over["createTransfer"]["userErrors"] == [
        {"code": "TRANSFER_LIMIT_EXCEEDED", "field": "amount.amount"}
    ]
    async with oauth_runtime.database.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT o.client_id, t.amount FROM oauth_transfers o"
                    " JOIN transfers t ON t.id = o.transfer_id"
                    " JOIN oauth_grants g ON g.id = o.grant_id"
                    " WHERE g.user_id = :user_id"
                ),
                {"user_id": connected.person.user.id},
            )
        ).all()
    assert [tuple(row) for row in rows] == [(party.client_id, 600)]


async def test_an_app_cannot_manage_the_customers_sessions_or_open_accounts(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    connected = await connect(party, oauth_world, app, ["accounts:read", "transfers:write"])
    token = connected.tokens["access_token"]
    logout = await data_of(party, token, LOGOUT_EVERYWHERE)
    opened = await data_of(party, token, OPEN_ACCOUNT)
    assert logout["logoutEverywhere"]["userErrors"] == [{"code": "PERMISSION_DENIED"}]
    assert opened["openAccount"]["userErrors"] == [{"code": "PERMISSION_DENIED"}]


async def test_the_customer_sees_and_revokes_a_connected_app(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given a customer who connected an app that has used its token
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    token = connected.tokens["access_token"]
    await data_of(party, token, "{ viewer { email } }")
    async with httpx.AsyncClient(transport=app, base_url="http://localhost") as own:
        # when the customer lists their connected apps in their own app
        listed = await graphql(own, CONNECTED_APPS, person=connected.person)
        apps = listed["data"]["viewer"]["connectedApps"]
        # then the app is there with its scopes, shared accounts and last use
        assert len(apps) == 1
        assert apps[0]["clientId"] == party.client_id
        assert apps[0]["scopes"] == ["accounts:read"]
        assert apps[0]["accounts"] == [{"id": encode_id("Account", connected.shared.id)}]
        assert apps[0]["lastUsedAt"] is not None
        # when the app itself tries to revoke it, it is refused
        by_app = await data_of(party, token, REVOKE, {"input": {"appId": apps[0]["id"]}})
        assert by_app["revokeAppAccess"]["userErrors"] == [
            {"code": "PERMISSION_DENIED", "field": None}
        ]
        # when the customer revokes it
        revoked = await graphql(own, REVOKE, {"input": {"appId": apps[0]["id"]}}, connected.person)
        assert revoked["data"]["revokeAppAccess"]["userErrors"] == []
        # then the app's token stops working at once, and the app is no longer listed
        assert (await party.graphql(token, "{ viewer { email } }")).status_code == 401
        after = await graphql(own, CONNECTED_APPS, person=connected.person)
        assert after["data"]["viewer"]["connectedApps"] == []


async def test_another_customer_cannot_revoke_someone_elses_app(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    stranger = await oauth_world.person()
    async with httpx.AsyncClient(transport=app, base_url="http://localhost") as own:
        apps = (await graphql(own, CONNECTED_APPS, person=connected.person))["data"]["viewer"]
        app_id = apps["connectedApps"][0]["id"]
        refused = await graphql(own, REVOKE, {"input": {"appId": app_id}}, stranger)
    assert refused["data"]["revokeAppAccess"]["userErrors"] == [
        {"code": "APP_NOT_FOUND", "field": "appId"}
    ]
    assert (
        await party.graphql(connected.tokens["access_token"], "{ viewer { email } }")
    ).status_code == 200
