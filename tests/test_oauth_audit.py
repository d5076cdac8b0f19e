"""Client and consent changes leave audit entries, written by the database in the transaction
of the change: a client registered (by whom), a grant given by the customer, and its end, by
the customer or by the server when a code is replayed (no actor, the reason kept)."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import httpx

from bff.domain.rbac import Role
from bff.runtime import Runtime
from tests.conftest import World, graphql
from tests.documents import CONNECTED_APPS, REGISTER_OAUTH_CLIENT, REVOKE_APP_ACCESS
from tests.oauth_party import (
    REDIRECT_URI,
    ThirdParty,
    app,
    connect,
    oauth_runtime,
    oauth_world,
    party,
)

__all__ = ["app", "oauth_runtime", "oauth_world", "party"]  # the fixtures used here


async def audited(runtime: Runtime, object_id: str) -> list[asyncpg.Record]:
    connection = await _connect(runtime)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(
            "SELECT operation, actor_id, subject_id, client_id, detail::text AS detail"
            " FROM audit_log WHERE object_id = $1 ORDER BY id",
            object_id,
        )
        return rows
    finally:
        await connection.close()


async def test_registering_a_client_is_recorded_with_the_admin_who_did_it(
    app: httpx.ASGITransport, oauth_world: World, oauth_runtime: Runtime
) -> None:
    # given an admin
    admin = await oauth_world.person(Role.ADMIN)
    registration = {
        "input": {
            "name": "Ledger Lens",
            "redirectUris": [REDIRECT_URI],
            "scopes": ["accounts:read"],
        }
    }
    # when the admin registers a client
    async with httpx.AsyncClient(transport=app, base_url="http://localhost") as client:
        answer = await graphql(client, REGISTER_OAUTH_CLIENT, registration, admin)
    client_id = answer["data"]["registerOAuthClient"]["client"]["clientId"]
    # then the log says who registered which client, with its scopes and redirect URIs
    [entry] = await audited(oauth_runtime, client_id)
    assert entry["operation"] == "oauth_client.create"
    assert entry["actor_id"] == admin.user.id
    assert '"Ledger Lens"' in entry["detail"]
    assert REDIRECT_URI in entry["detail"]


async def test_a_consent_and_the_customers_revocation_are_recorded(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport, oauth_runtime: Runtime
) -> None:
    # given a customer who connected an app
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    user_id: UUID = connected.person.user.id
    async with httpx.AsyncClient(transport=app, base_url="http://localhost") as own:
        apps = await graphql(own, CONNECTED_APPS, person=connected.person)
        grant_id = apps["data"]["viewer"]["connectedApps"][0]["id"]
        # when the customer disconnects it
        await graphql(own, REVOKE_APP_ACCESS, {"input": {"appId": grant_id}}, connected.person)
    # then the grant's creation and end are in the log, both by the customer, about them
    grant = await _grant_of(oauth_runtime, user_id)
    entries = await audited(oauth_runtime, str(grant))
    assert [entry["operation"] for entry in entries] == ["oauth_grant.create", "oauth_grant.revoke"]
    assert {entry["actor_id"] for entry in entries} == {user_id}
    assert {entry["subject_id"] for entry in entries} == {user_id}
    assert {entry["client_id"] for entry in entries} == {party.client_id}
    assert '"reason": "customer"' in entries[1]["detail"]


async def test_a_grant_ended_by_a_replayed_code_is_recorded_without_an_actor(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport, oauth_runtime: Runtime
) -> None:
    # given a customer who connected an app, and the code it was exchanged once
    connected = await connect(party, oauth_world, app, ["accounts:read"])
    # when the code is replayed (the server ends the grant)
    replay = await party.exchange(connected.code, connected.authorization)
    assert replay.status_code == 400
    # then the end is recorded with the reason and no actor: nobody chose it
    grant = await _grant_of(oauth_runtime, connected.person.user.id)
    ended = (await audited(oauth_runtime, str(grant)))[-1]
    assert ended["operation"] == "oauth_grant.revoke"
    assert ended["actor_id"] is None
    assert '"reason": "code_replay"' in ended["detail"]


async def _grant_of(runtime: Runtime, user_id: UUID) -> UUID:
    connection = await _connect(runtime)
    try:
        grant: UUID = await connection.fetchval(
            "SELECT id FROM oauth_grants WHERE user_id = $1", user_id
        )
        return grant
    finally:
        await connection.close()


async def _connect(runtime: Runtime) -> asyncpg.Connection:
    return await asyncpg.connect(runtime.database.plain_url)
