"""Attacks on access tokens (issue 3): each one is refused with HTTP 401 and a GraphQL-shaped
`UNAUTHENTICATED` error, never a 500.

Forged tokens are built by hand (base64url JSON header and claims, then a signature) so that each
test changes exactly one thing about a token the server would otherwise accept. The control test
`test_a_token_re_signed_by_hand_with_the_server_key_is_accepted` proves that the hand-built tokens
are otherwise valid, so every refusal below is caused by the one change under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

from bff.app import create_app
from bff.auth.keys import thumbprint
from bff.domain.rbac import Role
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import PASSWORD, Person, World, graphql
from tests.documents import (
    ASSIGN_ROLE,
    LOGIN,
    LOGOUT,
    LOGOUT_EVERYWHERE,
    REFRESH,
    REVOKE_ROLE,
    VIEWER,
)

DROP = object()  # marks a header member or claim to leave out of a forged token
ATTACKER = object()  # marks a header member to fill from the attacker's own key


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a real server runs it: an unhandled exception becomes a 500 response (instead of
    being re-raised into the test), so that "never a 500" is an assertion on the status code."""
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


# --- helpers: building tokens by hand ----------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(value: Any) -> str:
    """A JWS segment: base64url of compact JSON (Python's json also writes NaN and Infinity)."""
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token the server issued, read without verifying anything."""
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def _without_dropped(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not DROP}


def server_signed(runtime: Runtime, claims: Any, *, header: dict[str, Any] | None = None) -> str:
    """A token signed with the server's real current signing key; `header` overrides members of
    the header the server itself would write (DROP leaves one out)."""
    signing = runtime.tokens.keys.signing_key
    full_header = _without_dropped(
        {"alg": "EdDSA", "typ": "at+jwt", "kid": signing.kid, **(header or {})}
    )
    if isinstance(claims, dict):
        claims = _without_dropped(claims)
    signing_input = f"{segment(full_header)}.{segment(claims)}"
    signature = signing.private_key.sign(signing_input.encode())
    return f"{signing_input}.{b64url(signature)}"


def resigned(runtime: Runtime, person: Person, **changes: Any) -> str:
    """The person's own token with some claims changed (DROP removes one), signed again with the
    server's real key: only the change can make it invalid."""
    return server_signed(runtime, {**claims_of(person.token), **changes})


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """The token with its payload replaced and its original header and signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{segment(claims)}.{signature}"


async def present(http: httpx.AsyncClient, authorization: str | bytes) -> httpx.Response:
    value = authorization if isinstance(authorization, bytes) else authorization.encode("latin-1")
    return await http.post("/graphql", json={"query": VIEWER}, headers={b"authorization": value})


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["message"]
    assert body.get("data") is None


async def assert_accepted(http: httpx.AsyncClient, token: str, person: Person) -> None:
    response = await present(http, f"Bearer {token}")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["id"] == encode_id("User", person.user.id)


async def log_in_through_graphql(http: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    body = await graphql(
        http,
        LOGIN,
        {"input": {"email": person.user.email, "password": PASSWORD, "deviceName": "attacker"}},
    )
    payload: dict[str, Any] = body["data"]["login"]
    assert payload["userErrors"] == []
    return payload


# --- control -----------------------------------------------------------------------------------


async def test_a_token_re_signed_by_hand_with_the_server_key_is_accepted(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a token built by this module's helpers with nothing changed
    person = await world.person()
    token = resigned(runtime, person)
    # when it is presented
    # then the server accepts it: the helpers forge valid tokens, so each refusal below is
    # caused only by the one thing its test changes
    await assert_accepted(http, token, person)


# --- alg: none ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize(
    "signature_part",
    [
        pytest.param(lambda token: ".", id="empty-signature"),
        pytest.param(lambda token: "", id="no-signature-segment"),
        pytest.param(lambda token: "." + token.split(".")[2], id="original-signature"),
    ],
)
async def test_alg_none_is_refused(
    http: httpx.AsyncClient,
    runtime: Runtime,
    world: World,
    alg: str,
    signature_part: Callable[[str], str],
) -> None:
    # given the person's valid claims under an unsigned header, in one spelling of "none"
    person = await world.person()
    header = {**header_of(person.token), "alg": alg}
    unsigned = f"{segment(header)}.{segment(claims_of(person.token))}"
    token = unsigned + signature_part(person.token)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- HS256 with the public key as the HMAC secret ----------------------------------------------


def _public_key_secrets(runtime: Runtime) -> dict[str, bytes]:
    public_key = runtime.tokens.keys.signing_key.private_key.public_key()
    return {
        "raw": public_key.public_bytes(Encoding.Raw, PublicFormat.Raw),
        "pem": public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "jwk-x": b64url(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).encode(),
    }


@pytest.mark.parametrize("secret_form", ["raw", "pem", "jwk-x"])
async def test_hs256_signed_with_the_public_key_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, secret_form: str
) -> None:
    # given the person's valid claims HMAC-signed with the server's public key (algorithm
    # confusion: a verifier that let the token pick its algorithm would accept this)
    person = await world.person()
    secret = _public_key_secrets(runtime)[secret_form]
    header = {**header_of(person.token), "alg": "HS256"}
    signing_input = f"{segment(header)}.{segment(claims_of(person.token))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(signature)}"
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- kid ---------------------------------------------------------------------------------------


def _attacker_signed(header: dict[str, Any], claims: dict[str, Any]) -> str:
    attacker = Ed25519PrivateKey.generate()
    if header.get("kid") is ATTACKER:
        header = {**header, "kid": thumbprint(attacker.public_key())}
    if header.get("jwk") is ATTACKER:
        jwk = jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
        header = {**header, "jwk": jwk}
    signing_input = f"{segment(header)}.{segment(claims)}"
    return f"{signing_input}.{b64url(attacker.sign(signing_input.encode()))}"


@pytest.mark.parametrize(
    "header_changes",
    [
        pytest.param({"kid": ATTACKER}, id="attacker-key-with-its-own-kid"),
        pytest.param({"kid": ATTACKER, "jwk": ATTACKER}, id="attacker-key-embedded-as-jwk"),
        pytest.param(
            {"kid": ATTACKER, "jku": "https://attacker.example/jwks.json"}, id="attacker-jku"
        ),
        pytest.param({}, id="attacker-key-under-the-server-kid"),
    ],
)
async def test_a_token_signed_by_a_key_outside_the_ring_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, header_changes: dict[str, Any]
) -> None:
    # given the person's valid claims signed with a key the server never had
    person = await world.person()
    header = {**header_of(person.token), **header_changes}
    token = _attacker_signed(header, claims_of(person.token))
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


async def test_an_unknown_kid_with_the_real_signature_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a correctly signed token whose kid names no key of the ring
    person = await world.person()
    unknown = thumbprint(Ed25519PrivateKey.generate().public_key())
    token = server_signed(runtime, claims_of(person.token), header={"kid": unknown})
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("../../dev/null", id="path-traversal"),
        pytest.param("/etc/passwd", id="absolute-path"),
        pytest.param("' OR 1=1 --", id="sql-injection"),
        pytest.param("x' UNION SELECT 'secret' --", id="sql-union"),
        pytest.param("k" * 65_536, id="very-long"),
        pytest.param("", id="empty"),
        pytest.param("\u0000", id="nul"),
        pytest.param(42, id="number"),
        pytest.param({"kid": "x"}, id="object"),
        pytest.param(["a", "b"], id="array"),
        pytest.param(None, id="null"),
        pytest.param(True, id="boolean"),
        pytest.param(DROP, id="missing"),
    ],
)
async def test_an_injected_kid_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, kid: Any
) -> None:
    # given the person's valid claims, correctly signed, under a hostile kid
    person = await world.person()
    token = server_signed(runtime, claims_of(person.token), header={"kid": kid})
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


async def test_the_real_kid_with_a_trailing_suffix_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given the real kid followed by a NUL and more text (a truncating lookup would match it)
    person = await world.person()
    kid = runtime.tokens.keys.signing_key.kid
    token = server_signed(runtime, claims_of(person.token), header={"kid": f"{kid}\u0000.pem"})
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- typ ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typ",
    [
        pytest.param(DROP, id="missing"),
        pytest.param("JWT", id="JWT"),
        pytest.param("jwt", id="jwt"),
        pytest.param("refresh+jwt", id="refresh+jwt"),
        pytest.param(None, id="null"),
    ],
)
async def test_a_token_that_is_not_typed_as_an_access_token_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, typ: Any
) -> None:
    # given the person's valid claims, correctly signed, without typ "at+jwt"
    person = await world.person()
    token = server_signed(runtime, claims_of(person.token), header={"typ": typ})
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- lifetime ----------------------------------------------------------------------------------


async def test_an_expired_token_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a token that expired 10 s before it was even issued now, beyond the 5 s leeway
    person = await world.person()
    now = claims_of(person.token)["iat"]
    token = resigned(runtime, person, iat=now - 910, nbf=now - 910, exp=now - 10)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_a_token_from_the_future_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, claim: str
) -> None:
    # given a token valid only from a minute from now (nbf), or issued a minute from now (iat)
    person = await world.person()
    now = claims_of(person.token)["iat"]
    token = resigned(runtime, person, **{claim: now + 60})
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "exp",
    [
        pytest.param("tomorrow", id="string"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(float("nan"), id="nan"),
        pytest.param([4102444800], id="array"),
    ],
)
async def test_an_exp_that_is_not_a_number_of_seconds_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, exp: Any
) -> None:
    # given a correctly signed token whose exp is not a usable timestamp
    person = await world.person()
    token = resigned(runtime, person, exp=exp)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize("exp", [10**20, 2**63], ids=["1e20", "2**63"])
async def test_an_exp_beyond_any_representable_date_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, exp: int
) -> None:
    # given a correctly signed token that claims to live for trillions of years, far beyond the
    # access-token lifetime the server issues and beyond what a datetime can hold
    person = await world.person()
    token = resigned(runtime, person, exp=exp)
    # when
    response = await present(http, f"Bearer {token}")
    # then it is refused cleanly, not a server error
    assert_unauthenticated(response)


# --- required claims, audience, issuer ---------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"])
async def test_a_token_missing_a_required_claim_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, claim: str
) -> None:
    # given the person's token signed again with the real key, with only `claim` left out
    person = await world.person()
    token = resigned(runtime, person, **{claim: DROP})
    assert claim not in claims_of(token)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"])
async def test_a_token_with_a_null_required_claim_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, claim: str
) -> None:
    # given the person's token signed again with the real key, with `claim` set to null
    person = await world.person()
    token = resigned(runtime, person, **{claim: None})
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param("someone-else", id="other-audience"),
        pytest.param(["someone-else"], id="other-audience-in-a-list"),
        pytest.param("fintech-app ", id="trailing-space"),
        pytest.param("FINTECH-APP", id="other-case"),
        pytest.param(42, id="number"),
    ],
)
async def test_a_token_for_another_audience_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, aud: Any
) -> None:
    # given a correctly signed token meant for another service
    person = await world.person()
    assert runtime.settings.jwt_audience == "fintech-app"
    token = resigned(runtime, person, aud=aud)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "iss",
    [
        pytest.param("https://attacker.example", id="other-issuer"),
        pytest.param("fintech-bff ", id="trailing-space"),
        pytest.param("", id="empty"),
        pytest.param(["fintech-bff"], id="array"),
    ],
)
async def test_a_token_from_another_issuer_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, iss: Any
) -> None:
    # given a correctly signed token claiming another issuer
    person = await world.person()
    assert runtime.settings.jwt_issuer == "fintech-bff"
    token = resigned(runtime, person, iss=iss)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- sub and sid -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sub",
    [
        pytest.param("not-a-uuid", id="text"),
        pytest.param("", id="empty"),
        pytest.param("' OR 1=1 --", id="sql-injection"),
        pytest.param(42, id="number"),
        pytest.param({"id": "x"}, id="object"),
    ],
)
async def test_a_sub_that_is_not_a_uuid_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, sub: Any
) -> None:
    # given a correctly signed token for a live session whose sub is not a user id
    person = await world.person()
    token = resigned(runtime, person, sub=sub)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "sid",
    [
        pytest.param("not-a-uuid", id="text"),
        pytest.param("", id="empty"),
        pytest.param("' OR 1=1 --", id="sql-injection"),
        pytest.param(42, id="number"),
        pytest.param({"id": "x"}, id="object"),
        pytest.param(["x"], id="array"),
    ],
)
async def test_a_sid_that_is_not_a_uuid_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World, sid: Any
) -> None:
    # given a correctly signed token of a real user whose sid is not a session id
    person = await world.person()
    token = resigned(runtime, person, sid=sid)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


async def test_a_signed_token_naming_a_session_that_does_not_exist_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a correctly signed token whose sid is a well-formed but unknown session id
    person = await world.person()
    token = resigned(runtime, person, sid=str(uuid.uuid4()))
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


async def test_a_signed_token_pairing_a_session_with_another_user_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a correctly signed token with the victim's sub and the attacker's own live session
    attacker = await world.person()
    victim = await world.person()
    token = resigned(runtime, attacker, sub=str(victim.user.id))
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- tampered payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda claims, other: {**claims, "sub": other["sub"]}, id="sub-of-other-user"),
        pytest.param(lambda claims, other: {**claims, "sid": other["sid"]}, id="sid-of-other"),
        pytest.param(
            lambda claims, other: {**claims, "sub": other["sub"], "sid": other["sid"]},
            id="sub-and-sid-of-other",
        ),
        pytest.param(lambda claims, other: {**claims, "exp": claims["exp"] + 86_400}, id="exp"),
        pytest.param(lambda claims, other: {**claims, "roles": ["ADMIN"]}, id="extra-claim"),
    ],
)
async def test_a_tampered_payload_with_the_original_signature_is_refused(
    http: httpx.AsyncClient,
    world: World,
    tamper: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
) -> None:
    # given the attacker's own valid token, its claims changed, its signature kept
    attacker = await world.person()
    victim = await world.person(Role.ADMIN)
    await assert_accepted(http, attacker.token, attacker)
    claims = tamper(claims_of(attacker.token), claims_of(victim.token))
    token = with_payload(attacker.token, claims)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- garbage and wrong schemes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer garbage", id="garbage"),
        pytest.param("Bearer a.b.c", id="three-garbage-segments"),
        pytest.param("Bearer a.b.c.d.e", id="five-segments"),
        pytest.param("Bearer ..", id="empty-segments"),
        pytest.param("Bearer .", id="one-dot"),
        pytest.param("Bearer " + "A" * 20_000, id="long-garbage"),
        pytest.param("Bearer " + segment({"alg": "EdDSA"}), id="header-only"),
        pytest.param("Bearer " + segment(["alg"]) + ".e30.", id="header-is-an-array"),
        pytest.param("Bearer e30.e30.e30", id="empty-json-objects"),
        pytest.param("Bearer %%%.%%%.%%%", id="not-base64"),
        pytest.param(b"Bearer \xff\xfe\xfd", id="latin-1-bytes"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer ", id="empty-bearer"),
        pytest.param("Bearer    ", id="blank-bearer"),
        pytest.param("", id="empty-header"),
        pytest.param("Basic xyz", id="basic-scheme"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic-credentials"),
        pytest.param("Token abc", id="other-scheme"),
    ],
)
async def test_garbage_and_other_schemes_are_refused(
    http: httpx.AsyncClient, authorization: str | bytes
) -> None:
    # given an Authorization header that holds no access token
    # when
    response = await present(http, authorization)
    # then
    assert_unauthenticated(response)


async def test_a_valid_token_under_the_basic_scheme_is_refused(
    http: httpx.AsyncClient, world: World
) -> None:
    # given a valid access token sent with the wrong scheme
    person = await world.person()
    # when
    response = await present(http, f"Basic {person.token}")
    # then
    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(["sub"], id="array"),
        pytest.param(None, id="null"),
        pytest.param("claims", id="string"),
        pytest.param(42, id="number"),
    ],
)
async def test_a_signed_payload_that_is_not_a_json_object_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, payload: Any
) -> None:
    # given a correctly signed token whose payload is JSON but not an object
    token = server_signed(runtime, payload)
    # when
    response = await present(http, f"Bearer {token}")
    # then
    assert_unauthenticated(response)


# --- refresh tokens and access tokens swapped --------------------------------------------------


async def test_a_refresh_token_presented_as_an_access_token_is_refused(
    http: httpx.AsyncClient, world: World
) -> None:
    # given a refresh token from a GraphQL login
    person = await world.person()
    tokens = await log_in_through_graphql(http, person)
    # when it is sent as a bearer token
    response = await present(http, f"Bearer {tokens['refreshToken']}")
    # then
    assert_unauthenticated(response)
    # and the access token of the same login works (the refusal is about the token's kind)
    assert (await present(http, f"Bearer {tokens['accessToken']}")).status_code == 200


async def test_an_access_token_presented_as_a_refresh_token_is_invalid_refresh_token(
    http: httpx.AsyncClient, world: World
) -> None:
    # given a token pair from a GraphQL login
    person = await world.person()
    tokens = await log_in_through_graphql(http, person)
    # when the access token is traded as if it were the refresh token
    body = await graphql(http, REFRESH, {"input": {"refreshToken": tokens["accessToken"]}})
    # then
    payload = body["data"]["refreshSession"]
    assert payload["accessToken"] is None
    assert payload["refreshToken"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_REFRESH_TOKEN", "refreshToken")
    ]
    # and the session was not harmed: its real refresh token still trades once
    renewed = await graphql(http, REFRESH, {"input": {"refreshToken": tokens["refreshToken"]}})
    assert renewed["data"]["refreshSession"]["userErrors"] == []
    assert renewed["data"]["refreshSession"]["accessToken"]


# --- revoked sessions, deleted and demoted users -----------------------------------------------


async def test_the_token_of_a_logged_out_session_is_refused_at_once(
    http: httpx.AsyncClient, world: World
) -> None:
    # given a session whose access token works (so this process has cached it as live)
    person = await world.person()
    await assert_accepted(http, person.token, person)
    logged_out = await graphql(http, LOGOUT, person=person)
    assert logged_out["data"]["logout"] == {"sessionsEnded": 1, "userErrors": []}
    # when the same, unexpired access token is used again
    response = await present(http, person.headers["authorization"])
    # then
    assert_unauthenticated(response)


async def test_tokens_of_every_session_are_refused_after_logout_everywhere(
    http: httpx.AsyncClient, world: World
) -> None:
    # given two live sessions of one user, both used once
    phone = await world.person()
    laptop = Person(phone.user, (await log_in_through_graphql(http, phone))["accessToken"])
    await assert_accepted(http, phone.token, phone)
    await assert_accepted(http, laptop.token, laptop)
    ended = await graphql(http, LOGOUT_EVERYWHERE, person=phone)
    assert ended["data"]["logoutEverywhere"] == {"sessionsEnded": 2, "userErrors": []}
    # when the other device's token is used
    response = await present(http, laptop.headers["authorization"])
    # then
    assert_unauthenticated(response)


async def _delete_user(runtime: Runtime, person: Person) -> None:
    async with runtime.database.engine.begin() as connection:
        deleted = await connection.execute(
            text("DELETE FROM users WHERE id = :id"), {"id": person.user.id}
        )
    assert deleted.rowcount == 1


async def test_the_token_of_a_deleted_user_is_refused(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a user whose token is validly signed but was never presented to the server yet:
    # ActorResolver has no cached answer for this session, so the next request must look the
    # session up in the database (deterministic, no dependence on the 1 s cache TTL)
    person = await world.person()
    assert runtime.tokens.verify(person.token).user_id == person.user.id
    # and the user row is deleted (its sessions go with it by ON DELETE CASCADE)
    await _delete_user(runtime, person)
    # when the token is used
    response = await present(http, person.headers["authorization"])
    # then
    assert_unauthenticated(response)


async def test_the_token_of_a_deleted_user_is_refused_once_the_cached_answer_is_gone(
    http: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a user whose token was already used (this process cached "session live")
    person = await world.person()
    await assert_accepted(http, person.token, person)
    # and the user row is deleted behind the server's back, in SQL
    await _delete_user(runtime, person)
    # and the cached answer is dropped, as BFF_SESSION_CACHE_TTL_S (at most 1 s) would drop it
    # in every process: `forget_user` makes the test deterministic without sleeping on the TTL
    runtime.actors.forget_user(person.user.id)
    # when the token is used
    response = await present(http, person.headers["authorization"])
    # then
    assert_unauthenticated(response)


async def test_a_demoted_admin_cannot_assign_roles_on_the_next_request(
    http: httpx.AsyncClient, world: World
) -> None:
    # given two admins and a customer; the second admin has just used the admin role (so this
    # process has cached the second admin's actor with ADMIN)
    first_admin = await world.person(Role.ADMIN)
    second_admin = await world.person(Role.ADMIN, Role.CUSTOMER)
    customer = await world.person()
    customer_id = encode_id("User", customer.user.id)
    granted = await graphql(
        http, ASSIGN_ROLE, {"input": {"userId": customer_id, "role": "SUPPORT"}}, second_admin
    )
    assert granted["data"]["assignRole"]["userErrors"] == []
    # and the first admin takes the admin role away from the second
    second_admin_id = encode_id("User", second_admin.user.id)
    revoked = await graphql(
        http, REVOKE_ROLE, {"input": {"userId": second_admin_id, "role": "ADMIN"}}, first_admin
    )
    assert revoked["data"]["revokeRole"]["userErrors"] == []
    assert revoked["data"]["revokeRole"]["user"]["roles"] == ["CUSTOMER"]
    # when the demoted user, with the same access token, tries to assign a role
    body = await graphql(
        http, ASSIGN_ROLE, {"input": {"userId": customer_id, "role": "AUDITOR"}}, second_admin
    )
    # then
    payload = body["data"]["assignRole"]
    assert payload["user"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["PERMISSION_DENIED"]
    # and the token still authenticates, now with the reduced roles
    viewer = await graphql(http, VIEWER, person=second_admin)
    assert viewer["data"]["viewer"]["roles"] == ["CUSTOMER"]
