"""Third-party access end to end, through the public surface: authlib's OAuth 2.0 client
pushes the request, the customer signs in and approves on the consent page, the app exchanges
the code with private_key_jwt and DPoP, calls /graphql with its DPoP-bound token (seeing only
the shared accounts), refreshes, introspects and revokes."""

from __future__ import annotations

import httpx
from joserfc.jwk import ECKey

from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import PASSWORD, World
from tests.oauth_party import (
    BASE,
    REDIRECT_URI,
    Customer,
    ThirdParty,
    app,
    connect,
    oauth_runtime,
    oauth_world,
    party,
    register,
)

ACCOUNTS = "{ viewer { email accounts { edges { node { id name } } } } }"
__all__ = ["app", "oauth_runtime", "oauth_world", "party"]  # the fixtures used here


async def test_metadata_describes_a_fapi_authorization_server(app: httpx.ASGITransport) -> None:
    # given the server, when a client reads its metadata (RFC 8414)
    async with httpx.AsyncClient(transport=app, base_url=BASE) as http:
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    # then PAR is required, only the code flow with S256 is offered, and iss is returned
    assert metadata["issuer"] == BASE
    assert metadata["pushed_authorization_request_endpoint"] == f"{BASE}/oauth/par"
    assert metadata["require_pushed_authorization_requests"] is True
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["jwks_uri"] == f"{BASE}/.well-known/jwks.json"


async def test_an_app_gets_dpop_bound_access_to_the_shared_accounts_only(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given a customer with two accounts, and an app that pushed its request
    person = await oauth_world.person()
    shared = await oauth_world.account(person, funds="10.00")
    await oauth_world.account(person)
    customer = Customer(
        httpx.AsyncClient(transport=app, base_url=BASE), person.user.email, PASSWORD
    )
    authorization = await party.authorize(["accounts:read", "transactions:read"])
    # when the customer signs in and shares one account
    params = await customer.approve(party.authorize_url(authorization), [shared])
    # then the browser lands on the redirect URI with a code, the state and the issuer
    assert params["state"] == authorization.state
    assert params["iss"] == BASE
    # when the app exchanges the code with authlib's client (private_key_jwt, DPoP)
    await party.fetch_nonce()
    token_url = party.url("/oauth/token")
    tokens = await party.http.fetch_token(
        token_url,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=authorization.verifier,
        headers={"dpop": party.proof("POST", token_url)},
    )
    # then it gets a DPoP-bound token pair
    assert tokens["token_type"] == "DPoP"
    assert tokens["expires_in"] <= 600
    assert set(tokens["scope"].split()) == {"accounts:read", "transactions:read"}
    # when it queries /graphql with the token and a fresh proof
    answer = await party.graphql(tokens["access_token"], ACCOUNTS)
    # then it sees the customer and the shared account only
    assert answer.status_code == 200, answer.text
    viewer = answer.json()["data"]["viewer"]
    assert viewer["email"] == person.user.email
    assert [edge["node"]["id"] for edge in viewer["accounts"]["edges"]] == [
        encode_id("Account", shared.id)
    ]


async def test_refresh_rotates_introspection_answers_and_revocation_ends_access(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an app holding a token pair for a shared account
    person = await oauth_world.person()
    shared = await oauth_world.account(person)
    customer = Customer(
        httpx.AsyncClient(transport=app, base_url=BASE), person.user.email, PASSWORD
    )
    authorization = await party.authorize()
    params = await customer.approve(party.authorize_url(authorization), [shared])
    first = (await party.exchange(params["code"], authorization)).json()
    # when it refreshes with authlib's client
    token_url = party.url("/oauth/token")
    second = await party.http.refresh_token(
        token_url,
        refresh_token=first["refresh_token"],
        headers={"dpop": party.proof("POST", token_url)},
    )
    # then it gets a new pair, with a new refresh token
    assert second["refresh_token"] != first["refresh_token"]
    # when it introspects the new access token (authlib's introspect_token)
    introspected = await party.http.introspect_token(
        party.url("/oauth/introspect"), token=second["access_token"], auth=party.auth
    )
    # then the token is active, for this client, bound to its DPoP key
    body = introspected.json()
    assert body["active"] is True
    assert body["client_id"] == party.client_id
    assert body["cnf"] == {"jkt": party.dpop_key.thumbprint()}
    # when it revokes the refresh token (authlib's revoke_token)
    revoked = await party.http.revoke_token(
        party.url("/oauth/revoke"), token=second["refresh_token"], auth=party.auth
    )
    assert revoked.status_code == 200
    # then the grant's access token stops working, and introspection says inactive
    answer = await party.graphql(second["access_token"], ACCOUNTS)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("DPoP")
    inactive = await party.http.introspect_token(
        party.url("/oauth/introspect"), token=second["access_token"], auth=party.auth
    )
    assert inactive.json() == {"active": False}


async def test_a_public_client_connects_with_pkce_and_dpop_alone(
    oauth_runtime: Runtime, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given a partner's mobile app, registered without keys
    mobile = await register(oauth_runtime, {"transport": app}, BASE, public=True, name="Mobile")
    # when it goes through the whole flow, authenticating with nothing but its client_id
    connected = await connect(mobile, oauth_world, app, ["accounts:read"])
    # then its DPoP-bound token works, and its refresh token only with its own key
    assert (await mobile.graphql(connected.tokens["access_token"], ACCOUNTS)).status_code == 200
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": connected.tokens["refresh_token"],
    }
    url = mobile.url("/oauth/token")
    stolen = await mobile.token(refresh, mobile.proof("POST", url, key=ECKey.generate_key("P-256")))
    assert stolen.json()["error"] == "invalid_grant"
    assert (await mobile.token(refresh)).status_code == 200


async def test_a_confidential_client_cannot_pose_as_a_public_one(party: ThirdParty) -> None:
    # a confidential client's id without its assertion is refused
    answer = await party.push(auth=None)
    assert answer.status_code in (400, 401)
    assert answer.json()["error"] == "invalid_client"
