"""The authorization server's long-lived parts for one process, and how a request gets its
`Exchange` with authlib."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import InvalidRequestError
from starlette.requests import Request

from bff.oauth.access_tokens import DelegatedTokens
from bff.oauth.dpop import Nonces, ProofChecker
from bff.oauth.server import Exchange, FormRequest
from bff.oauth.store import Store
from bff.runtime import Runtime

FORM = "application/x-www-form-urlencoded"
PATHS = {
    "authorization_endpoint": "/oauth/authorize",
    "token_endpoint": "/oauth/token",
    "pushed_authorization_request_endpoint": "/oauth/par",
    "revocation_endpoint": "/oauth/revoke",
    "introspection_endpoint": "/oauth/introspect",
    "jwks_uri": "/.well-known/jwks.json",
}
RESOURCE_PATH = "/graphql"


@dataclass(frozen=True)
class OAuthService:
    issuer: str
    store: Store
    tokens: DelegatedTokens
    nonces: Nonces
    proofs: ProofChecker

    @classmethod
    def of(cls, runtime: Runtime) -> OAuthService:
        settings, keys = runtime.settings, runtime.tokens.keys
        issuer = settings.oauth_issuer_url
        store = Store(runtime.unit_of_work)
        nonces = Nonces(keys)
        return cls(
            issuer=issuer,
            store=store,
            tokens=DelegatedTokens(
                keys, issuer, issuer + RESOURCE_PATH, settings.oauth_access_token_ttl_s
            ),
            nonces=nonces,
            proofs=ProofChecker(nonces, store.first_use_of_jti),
        )

    def url(self, path: str) -> str:
        return self.issuer + path

    def exchange(self, path: str, jkt: str | None = None) -> Exchange:
        return Exchange(
            loop=asyncio.get_running_loop(),
            store=self.store,
            tokens=self.tokens,
            issuer=self.issuer,
            endpoint_url=self.url(path),
            jkt=jkt,
        )


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded body as a dict; a repeated parameter or another content type is
    `invalid_request` (RFC 6749 section 3.1)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM:
        raise InvalidRequestError(f"Send the parameters as {FORM}.")
    try:
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The body is not valid form data.") from None
    params = dict(pairs)
    if len(params) != len(pairs):
        raise InvalidRequestError("A parameter was given more than once.")
    return params


def oauth_request(method: str, url: str, params: dict[str, str], request: Request) -> FormRequest:
    return FormRequest(method, url, params, dict(request.headers))
