"""Enrolling an authenticator app (TOTP) through GraphQL: enroll, confirm with a code, remove
with a code; a code is good once; guesses are throttled; only the signed-in customer manages
their own factor (not staff without transfers, not a connected app); the secret is sealed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
from sqlalchemy import text

from bff.domain.rbac import Role
from bff.runtime import Runtime
from tests.conftest import Person, World, graphql
from tests.oauth_party import ThirdParty, app, connect, oauth_runtime, oauth_world, party
from tests.test_db_constraints import refused, sqlstate

__all__ = ["app", "oauth_runtime", "oauth_world", "party"]  # the fixtures used here

ENROLL = "mutation { enrollTotp { enrollment { secret uri } userErrors { code field } } }"
CONFIRM = """
mutation ($code: String!) {
  confirmTotpEnrollment(input: {code: $code}) { done userErrors { code field } }
}
"""
REMOVE = """
mutation ($code: String!) { removeTotp(input: {code: $code}) { done userErrors { code field } } }
"""


async def enroll(client: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    body = await graphql(client, ENROLL, person=person)
    return body["data"]["enrollTotp"]  # type: ignore[no-any-return]


async def confirm(client: httpx.AsyncClient, person: Person, code: str) -> dict[str, Any]:
    body = await graphql(client, CONFIRM, {"code": code}, person)
    return body["data"]["confirmTotpEnrollment"]  # type: ignore[no-any-return]


async def remove(client: httpx.AsyncClient, person: Person, code: str) -> dict[str, Any]:
    body = await graphql(client, REMOVE, {"code": code}, person)
    return body["data"]["removeTotp"]  # type: ignore[no-any-return]


def code_at(secret: str, offset: int = 0) -> str:
    """The code the customer's authenticator app shows, `offset` 30-second steps from now."""
    return pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=offset)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def enrolled(client: httpx.AsyncClient, person: Person) -> str:
    """Enroll and confirm an authenticator app for `person`; its secret."""
    secret = str((await enroll(client, person))["enrollment"]["secret"])
    assert (await confirm(client, person, code_at(secret)))["userErrors"] == []
    return secret


async def test_a_customer_enrolls_confirms_and_removes_an_authenticator_app(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a signed-in customer
    alice = await world.person()
    # when she enrolls an authenticator app
    started = await enroll(client, alice)
    # then she gets a secret and an otpauth URI for it, naming the bank and her email
    assert started["userErrors"] == []
    secret, uri = started["enrollment"]["secret"], started["enrollment"]["uri"]
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parse_qs(parts.query)["secret"] == [secret]
    assert alice.user.email in parts.path.replace("%40", "@")
    # when she confirms it with a wrong code, then with the code her app shows
    assert (await confirm(client, alice, wrong(code_at(secret))))["userErrors"] == [
        {"code": "INVALID_SECOND_FACTOR", "field": "code"}
    ]
    assert await confirm(client, alice, code_at(secret)) == {"done": True, "userErrors": []}
    # then enrolling again is refused while it is active
    assert (await enroll(client, alice))["userErrors"] == [
        {"code": "SECOND_FACTOR_ENROLLED", "field": None}
    ]
    # when she removes it with a wrong code, it stays; with the next code, it is gone
    assert (await remove(client, alice, wrong(code_at(secret, 1))))["done"] is False
    assert await remove(client, alice, code_at(secret, 1)) == {"done": True, "userErrors": []}
    assert (await remove(client, alice, code_at(secret, 1)))["userErrors"] == [
        {"code": "SECOND_FACTOR_NOT_ENROLLED", "field": None}
    ]


async def test_a_code_is_accepted_once(client: httpx.AsyncClient, world: World) -> None:
    # given a customer who confirmed her app with the code it shows now
    alice = await world.person()
    secret = await enrolled(client, alice)
    # when someone replays that code (seen over her shoulder) to remove the app
    replayed = await remove(client, alice, code_at(secret))
    # then it is refused
    assert replayed == {
        "done": False,
        "userErrors": [{"code": "INVALID_SECOND_FACTOR", "field": "code"}],
    }


async def test_guessing_codes_is_throttled_like_logins(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    # given a stolen session of a customer with an authenticator app
    alice = await world.person()
    secret = await enrolled(client, alice)
    free = runtime.settings.throttle_policy.limits
    # when the thief guesses codes to remove it
    answers = [await remove(client, alice, wrong(code_at(secret, 1))) for _ in range(6)]
    # then after the free failures the guesses are throttled, and even the right code waits
    codes = [answer["userErrors"][0]["code"] for answer in answers]
    assert codes[:3] == ["INVALID_SECOND_FACTOR"] * 3, free
    assert "LOGIN_THROTTLED" in codes[3:]
    assert (await remove(client, alice, code_at(secret, 1)))["userErrors"][0]["code"] == (
        "LOGIN_THROTTLED"
    )


async def test_the_secret_is_stored_sealed(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    alice = await world.person()
    secret = str((await enroll(client, alice))["enrollment"]["secret"])
    async with runtime.database.engine.connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT secret_sealed FROM second_factors WHERE user_id = :u"),
                {"u": alice.user.id},
            )
        ).scalar_one()
    assert secret.encode() not in bytes(stored)


async def test_only_a_signed_in_customer_manages_their_factor(
    client: httpx.AsyncClient, world: World
) -> None:
    # given no token, and staff whose role sends no money
    operator = await world.person(Role.OPERATOR)
    anonymous = await graphql(client, ENROLL)
    staff = await enroll(client, operator)
    # then both are refused
    assert anonymous["data"]["enrollTotp"]["userErrors"] == [
        {"code": "UNAUTHENTICATED", "field": None}
    ]
    assert staff["userErrors"] == [{"code": "PERMISSION_DENIED", "field": None}]


async def test_a_connected_app_cannot_enroll_or_remove_a_factor(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an app the customer connected with the widest scopes
    connected = await connect(party, oauth_world, app, ["accounts:read", "transfers:write"])
    token = connected.tokens["access_token"]
    # when it tries to enroll its own authenticator for the customer, or remove theirs
    enrolling = (await party.graphql(token, ENROLL)).json()["data"]["enrollTotp"]
    removing = (await party.graphql(token, REMOVE, {"code": "123456"})).json()["data"]
    # then both are refused
    assert enrolling["userErrors"] == [{"code": "PERMISSION_DENIED", "field": None}]
    assert removing["removeTotp"]["userErrors"] == [{"code": "PERMISSION_DENIED", "field": None}]


async def test_the_database_keeps_one_authenticator_per_user_and_dates_activation(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    alice = await world.person()
    await enroll(client, alice)
    second = await refused(
        runtime,
        "INSERT INTO second_factors (id, user_id, kind, status, secret_sealed)"
        " VALUES (gen_random_uuid(), :u, 'totp', 'pending', '\\x00')",
        {"u": alice.user.id},
    )
    undated = await refused(
        runtime,
        "UPDATE second_factors SET status = 'active' WHERE user_id = :u",
        {"u": alice.user.id},
    )
    assert sqlstate(second) == "23505"  # unique_violation
    assert sqlstate(undated) == "23514"  # check_violation
