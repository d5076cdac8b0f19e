"""Device sessions through GraphQL: what the access and refresh tokens of a session can do after
a refresh, a reused refresh token, logout, logout everywhere, revocation, a password change and
the end of its lifetime, and how the sessions are listed. SQL is used only to read state or to
make time pass for a session. The session rules on their own are in test_domain_rules.py."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bff.app import create_app
from bff.runtime import Runtime
from schema.ids import decode_id, encode_id
from tests.conftest import PASSWORD
from tests.documents import (
    CHANGE_PASSWORD,
    LOGIN,
    LOGOUT,
    LOGOUT_EVERYWHERE,
    REFRESH,
    REVOKE_SESSION,
    SIGN_UP,
    VIEWER,
    VIEWER_SESSIONS,
)

NEW_PASSWORD = "a brand new passphrase for the bank"

_addresses = itertools.count(1)


def unique_address() -> str:
    """A client address of its own, so that login throttling never links two tests."""
    n = next(_addresses)
    return f"10.51.{n // 250}.{n % 250 + 1}"


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime), client=(unique_address(), 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    access: str | None = None,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {access}"} if access else {}
    return await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


async def call(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    access: str | None = None,
) -> dict[str, Any]:
    """The data of a request that must succeed at the HTTP and GraphQL level."""
    response = await post(http, query, variables, access)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def codes(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


async def sign_up(http: httpx.AsyncClient, password: str = PASSWORD) -> str:
    email = f"session-{uuid.uuid4().hex[:12]}@example.com"
    variables = {"input": {"email": email, "password": password, "displayName": "Ana"}}
    payload = (await call(http, SIGN_UP, variables))["signUp"]
    assert payload["userErrors"] == []
    return email


async def login(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, device: str = "pytest phone"
) -> dict[str, Any]:
    variables = {"input": {"email": email, "password": password, "deviceName": device}}
    return (await call(http, LOGIN, variables))["login"]  # type: ignore[no-any-return]


async def open_session(
    http: httpx.AsyncClient, email: str, device: str = "pytest phone", password: str = PASSWORD
) -> Tokens:
    payload = await login(http, email, password, device)
    assert payload["userErrors"] == [], payload
    return Tokens(payload["accessToken"], payload["refreshToken"])


async def refresh(http: httpx.AsyncClient, refresh_token: str) -> dict[str, Any]:
    variables = {"input": {"refreshToken": refresh_token}}
    return (await call(http, REFRESH, variables))["refreshSession"]  # type: ignore[no-any-return]


async def viewer_status(http: httpx.AsyncClient, access: str) -> int:
    """The HTTP status of an authenticated request with this access token."""
    response = await post(http, VIEWER, access=access)
    if response.status_code == 200:
        assert response.json()["data"]["viewer"] is not None
    return response.status_code


async def sessions_of(http: httpx.AsyncClient, access: str) -> list[dict[str, Any]]:
    return (await call(http, VIEWER_SESSIONS, access=access))["viewer"]["sessions"]  # type: ignore[no-any-return]


async def current_session_id(http: httpx.AsyncClient, access: str) -> str:
    [current] = [s for s in await sessions_of(http, access) if s["current"]]
    return current["id"]  # type: ignore[no-any-return]


async def sql(runtime: Runtime, statement: str, **params: Any) -> list[Any]:
    async with runtime.database.engine.begin() as connection:
        result = await connection.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


# --- login and refresh ----------------------------------------------------------------------


async def test_login_returns_an_access_and_a_refresh_token(http: httpx.AsyncClient) -> None:
    # given
    email = await sign_up(http)
    # when
    payload = await login(http, email)
    # then
    assert payload["userErrors"] == []
    assert payload["accessToken"]
    assert payload["refreshToken"]
    assert payload["accessToken"] != payload["refreshToken"]
    assert payload["retryAfterSeconds"] is None
    assert payload["user"]["email"] == email
    assert await viewer_status(http, payload["accessToken"]) == 200


async def test_refresh_session_returns_a_new_working_pair(http: httpx.AsyncClient) -> None:
    # given
    email = await sign_up(http)
    first = await open_session(http, email)
    # when
    payload = await refresh(http, first.refresh)
    # then
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == email
    assert payload["accessToken"] not in (None, first.access)
    assert payload["refreshToken"] not in (None, first.refresh)
    assert await viewer_status(http, payload["accessToken"]) == 200
    # and the new refresh token can itself be traded
    again = await refresh(http, payload["refreshToken"])
    assert again["userErrors"] == []
    assert again["refreshToken"] not in (first.refresh, payload["refreshToken"])


async def test_after_reuse_an_access_token_already_in_use_gets_401_at_once(
    http: httpx.AsyncClient,
) -> None:
    # given a session whose newest access token has just been used (so the server knows it)
    email = await sign_up(http)
    first = await open_session(http, email)
    second = await refresh(http, first.refresh)
    assert await viewer_status(http, second["accessToken"]) == 200
    # when the spent refresh token is replayed
    reused = await refresh(http, first.refresh)
    assert codes(reused) == [("INVALID_REFRESH_TOKEN", "refreshToken")]
    # then the process that revoked the session refuses its access token on the next request
    assert await viewer_status(http, second["accessToken"]) == 401


async def test_two_concurrent_refreshes_with_the_same_token_exactly_one_wins(
    http: httpx.AsyncClient,
) -> None:
    # given
    email = await sign_up(http)
    tokens = await open_session(http, email)
    # when the same refresh token is traded twice at the same time
    results = await asyncio.gather(refresh(http, tokens.refresh), refresh(http, tokens.refresh))
    # then exactly one gets a new pair
    winners = [r for r in results if r["refreshToken"] is not None]
    losers = [r for r in results if r["refreshToken"] is None]
    assert len(winners) == 1
    assert winners[0]["userErrors"] == []
    assert winners[0]["accessToken"]
    # and the other gets a typed error, not a server failure
    assert len(losers) == 1
    assert losers[0]["accessToken"] is None
    [(code, field)] = codes(losers[0])
    assert code in ("INVALID_REFRESH_TOKEN", "REFRESH_IN_PROGRESS")
    assert field == "refreshToken"


# --- logout and logoutEverywhere ------------------------------------------------------------


async def test_logout_ends_only_the_current_session(http: httpx.AsyncClient) -> None:
    # given the same user on two devices
    email = await sign_up(http)
    phone = await open_session(http, email, "phone")
    tablet = await open_session(http, email, "tablet")
    assert await viewer_status(http, phone.access) == 200
    # when the phone logs out
    payload = (await call(http, LOGOUT, access=phone.access))["logout"]
    # then one session ended
    assert payload == {"sessionsEnded": 1, "userErrors": []}
    # and the phone's tokens no longer work
    assert await viewer_status(http, phone.access) == 401
    assert codes(await refresh(http, phone.refresh)) == [("INVALID_REFRESH_TOKEN", "refreshToken")]
    # and the tablet's still do
    assert await viewer_status(http, tablet.access) == 200
    assert (await refresh(http, tablet.refresh))["userErrors"] == []


async def test_logout_everywhere_ends_every_session_of_the_user(
    http: httpx.AsyncClient,
) -> None:
    # given the user on three devices, and another user
    email = await sign_up(http)
    devices = [await open_session(http, email, name) for name in ("phone", "tablet", "laptop")]
    for device in devices:
        assert await viewer_status(http, device.access) == 200
    bystander = await open_session(http, await sign_up(http), "bystander")
    # when the phone logs out everywhere
    payload = (await call(http, LOGOUT_EVERYWHERE, access=devices[0].access))["logoutEverywhere"]
    # then all three sessions ended
    assert payload == {"sessionsEnded": 3, "userErrors": []}
    for device in devices:
        assert await viewer_status(http, device.access) == 401
        assert codes(await refresh(http, device.refresh)) == [
            ("INVALID_REFRESH_TOKEN", "refreshToken")
        ]
    # and the other user is not affected
    assert await viewer_status(http, bystander.access) == 200


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        pytest.param(LOGOUT, None, "logout", id="logout"),
        pytest.param(LOGOUT_EVERYWHERE, None, "logoutEverywhere", id="logoutEverywhere"),
        pytest.param(
            REVOKE_SESSION,
            {"input": {"sessionId": encode_id("Session", uuid.uuid4())}},
            "revokeSession",
            id="revokeSession",
        ),
        pytest.param(
            CHANGE_PASSWORD,
            {"input": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}},
            "changePassword",
            id="changePassword",
        ),
    ],
)
async def test_anonymous_session_mutations_are_unauthenticated(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None, field: str
) -> None:
    # given no Authorization header
    # when
    payload = (await call(http, query, variables))[field]
    # then
    assert [error["code"] for error in payload["userErrors"]] == ["UNAUTHENTICATED"]
    assert payload.get("sessionsEnded", 0) == 0
    assert payload.get("user") is None


# --- viewer.sessions ------------------------------------------------------------------------


async def test_viewer_sessions_lists_devices_with_times_and_marks_the_current_one(
    http: httpx.AsyncClient,
) -> None:
    # given the user on a phone and on a tablet, and the tablet refreshed since
    email = await sign_up(http)
    phone = await open_session(http, email, "Ana's iPhone")
    tablet = await open_session(http, email, "Ana's iPad")
    assert (await refresh(http, tablet.refresh))["userErrors"] == []
    # when the phone lists the sessions
    listed = await sessions_of(http, phone.access)
    # then both devices are there, the tablet first (most recently used)
    assert [s["deviceName"] for s in listed] == ["Ana's iPad", "Ana's iPhone"]
    by_name = {s["deviceName"]: s for s in listed}
    # and only the phone's is current
    assert by_name["Ana's iPhone"]["current"] is True
    assert by_name["Ana's iPad"]["current"] is False
    # and the times are consistent
    for session in listed:
        created = datetime.fromisoformat(session["createdAt"])
        last_used = datetime.fromisoformat(session["lastUsedAt"])
        expires = datetime.fromisoformat(session["expiresAt"])
        assert created.utcoffset() is not None
        assert created <= last_used < expires
    ipad = by_name["Ana's iPad"]
    assert datetime.fromisoformat(ipad["lastUsedAt"]) > datetime.fromisoformat(ipad["createdAt"])
    # and from the tablet, the tablet is the current one
    from_tablet = await sessions_of(http, tablet.access)
    assert {s["deviceName"]: s["current"] for s in from_tablet} == {
        "Ana's iPad": True,
        "Ana's iPhone": False,
    }


async def test_viewer_sessions_does_not_list_ended_sessions(http: httpx.AsyncClient) -> None:
    # given three devices, one of which logged out
    email = await sign_up(http)
    phone = await open_session(http, email, "phone")
    await open_session(http, email, "tablet")
    laptop = await open_session(http, email, "laptop")
    assert (await call(http, LOGOUT, access=laptop.access))["logout"]["sessionsEnded"] == 1
    # when
    listed = await sessions_of(http, phone.access)
    # then
    assert sorted(s["deviceName"] for s in listed) == ["phone", "tablet"]


# --- revokeSession --------------------------------------------------------------------------


async def test_revoke_session_ends_one_of_your_sessions(http: httpx.AsyncClient) -> None:
    # given the user on a phone (lost) and a laptop
    email = await sign_up(http)
    lost = await open_session(http, email, "lost phone")
    laptop = await open_session(http, email, "laptop")
    assert await viewer_status(http, lost.access) == 200
    lost_id = await current_session_id(http, lost.access)
    # when the laptop revokes the phone's session
    variables = {"input": {"sessionId": lost_id}}
    payload = (await call(http, REVOKE_SESSION, variables, laptop.access))["revokeSession"]
    # then
    assert payload == {"sessionsEnded": 1, "userErrors": []}
    assert await viewer_status(http, lost.access) == 401
    assert codes(await refresh(http, lost.refresh)) == [("INVALID_REFRESH_TOKEN", "refreshToken")]
    assert [s["deviceName"] for s in await sessions_of(http, laptop.access)] == ["laptop"]


# --- changePassword -------------------------------------------------------------------------


async def test_change_password_with_the_wrong_current_password_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    # given the user on two devices
    email = await sign_up(http)
    phone = await open_session(http, email, "phone")
    tablet = await open_session(http, email, "tablet")
    # when the phone tries to change the password without knowing it
    variables = {"input": {"currentPassword": PASSWORD + "?", "newPassword": NEW_PASSWORD}}
    payload = (await call(http, CHANGE_PASSWORD, variables, phone.access))["changePassword"]
    # then
    assert payload["user"] is None
    assert codes(payload) == [("INVALID_CREDENTIALS", "currentPassword")]
    # and both sessions still work
    assert await viewer_status(http, tablet.access) == 200
    assert (await refresh(http, tablet.refresh))["userErrors"] == []
    # and the password is unchanged
    assert codes(await login(http, email, NEW_PASSWORD)) == [("INVALID_CREDENTIALS", None)]
    assert (await login(http, email, PASSWORD))["userErrors"] == []


async def test_change_password_ends_every_other_session_and_keeps_this_one(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given the user on a phone and on a tablet a thief holds, both in use
    email = await sign_up(http)
    phone = await open_session(http, email, "phone")
    thief = await open_session(http, email, "stolen tablet")
    assert await viewer_status(http, phone.access) == 200
    assert await viewer_status(http, thief.access) == 200
    # when the phone changes the password
    variables = {"input": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}
    payload = (await call(http, CHANGE_PASSWORD, variables, phone.access))["changePassword"]
    # then
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == email
    # and the thief's session is over at once
    assert await viewer_status(http, thief.access) == 401
    assert codes(await refresh(http, thief.refresh)) == [("INVALID_REFRESH_TOKEN", "refreshToken")]
    # and the phone's session goes on
    assert await viewer_status(http, phone.access) == 200
    assert [s["deviceName"] for s in await sessions_of(http, phone.access)] == ["phone"]
    assert (await refresh(http, phone.refresh))["userErrors"] == []
    # and only the new password logs in
    assert codes(await login(http, email, PASSWORD)) == [("INVALID_CREDENTIALS", None)]
    assert (await login(http, email, NEW_PASSWORD))["userErrors"] == []
    # and the change is recorded, then the attempt with the old password (fraud screening
    # counts failed logins)
    user_id = decode_id(payload["user"]["id"], "User", "id")
    events = await sql(
        runtime,
        "SELECT kind FROM security_events WHERE user_id = :user_id ORDER BY id",
        user_id=user_id,
    )
    assert [kind for (kind,) in events] == ["password_changed", "login_failed"]


async def test_change_password_to_a_short_one_is_weak_password(http: httpx.AsyncClient) -> None:
    # given
    email = await sign_up(http)
    phone = await open_session(http, email, "phone")
    tablet = await open_session(http, email, "tablet")
    # when
    variables = {"input": {"currentPassword": PASSWORD, "newPassword": "short"}}
    payload = (await call(http, CHANGE_PASSWORD, variables, phone.access))["changePassword"]
    # then
    assert payload["user"] is None
    assert codes(payload) == [("WEAK_PASSWORD", "newPassword")]
    # and nothing changed
    assert await viewer_status(http, tablet.access) == 200
    assert (await login(http, email, PASSWORD))["userErrors"] == []


# --- absolute lifetime ---------------------------------------------------------------------


async def test_an_expired_session_ends_for_refresh_and_access(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a session (never used yet) past its absolute lifetime, and another live device
    email = await sign_up(http)
    phone = await open_session(http, email, "phone")
    old = await open_session(http, email, "old laptop")
    await sql(
        runtime,
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = ("
        "  SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id"
        "   WHERE u.email_index = :email_index ORDER BY s.created_at DESC LIMIT 1)",
        email_index=runtime.database.sealing.index("email", email),
    )
    # when / then its refresh token fails
    assert codes(await refresh(http, old.refresh)) == [("INVALID_REFRESH_TOKEN", "refreshToken")]
    # and its access token gets 401
    assert await viewer_status(http, old.access) == 401
    # and it is no longer listed, while the live device is unaffected
    assert [s["deviceName"] for s in await sessions_of(http, phone.access)] == ["phone"]


async def test_a_session_expiring_while_in_use_stops_its_access_token(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a session in use
    email = await sign_up(http)
    tokens = await open_session(http, email, "phone")
    assert await viewer_status(http, tokens.access) == 200
    user_id = decode_id(
        (await call(http, VIEWER, access=tokens.access))["viewer"]["id"], "User", "id"
    )
    # when its absolute lifetime passes (and the process's cached answer is dropped)
    await sql(
        runtime,
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = :user_id",
        user_id=user_id,
    )
    runtime.actors.forget_user(user_id)
    # then
    assert await viewer_status(http, tokens.access) == 401
    assert codes(await refresh(http, tokens.refresh)) == [("INVALID_REFRESH_TOKEN", "refreshToken")]
