"""The RFC 9700 (OAuth 2.0 Security BCP) and FAPI 2.0 attacks: each is refused with the right
error, and leaves nothing changed that the legitimate party would notice (unless the attack
is a replay, which ends the grant on purpose)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx
import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc.jwk import ECKey
from sqlalchemy import text

from bff.runtime import Runtime
from tests.conftest import World
from tests.oauth_party import (
    ALL_SCOPES,
    BASE,
    REDIRECT_URI,
    ThirdParty,
    app,
    connect,
    customer,
    oauth_runtime,
    oauth_world,
    party,
    register,
)

__all__ = ["app", "oauth_runtime", "oauth_world", "party"]  # the fixtures used here
VIEWER = "{ viewer { email } }"


def error_of(response: httpx.Response) -> str:
    return str(response.json()["error"])


async def still_works(party: ThirdParty, access_token: str) -> bool:
    return (await party.graphql(access_token, VIEWER)).status_code == 200


# --- authorization codes -----------------------------------------------------------------------


async def test_a_replayed_code_is_refused_and_revokes_what_it_issued(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an app that exchanged its code
    connected = await connect(party, oauth_world, app)
    assert await still_works(party, connected.tokens["access_token"])
    # when the same code is presented again
    replay = await party.exchange(connected.code, connected.authorization)
    # then it is invalid_grant, and the tokens issued from the code stop working
    assert replay.status_code == 400
    assert error_of(replay) == "invalid_grant"
    assert not await still_works(party, connected.tokens["access_token"])
    refresh = await party.token(
        {"grant_type": "refresh_token", "refresh_token": connected.tokens["refresh_token"]}
    )
    assert error_of(refresh) == "invalid_grant"


async def test_a_code_injected_into_another_client_is_refused_without_side_effect(
    party: ThirdParty,
    oauth_world: World,
    app: httpx.ASGITransport,
    oauth_runtime: Runtime,
) -> None:
    # given a code issued to one app, and a second registered app that got hold of it
    connected = await connect(party, oauth_world, app, exchange=False)
    intruder = await register(oauth_runtime, {"transport": app}, BASE, name="Intruder")
    # when the second app presents it (with the right verifier even)
    stolen = await intruder.exchange(connected.code, connected.authorization)
    # then it is invalid_grant, and the rightful app can still exchange it
    assert error_of(stolen) == "invalid_grant"
    rightful = await party.exchange(connected.code, connected.authorization)
    assert rightful.status_code == 200, rightful.text


async def test_a_code_without_its_verifier_or_with_another_is_refused_without_side_effect(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an issued code
    connected = await connect(party, oauth_world, app, exchange=False)
    base = {"grant_type": "authorization_code", "code": connected.code}
    base["redirect_uri"] = REDIRECT_URI
    # when it is exchanged without a verifier, or with a wrong one
    missing = await party.token(base)
    wrong = await party.token(base | {"code_verifier": "x" * 64})
    # then both are refused, and the code still works with its verifier
    assert error_of(missing) == "invalid_request"
    assert error_of(wrong) == "invalid_grant"
    assert (await party.exchange(connected.code, connected.authorization)).status_code == 200


async def test_a_code_sent_with_another_redirect_uri_is_refused(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    connected = await connect(party, oauth_world, app, exchange=False)
    answer = await party.token(
        {
            "grant_type": "authorization_code",
            "code": connected.code,
            "redirect_uri": REDIRECT_URI + "/other",
            "code_verifier": connected.authorization.verifier,
        }
    )
    assert error_of(answer) == "invalid_grant"


async def test_an_expired_code_is_refused(
    party: ThirdParty,
    oauth_world: World,
    app: httpx.ASGITransport,
    oauth_runtime: Runtime,
) -> None:
    connected = await connect(party, oauth_world, app, exchange=False)
    # codes live 60 s: this one is made older than that
    async with oauth_runtime.database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE oauth_codes SET expires_at = now() - interval '1 second'")
        )
    answer = await party.exchange(connected.code, connected.authorization)
    assert error_of(answer) == "invalid_grant"


# --- the authorization request -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="pkce-plain"),
        pytest.param(
            {"code_challenge": None, "code_challenge_method": None}, "invalid_request", id="no-pkce"
        ),
        pytest.param({"state": None}, "invalid_request", id="no-state"),
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
        pytest.param({"scope": "accounts:read admin"}, "invalid_scope", id="unknown-scope"),
        pytest.param({"redirect_uri": REDIRECT_URI + "/extra"}, "invalid_request", id="path"),
        pytest.param({"redirect_uri": REDIRECT_URI + "?next=evil"}, "invalid_request", id="query"),
        pytest.param({"redirect_uri": REDIRECT_URI + "#frag"}, "invalid_request", id="fragment"),
        pytest.param(
            {"redirect_uri": "https://evil@app.example.com/callback"},
            "invalid_request",
            id="userinfo",
        ),
        pytest.param(
            {"redirect_uri": "https://APP.example.com/callback"}, "invalid_request", id="mixed-case"
        ),
        pytest.param(
            {"redirect_uri": "https://app.example.com.evil.com/callback"},
            "invalid_request",
            id="suffix-host",
        ),
        pytest.param({"redirect_uri": None}, "invalid_request", id="no-redirect-uri"),
    ],
)
async def test_a_bad_pushed_request_is_refused(
    party: ThirdParty, change: dict[str, str | None], error: str
) -> None:
    # when the app pushes a request that breaks a rule, then it gets the error as JSON
    answer = await party.push(**change)
    assert answer.status_code in (400, 401), answer.text
    assert error_of(answer) == error


async def test_a_scope_the_client_was_not_registered_for_is_refused(
    oauth_runtime: Runtime, app: httpx.ASGITransport
) -> None:
    reader = await register(oauth_runtime, {"transport": app}, BASE, scopes=["accounts:read"])
    answer = await reader.push(["accounts:read", "transfers:write"])
    assert error_of(answer) == "invalid_scope"


async def test_an_authorization_request_that_was_not_pushed_is_refused(
    party: ThirdParty, app: httpx.ASGITransport
) -> None:
    # given a classic front-channel request with every parameter in the URL
    query = urlencode(
        {
            "response_type": "code",
            "client_id": party.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "accounts:read",
            "state": "s",
            "code_challenge": create_s256_code_challenge("v" * 64),
            "code_challenge_method": "S256",
        }
    )
    async with httpx.AsyncClient(transport=app, base_url=BASE) as browser:
        page = await browser.get(f"/oauth/authorize?{query}")
    # then it is an error page, never a redirect to the client
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "pushed" in page.text


async def test_an_expired_or_used_request_uri_is_refused(
    party: ThirdParty,
    oauth_world: World,
    app: httpx.ASGITransport,
    oauth_runtime: Runtime,
) -> None:
    # given a pushed request that has expired (they live 90 s)
    authorization = await party.authorize()
    async with oauth_runtime.database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE oauth_requests SET expires_at = now() - interval '1 second'")
        )
    async with httpx.AsyncClient(transport=app, base_url=BASE) as browser:
        expired = await browser.get(party.authorize_url(authorization))
    assert expired.status_code == 400
    assert "expired" in expired.text
    # and given one that was already decided on
    connected = await connect(party, oauth_world, app, exchange=False)
    async with httpx.AsyncClient(transport=app, base_url=BASE) as browser:
        used = await browser.get(party.authorize_url(connected.authorization))
    assert used.status_code == 400


# --- client authentication ---------------------------------------------------------------------


async def test_a_replayed_client_assertion_is_refused(party: ThirdParty) -> None:
    # given one signed assertion, used once
    assert party.signing_key is not None
    assertion = private_key_jwt_sign(
        party.signing_key, party.client_id, f"{BASE}/oauth/par", alg="ES256"
    )
    form = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    first = await party.push(auth=None, **form)
    # when it is sent again, then the client is refused
    second = await party.push(auth=None, **form)
    assert first.status_code == 201, first.text
    assert second.status_code in (400, 401)
    assert error_of(second) == "invalid_client"


async def test_a_client_assertion_for_another_audience_is_refused(party: ThirdParty) -> None:
    assert party.signing_key is not None
    assertion = private_key_jwt_sign(
        party.signing_key, party.client_id, "https://other-server.example/token", alg="ES256"
    )
    answer = await party.push(
        auth=None,
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=assertion,
    )
    assert error_of(answer) == "invalid_client"


async def test_a_client_assertion_signed_by_another_key_is_refused(party: ThirdParty) -> None:
    assertion = private_key_jwt_sign(
        ECKey.generate_key("P-256"), party.client_id, f"{BASE}/oauth/par", alg="ES256"
    )
    answer = await party.push(
        auth=None,
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=assertion,
    )
    assert error_of(answer) == "invalid_client"


# --- DPoP at the resource ----------------------------------------------------------------------


@pytest.fixture
async def held(party: ThirdParty, oauth_world: World, app: httpx.ASGITransport) -> str:
    """An access token the app holds."""
    connected = await connect(party, oauth_world, app)
    return str(connected.tokens["access_token"])


async def test_an_access_token_without_its_proof_is_refused(
    party: ThirdParty, held: str, app: httpx.ASGITransport
) -> None:
    async with httpx.AsyncClient(transport=app, base_url=BASE) as thief:
        as_bearer = await thief.post(
            "/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {held}"}
        )
        no_proof = await thief.post(
            "/graphql", json={"query": VIEWER}, headers={"authorization": f"DPoP {held}"}
        )
    assert as_bearer.status_code == 401
    assert no_proof.status_code == 401
    assert 'error="invalid_dpop_proof"' in no_proof.headers["www-authenticate"]


async def test_a_proof_by_another_key_is_refused(party: ThirdParty, held: str) -> None:
    url = party.url("/graphql")
    proof = party.proof("POST", url, held, key=ECKey.generate_key("P-256"))
    answer = await party.graphql(held, VIEWER, proof=proof)
    assert answer.status_code == 401
    assert 'error="invalid_dpop_proof"' in answer.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/oauth/token", id="another-url"),
        pytest.param("GET", "/graphql", id="another-method"),
    ],
)
async def test_a_proof_for_another_request_is_refused(
    party: ThirdParty, held: str, method: str, path: str
) -> None:
    answer = await party.graphql(held, VIEWER, proof=party.proof(method, party.url(path), held))
    assert answer.status_code == 401


async def test_a_proof_for_another_token_or_a_stale_one_is_refused(
    party: ThirdParty, held: str
) -> None:
    url = party.url("/graphql")
    other_token = await party.graphql(held, VIEWER, proof=party.proof("POST", url, "other"))
    stale = await party.graphql(
        held, VIEWER, proof=party.proof("POST", url, held, iat=int(time.time()) - 600)
    )
    assert other_token.status_code == 401
    assert stale.status_code == 401


async def test_a_replayed_proof_is_refused(party: ThirdParty, held: str) -> None:
    proof = party.proof("POST", party.url("/graphql"), held)
    first = await party.graphql(held, VIEWER, proof=proof)
    replay = await party.graphql(held, VIEWER, proof=proof)
    assert first.status_code == 200
    assert replay.status_code == 401
    assert 'error="invalid_dpop_proof"' in replay.headers["www-authenticate"]


async def test_a_stale_nonce_is_answered_with_a_fresh_one(party: ThirdParty, held: str) -> None:
    proof = party.proof("POST", party.url("/graphql"), held, nonce="not-a-nonce-of-this-server")
    answer = await party.graphql(held, VIEWER, proof=proof)
    assert answer.status_code == 401
    assert 'error="use_dpop_nonce"' in answer.headers["www-authenticate"]
    retried = await party.graphql(
        held,
        VIEWER,
        proof=party.proof("POST", party.url("/graphql"), held, nonce=answer.headers["dpop-nonce"]),
    )
    assert retried.status_code == 200


async def test_the_token_endpoint_refuses_a_missing_or_foreign_proof(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    connected = await connect(party, oauth_world, app)
    refresh = {"grant_type": "refresh_token", "refresh_token": connected.tokens["refresh_token"]}
    url = party.url("/oauth/token")
    # when the refresh token is sent with no proof, or with a proof of another key
    without = await party._post(url, data=refresh, auth=party.auth)
    foreign = await party.token(refresh, party.proof("POST", url, key=ECKey.generate_key("P-256")))
    # then both are refused, and the refresh token still works with the app's key
    assert error_of(without) == "invalid_dpop_proof"
    assert error_of(foreign) == "invalid_grant"
    assert (await party.token(refresh)).status_code == 200


# --- refresh tokens ----------------------------------------------------------------------------


async def test_a_refresh_token_used_twice_ends_the_grant(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an app that refreshed once
    connected = await connect(party, oauth_world, app)
    refresh = {"grant_type": "refresh_token", "refresh_token": connected.tokens["refresh_token"]}
    renewed = (await party.token(refresh)).json()
    # when the spent refresh token is presented again
    reuse = await party.token(refresh)
    # then it is refused, and every token of the grant stops working
    assert error_of(reuse) == "invalid_grant"
    assert not await still_works(party, renewed["access_token"])
    again = await party.token(
        {"grant_type": "refresh_token", "refresh_token": renewed["refresh_token"]}
    )
    assert error_of(again) == "invalid_grant"


# --- the consent page --------------------------------------------------------------------------


async def test_the_consent_page_refuses_framing_scripts_and_forged_posts(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    person = await oauth_world.person()
    authorization = await party.authorize(ALL_SCOPES)
    browser = customer(person, app)
    page = await browser.http.get(party.authorize_url(authorization))
    # then it may not be framed and runs no script
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy
    assert "default-src 'none'" in policy
    assert "<script" not in page.text
    # when a form is posted without the CSRF cookie (from another site), it is refused
    async with httpx.AsyncClient(transport=app, base_url=BASE) as forger:
        forged = await forger.post(
            "/oauth/authorize",
            data={
                "client_id": party.client_id,
                "request_uri": authorization.request_uri,
                "csrf": "guess",
                "step": "sign_in",
                "email": person.user.email,
                "password": "whatever",
            },
        )
    assert forged.status_code == 403
    # and a post whose Origin is another site is refused even with the cookie
    cross = await browser.http.post(
        "/oauth/authorize",
        data={"client_id": party.client_id, "request_uri": authorization.request_uri},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 403


async def test_consent_sign_in_is_throttled_like_login(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given a customer whose password someone guesses on the consent page
    person = await oauth_world.person()
    authorization = await party.authorize()
    guesser = customer(person, app)
    guesser.password = "wrong password, again and again"
    statuses = [
        (await guesser.sign_in(party.authorize_url(authorization))).status_code for _ in range(5)
    ]
    # then after the free failures the sign-in is throttled (429 with Retry-After)
    assert statuses[:3] == [401, 401, 401]
    assert 429 in statuses[3:]


async def test_a_consent_sign_in_left_behind_ends_within_minutes(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport, oauth_runtime: Runtime
) -> None:
    # given a customer who signs in on the consent page, then walks away without deciding
    person = await oauth_world.person()
    authorization = await party.authorize()
    page = await customer(person, app).sign_in(party.authorize_url(authorization))
    assert page.status_code == 200
    # then the session the sign-in opened ends within ten minutes, not with an app session's
    # lifetime (a shared computer's next user finds nothing signed in for long)
    async with oauth_runtime.database.engine.connect() as connection:
        lifetime = (
            await connection.execute(
                text(
                    "SELECT expires_at - created_at FROM sessions WHERE user_id = :user_id"
                    " ORDER BY created_at DESC LIMIT 1"
                ),
                {"user_id": person.user.id},
            )
        ).scalar_one()
    assert lifetime.total_seconds() < 610  # the row's created_at is the database's clock
    assert oauth_runtime.settings.session_policy.max_lifetime.total_seconds() > 600
