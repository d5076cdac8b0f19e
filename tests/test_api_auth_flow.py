"""Sign-up, log-in and bearer tokens, through the GraphQL endpoint only."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, World, graphql
from tests.documents import LOGIN, SIGN_UP, VIEWER


def unique_email(domain: str = "example.com") -> str:
    return f"user-{uuid.uuid4().hex[:12]}@{domain}"


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, name: str = "Ana"
) -> dict[str, Any]:
    body = await graphql(
        client,
        SIGN_UP,
        {"input": {"email": email, "password": password, "displayName": name}},
    )
    return body["data"]["signUp"]  # type: ignore[no-any-return]


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    body = await graphql(
        client,
        LOGIN,
        {"input": {"email": email, "password": password, "deviceName": "pytest phone"}},
    )
    return body["data"]["login"]  # type: ignore[no-any-return]


async def post_with_authorization(client: httpx.AsyncClient, authorization: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": VIEWER}, headers={"authorization": authorization}
    )


# --- signUp ---------------------------------------------------------------------------------


async def test_sign_up_creates_a_customer_with_a_lower_case_email(
    client: httpx.AsyncClient,
) -> None:
    # given
    local = f"Ana.Maria-{uuid.uuid4().hex[:8]}"
    email = f"  {local}@Example.COM "
    # when
    payload = await sign_up(client, email, name="  Ana   Maria ")
    # then
    assert payload["userErrors"] == []
    user = payload["user"]
    assert user["email"] == f"{local.lower()}@example.com"
    assert user["displayName"] == "Ana Maria"
    assert user["roles"] == ["CUSTOMER"]
    assert user["id"]


async def test_sign_up_twice_with_the_same_email_is_email_taken(
    client: httpx.AsyncClient,
) -> None:
    # given
    email = unique_email()
    assert (await sign_up(client, email))["userErrors"] == []
    # when
    payload = await sign_up(client, email)
    # then
    assert payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("EMAIL_TAKEN", "email")]


async def test_sign_up_with_the_same_email_in_another_case_is_email_taken(
    client: httpx.AsyncClient,
) -> None:
    # given
    email = unique_email()
    assert (await sign_up(client, email))["userErrors"] == []
    # when
    payload = await sign_up(client, email.upper())
    # then
    assert payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("EMAIL_TAKEN", "email")]


async def test_sign_up_with_an_11_character_password_is_weak_password(
    client: httpx.AsyncClient,
) -> None:
    # given
    email = unique_email()
    # when
    payload = await sign_up(client, email, password="a" * 11)
    # then
    assert payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("WEAK_PASSWORD", "password")
    ]
    # and the address is still free
    assert (await sign_up(client, email))["userErrors"] == []


async def test_sign_up_with_a_12_character_password_succeeds(client: httpx.AsyncClient) -> None:
    # given
    email = unique_email()
    # when
    payload = await sign_up(client, email, password="a" * 12)
    # then
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == email


@pytest.mark.parametrize(
    "email", ["not-an-email", "two@@example.com", "missing-domain@", "@example.com", ""]
)
async def test_sign_up_with_a_malformed_email_is_invalid_input(
    client: httpx.AsyncClient, email: str
) -> None:
    # given a malformed address
    # when
    payload = await sign_up(client, email)
    # then
    assert payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", "email")]


@pytest.mark.parametrize("name", ["Nul\x00Byte", "Bell\x07", "   "])
async def test_a_display_name_with_control_characters_or_blank_is_invalid_input(
    client: httpx.AsyncClient, name: str
) -> None:
    # given a display name PostgreSQL could not store, or one with nothing visible
    # when
    payload = await sign_up(client, unique_email(), name=name)
    # then it is a typed error on the field, not a server failure
    assert payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_INPUT", "displayName")
    ]


# --- login ----------------------------------------------------------------------------------


async def test_login_returns_a_token_pair_and_the_user(client: httpx.AsyncClient) -> None:
    # given
    email = unique_email()
    user_id = (await sign_up(client, email))["user"]["id"]
    # when
    payload = await log_in(client, email, PASSWORD)
    # then
    assert payload["userErrors"] == []
    assert payload["accessToken"]
    assert payload["refreshToken"]
    assert payload["accessToken"] != payload["refreshToken"]
    assert payload["expiresIn"] == 900
    assert payload["user"] == {"id": user_id, "email": email}


async def test_login_accepts_the_email_in_another_case(client: httpx.AsyncClient) -> None:
    # given
    email = unique_email()
    await sign_up(client, email)
    # when
    payload = await log_in(client, email.upper(), PASSWORD)
    # then
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == email


async def test_each_login_issues_new_tokens(client: httpx.AsyncClient) -> None:
    # given
    email = unique_email()
    await sign_up(client, email)
    first = await log_in(client, email, PASSWORD)
    # when
    second = await log_in(client, email, PASSWORD)
    # then
    assert second["accessToken"] != first["accessToken"]
    assert second["refreshToken"] != first["refreshToken"]


async def test_the_access_token_authenticates_as_bearer(client: httpx.AsyncClient) -> None:
    # given
    email = unique_email()
    user_id = (await sign_up(client, email, name="Bea"))["user"]["id"]
    token = (await log_in(client, email, PASSWORD))["accessToken"]
    # when
    response = await post_with_authorization(client, f"Bearer {token}")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "viewer": {"id": user_id, "email": email, "displayName": "Bea", "roles": ["CUSTOMER"]}
        }
    }


async def test_wrong_password_and_unknown_email_give_the_same_error(
    client: httpx.AsyncClient,
) -> None:
    # given
    email = unique_email()
    await sign_up(client, email)
    # when
    wrong_password = await log_in(client, email, PASSWORD + "!")
    unknown_email = await log_in(client, unique_email(), PASSWORD)
    # then
    assert wrong_password == unknown_email
    assert wrong_password["accessToken"] is None
    assert wrong_password["refreshToken"] is None
    assert wrong_password["user"] is None
    assert [e["code"] for e in wrong_password["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_login_with_a_malformed_email_is_invalid_credentials(
    client: httpx.AsyncClient,
) -> None:
    # given an address that could never have signed up
    # when
    payload = await log_in(client, "not-an-email", PASSWORD)
    # then
    assert payload["accessToken"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_CREDENTIALS"]


# --- bearer tokens --------------------------------------------------------------------------


def _tampered_payload(token: str) -> str:
    """The same token with one claim changed and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = claims.replace(b'"sub":"', b'"sub":"0', 1)
    assert forged != claims
    encoded = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    return f"{header}.{encoded}.{signature}"


def _tampered_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


@pytest.mark.parametrize(
    "make_authorization",
    [
        pytest.param(lambda _: "Bearer garbage", id="garbage"),
        pytest.param(lambda _: "Bearer a.b.c", id="three-garbage-segments"),
        pytest.param(lambda _: "Bearer ", id="empty"),
        pytest.param(lambda token: f"Bearer {_tampered_signature(token)}", id="bad-signature"),
        pytest.param(lambda token: f"Bearer {_tampered_payload(token)}", id="forged-claims"),
        pytest.param(lambda token: f"Basic {token}", id="wrong-scheme"),
    ],
)
async def test_a_bad_bearer_token_is_401_with_a_graphql_error(
    client: httpx.AsyncClient, world: World, make_authorization: Any
) -> None:
    # given
    person = await world.person()
    authorization = make_authorization(person.token)
    # when
    response = await post_with_authorization(client, authorization)
    # then
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None


async def test_an_anonymous_viewer_is_null(client: httpx.AsyncClient) -> None:
    # given no Authorization header
    # when
    response = await client.post("/graphql", json={"query": VIEWER})
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": None}}
