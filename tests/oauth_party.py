"""A third-party app for the OAuth tests: authlib's own OAuth 2.0 client (httpx) with
private_key_jwt, plus DPoP proofs signed with a key of its own (joserfc), and a customer who
walks the consent page's forms."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey

from bff.app import create_app
from bff.config import Settings
from bff.domain import delegation
from bff.domain.models import Account
from bff.oauth.dpop import token_hash
from bff.runtime import Runtime
from tests.conftest import PASSWORD, Person, World, runtime_on

BASE = "http://localhost"
ALL_SCOPES = ["accounts:read", "transactions:read", "transfers:write"]
REDIRECT_URI = "https://app.example.com/callback"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ACCOUNT = re.compile(r'name="account" value="([^"]+)"')


def public_jwks(key: ECKey) -> dict[str, Any]:
    return {"keys": [{**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256"}]}


@dataclass
class Authorization:
    """One authorization request as the app remembers it."""

    state: str
    verifier: str
    request_uri: str


@dataclass
class ThirdParty:
    base_url: str
    client: delegation.Client
    http: AsyncOAuth2Client
    signing_key: ECKey | None
    dpop_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256"))
    nonce: str | None = None

    @property
    def client_id(self) -> str:
        return self.client.id

    def url(self, path: str) -> str:
        return self.base_url + path

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        key: ECKey | None = None,
        nonce: str | None = None,
        jti: str | None = None,
        iat: int | None = None,
    ) -> str:
        """A DPoP proof (RFC 9449) for one request."""
        key = key or self.dpop_key
        claims: dict[str, Any] = {
            "jti": jti or secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": iat if iat is not None else int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = token_hash(access_token)
        if nonce or self.nonce:
            claims["nonce"] = nonce or self.nonce
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
        return jwt.encode(header, claims, key)

    async def _post(self, url: str, **kwargs: Any) -> httpx.Response:
        """A POST outside authlib's token handling (its own auth or none)."""
        response: httpx.Response = await self.http.request(
            "POST", url, withhold_token=True, **kwargs
        )
        return response

    def _remember_nonce(self, response: httpx.Response) -> None:
        if "dpop-nonce" in response.headers:
            self.nonce = response.headers["dpop-nonce"]

    @property
    def auth(self) -> Any:
        method = "private_key_jwt" if self.signing_key is not None else "none"
        return self.http.client_auth(method)

    async def push(
        self, scopes: Sequence[str] = ("accounts:read",), /, *, auth: Any = True, **changes: Any
    ) -> httpx.Response:
        """POST a pushed authorization request; `changes` replace (None: drop) parameters."""
        verifier = secrets.token_urlsafe(48)
        params: dict[str, Any] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": " ".join(scopes),
            "state": secrets.token_urlsafe(16),
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        params.update(changes)
        params = {name: value for name, value in params.items() if value is not None}
        if self.signing_key is None and auth is True:
            params.pop("client_id", None)  # authlib's "none" authentication adds it
        # auth=None: the parameters carry the client's authentication themselves.
        chosen = self.auth if auth is True else httpx.USE_CLIENT_DEFAULT
        response = await self._post(self.url("/oauth/par"), data=params, auth=chosen)
        response.extensions["verifier"] = verifier
        response.extensions["state"] = params.get("state")
        return response

    async def authorize(self, scopes: Sequence[str] = ("accounts:read",)) -> Authorization:
        response = await self.push(scopes)
        assert response.status_code == 201, response.text
        return Authorization(
            response.extensions["state"],
            response.extensions["verifier"],
            response.json()["request_uri"],
        )

    def authorize_url(self, authorization: Authorization) -> str:
        query = urlencode({"client_id": self.client_id, "request_uri": authorization.request_uri})
        return self.url(f"/oauth/authorize?{query}")

    async def token(
        self, params: dict[str, str], proof: str | None = None, *, fresh_nonce: bool = True
    ) -> httpx.Response:
        """POST to the token endpoint with client authentication and a DPoP proof (fetching a
        nonce first, as the server asks)."""
        url = self.url("/oauth/token")
        if fresh_nonce and self.nonce is None:
            await self.fetch_nonce()
        headers = {"dpop": proof or self.proof("POST", url)}
        if self.signing_key is None:
            params = {name: value for name, value in params.items() if name != "client_id"}
        response = await self._post(url, data=params, headers=headers, auth=self.auth)
        self._remember_nonce(response)
        return response

    async def fetch_nonce(self) -> None:
        """Ask the token endpoint for a DPoP nonce (a proof without one is answered with it)."""
        url = self.url("/oauth/token")
        first = await self._post(
            url,
            data={"grant_type": "authorization_code"},
            headers={"dpop": self.proof("POST", url)},
        )
        assert first.json()["error"] == "use_dpop_nonce", first.text
        self._remember_nonce(first)

    async def exchange(self, code: str, authorization: Authorization) -> httpx.Response:
        return await self.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": authorization.verifier,
                "client_id": self.client_id,
            }
        )

    async def graphql(
        self,
        access_token: str,
        query: str,
        variables: dict[str, Any] | None = None,
        proof: str | None = None,
    ) -> httpx.Response:
        url = self.url("/graphql")
        return await self._post(
            url,
            json={"query": query, "variables": variables or {}},
            headers={
                "authorization": f"DPoP {access_token}",
                "dpop": proof or self.proof("POST", url, access_token),
            },
        )


async def register(
    runtime: Runtime,
    http_kwargs: dict[str, Any],
    base_url: str,
    *,
    public: bool = False,
    scopes: Sequence[str] = ALL_SCOPES,
    name: str = "Budget Buddy",
) -> ThirdParty:
    """A client registered through the domain, with authlib's client configured for it."""
    key = None if public else ECKey.generate_key("P-256")
    registration = delegation.ClientRegistration(
        name, [REDIRECT_URI], list(scopes), public_jwks(key) if key else None
    )
    client = await delegation.provision_client(runtime.unit_of_work(), registration)
    http = AsyncOAuth2Client(
        client_id=client.id,
        client_secret=key,
        token_endpoint_auth_method="private_key_jwt" if key else "none",
        base_url=base_url,
        **http_kwargs,
    )
    if key is not None:
        http.register_client_auth_method(PrivateKeyJWT(alg="ES256"))
    return ThirdParty(base_url, client, http, key)


@dataclass
class Customer:
    """A customer walking the consent page's forms with a plain HTTP client (cookies kept)."""

    http: httpx.AsyncClient
    email: str
    password: str

    async def sign_in(self, authorize_url: str) -> httpx.Response:
        page = await self.http.get(authorize_url)
        assert page.status_code == 200, page.text
        fields = _hidden(page.text) | {"step": "sign_in"}
        fields |= {"email": self.email, "password": self.password}
        return await self.http.post("/oauth/authorize", data=fields)

    async def decide(
        self,
        consent: httpx.Response,
        accounts: Sequence[Account],
        decision: str = "approve",
        daily_limit: int = 0,
    ) -> httpx.Response:
        hidden = _hidden(consent.text)
        fields = [(name, value) for name, value in hidden.items() if name != "step"]
        fields += [("step", "decide"), ("decision", decision), ("daily_limit", str(daily_limit))]
        fields += [("account", str(account.id)) for account in accounts]
        return await self.http.post(
            "/oauth/authorize",
            content=urlencode(fields),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

    async def approve(
        self, authorize_url: str, accounts: Sequence[Account], daily_limit: int = 0
    ) -> dict[str, str]:
        """Sign in, approve, and return the redirect's query parameters."""
        consent = await self.sign_in(authorize_url)
        assert consent.status_code == 200, consent.text
        answer = await self.decide(consent, accounts, daily_limit=daily_limit)
        assert answer.status_code == 303, answer.text
        return redirect_params(answer.headers["location"])


def redirect_params(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI, location
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def _hidden(html: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))
    return {
        name: value.replace("&amp;", "&").replace("&quot;", '"') for name, value in fields.items()
    }


def accounts_offered(html: str) -> list[str]:
    return _ACCOUNT.findall(html)


@pytest.fixture(scope="module")
async def oauth_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime whose authorization server is http://localhost (the ASGI clients' base)."""
    async with runtime_on(settings, None, oauth_issuer=BASE) as runtime:
        yield runtime


@pytest.fixture
def app(oauth_runtime: Runtime) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(oauth_runtime))


@pytest.fixture
async def party(oauth_runtime: Runtime, app: httpx.ASGITransport) -> ThirdParty:
    return await register(oauth_runtime, {"transport": app}, BASE)


@pytest.fixture
def oauth_world(oauth_runtime: Runtime) -> World:
    return World(oauth_runtime)


def customer(person: Person, app: httpx.ASGITransport | str) -> Customer:
    """The customer's browser: on the in-process app, or on a server's base URL."""
    http = (
        httpx.AsyncClient(base_url=app)
        if isinstance(app, str)
        else httpx.AsyncClient(transport=app, base_url=BASE)
    )
    return Customer(http, person.user.email, PASSWORD)


@dataclass
class Connected:
    """A customer who connected the app: what the app holds afterwards."""

    person: Person
    shared: Account
    other: Account
    authorization: Authorization
    code: str
    tokens: dict[str, Any]


async def connect(
    party: ThirdParty,
    world: World,
    app: httpx.ASGITransport | str,
    scopes: Sequence[str] = ("accounts:read",),
    daily_limit: int = 0,
    *,
    exchange: bool = True,
) -> Connected:
    """A customer with a funded shared account and another one, who approves `scopes`; the
    app exchanges the code unless told not to."""
    person = await world.person()
    shared = await world.account(person, funds="100.00")
    other = await world.account(person, funds="100.00")
    authorization = await party.authorize(scopes)
    params = await customer(person, app).approve(
        party.authorize_url(authorization), [shared], daily_limit
    )
    tokens: dict[str, Any] = {}
    if exchange:
        answer = await party.exchange(params["code"], authorization)
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
    return Connected(person, shared, other, authorization, params["code"], tokens)
