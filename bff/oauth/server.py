"""authlib's authorization server, bridged to the async stack.

authlib's grants, client authentication and endpoints are synchronous: they call
`query_client`, `query_authorization_code`, `save_token` and friends and expect answers. Each
request builds a small `OAuthServer` bound to an `Exchange` (what the request brought: its
endpoint URL and DPoP key), runs authlib's code in a worker thread (`asyncio.to_thread`), and
every storage call from there hops back onto the event loop with `run_coroutine_threadsafe`
and waits for its answer. The event loop never blocks; the thread holds no connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from joserfc.jwk import KeySet

from bff.auth.tokens import InvalidToken
from bff.domain.delegation import SCOPE_WORDS, Client, ClientKind, Grant, GrantRevocation
from bff.domain.ports import CodeUse
from bff.oauth.access_tokens import DelegatedClaims, DelegatedTokens
from bff.oauth.store import Store, new_secret

T = TypeVar("T")
AUTH_METHODS = ["private_key_jwt", "none"]
_CALL_TIMEOUT_S = 30.0


@dataclass
class Answer:
    """An endpoint's answer as authlib makes it; `location` is what RFC 9207's hook edits."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != "location"]
        self.headers.append(("Location", value))


class FormRequest(OAuth2Request):
    """An OAuth2Request over parameters the async handler already read."""

    def __init__(self, method: str, uri: str, params: dict[str, str], headers: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self._params = params
        self.payload = BasicOAuth2Payload(params)

    @property
    def args(self) -> dict[str, str]:
        return self._params if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self._params


@dataclass
class Exchange:
    """One request's context for the synchronous server: where to call the storage, which URL
    was called (an assertion's audience), and the DPoP key the request proved."""

    loop: asyncio.AbstractEventLoop
    store: Store
    tokens: DelegatedTokens
    issuer: str
    endpoint_url: str
    jkt: str | None = None
    # What the consent page decided, for the authorization response.
    consent: Grant | None = None
    pushed_jkt: str | None = None
    refresh_tokens: list[str] = field(default_factory=list)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the event loop from authlib's thread and wait for its answer."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(_CALL_TIMEOUT_S)


async def run_sync(work: Callable[[], T]) -> T:
    """Run authlib's synchronous work in a thread, so the loop keeps serving its calls."""
    return await asyncio.to_thread(work)


class ClientModel(ClientMixin):
    def __init__(self, client: Client) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.id

    def get_default_redirect_uri(self) -> None:
        return None  # the redirect URI is always named, and matched exactly

    def get_allowed_scope(self, scope: str | None) -> str | None:
        requested = set(scope_to_list(scope) or [])
        if not requested or not requested <= self.client.scopes:
            return None
        return str(list_to_scope(sorted(requested)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        expected = "private_key_jwt" if self.client.kind is ClientKind.CONFIDENTIAL else "none"
        return method == expected

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class Subject:
    """The resource owner as authlib sees it: the customer, through one grant."""

    grant: Grant

    def get_user_id(self) -> UUID:
        return self.grant.user_id


class CodeModel(AuthorizationCodeMixin):
    def __init__(self, code: str, use: CodeUse) -> None:
        self.code = code
        self.use = use

    def get_redirect_uri(self) -> str:
        return self.use.redirect_uri

    def get_scope(self) -> str:
        return str(list_to_scope(sorted(self.use.grant.scopes)))


class Credential(TokenMixin):
    """An access or refresh token found for revocation, introspection or refresh."""

    def __init__(
        self,
        grant: Grant,
        *,
        refresh_token: str | None = None,
        claims: DelegatedClaims | None = None,
        used: bool = False,
    ) -> None:
        self.grant = grant
        self.refresh_token = refresh_token
        self.claims = claims
        self.used = used

    def check_client(self, client: ClientModel) -> bool:
        return self.grant.client_id == client.get_client_id()

    def get_scope(self) -> str:
        scopes = self.claims.scopes if self.claims else self.grant.scopes
        return str(list_to_scope(sorted(scopes & self.grant.scopes)))

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        import time

        return self.claims is not None and self.claims.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.grant.revoked_at is not None or self.used

    def get_user(self) -> Subject:
        return Subject(self.grant)


def _exchange(grant: grants.BaseGrant | Any) -> Exchange:
    server: OAuthServer = grant.server
    return server.exchange


class PushedOrCodeChallenge(CodeChallenge):
    """PKCE with S256 only (plain is refused), always required."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def get_authorization_code_challenge(self, authorization_code: CodeModel) -> str:
        return authorization_code.use.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: CodeModel) -> str:
        return "S256"


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        exchange = _exchange(self)
        subject: Subject = request.user
        exchange.call(
            exchange.store.add_code(
                code,
                subject.grant.id,
                request.payload.redirect_uri,
                request.payload.data["code_challenge"],
                exchange.pushed_jkt,
            )
        )

    def query_authorization_code(self, code: str, client: ClientModel) -> CodeModel | None:
        exchange = _exchange(self)
        use = exchange.call(exchange.store.code_for(code, client.get_client_id()))
        if use is None or (use.dpop_jkt is not None and use.dpop_jkt != exchange.jkt):
            return None
        return CodeModel(code, use)

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        """Nothing left to do: `save_token` spent the code in the transaction that stored the
        tokens, so that two concurrent exchanges cannot both succeed."""

    def authenticate_user(self, authorization_code: CodeModel) -> Subject:
        return Subject(authorization_code.use.grant)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Credential | None:
        exchange = _exchange(self)
        assert exchange.jkt is not None
        use = exchange.call(exchange.store.refresh_for(refresh_token, exchange.jkt))
        return Credential(use.grant, refresh_token=refresh_token) if use else None

    def authenticate_user(self, refresh_token: Credential) -> Subject:
        return Subject(refresh_token.grant)

    def revoke_old_credential(self, refresh_token: Credential) -> None:
        """Nothing left to do: `save_token` rotated the token atomically."""


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt (RFC 7523): the assertion's audience is this issuer (FAPI 2.0) or the
    endpoint called; its jti is refused when seen before."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, exchange: Exchange) -> None:
        super().__init__(validate_jti=True, leeway=5)
        self.exchange = exchange

    def get_audiences(self) -> list[str]:
        return [self.exchange.issuer, self.exchange.endpoint_url]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        from datetime import UTC, datetime

        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return False
        until = datetime.fromtimestamp(expires, UTC)
        key = f"assertion:{claims.get('sub')}:{jti}"
        return self.exchange.call(self.exchange.store.first_use_of_jti(key, until))

    def resolve_client_public_key(self, client: ClientModel) -> KeySet:
        return KeySet.import_key_set(client.client.jwks or {"keys": []})  # type: ignore[arg-type]


class AccessTokens(BearerTokenGenerator):
    """RFC 9068 access tokens (see DelegatedTokens) of type DPoP, with opaque refresh tokens."""

    def __init__(self, exchange: Exchange) -> None:
        super().__init__(self._access_token, self._refresh_token, exchange.tokens.ttl_s)
        self.exchange = exchange

    def generate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        token: dict[str, Any] = super().generate(*args, **kwargs)
        token["token_type"] = "DPoP"  # noqa: S105 (RFC 9449's token type)
        return token

    def _access_token(self, client: ClientModel, grant_type: str, user: Subject, scope: str) -> str:
        assert self.exchange.jkt is not None
        return self.exchange.tokens.issue(
            user.grant.user_id, user.grant.id, client.get_client_id(), scope, self.exchange.jkt
        )

    def _refresh_token(self, **_: Any) -> str:
        return new_secret()


def _find_token(exchange: Exchange, token: str) -> Credential | None:
    if token.count(".") == 2:
        try:
            claims = exchange.tokens.verify(token, allow_expired=True)
        except InvalidToken:
            return None
        grant = exchange.call(exchange.store.grant(claims.grant_id))
        return Credential(grant, claims=claims) if grant else None
    use = exchange.call(exchange.store.refresh_token(token))
    return Credential(use.grant, refresh_token=token, used=use.used) if use else None


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking either token of a grant ends the grant, so no token of it lives on."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Credential | None:
        return _find_token(self.server.exchange, token_string)

    def revoke_token(self, token: Credential, request: OAuth2Request) -> None:
        exchange: Exchange = self.server.exchange
        exchange.call(exchange.store.revoke_grant(token.grant.id, GrantRevocation.TOKEN_REVOKED))


class Introspection(IntrospectionEndpoint):
    """RFC 7662, for resource servers: a client learns about its own tokens only."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Credential | None:
        return _find_token(self.server.exchange, token_string)

    def check_permission(
        self, token: Credential, client: ClientModel, request: OAuth2Request
    ) -> bool:
        return bool(token.check_client(client))

    def introspect_token(self, token: Credential) -> dict[str, Any]:
        exchange: Exchange = self.server.exchange
        body: dict[str, Any] = {
            "active": True,
            "client_id": token.grant.client_id,
            "scope": token.get_scope(),
            "sub": str(token.grant.user_id),
            "iss": exchange.issuer,
        }
        if token.claims is not None:
            body |= {
                "token_type": "DPoP",
                "exp": token.claims.expires_at,
                "iat": token.claims.issued_at,
                "aud": exchange.tokens.audience,
                "jti": token.claims.jti,
                "cnf": {"jkt": token.claims.jkt},
            }
        else:
            body["token_type"] = "refresh_token"  # noqa: S105
        return body


class Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class OAuthServer(AuthorizationServer):
    def __init__(self, exchange: Exchange) -> None:
        super().__init__(scopes_supported=list(SCOPE_WORDS))
        self.exchange = exchange
        self.register_client_auth_method("private_key_jwt", PrivateKeyJWT(exchange))
        self.register_grant(CodeGrant, [PushedOrCodeChallenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_token_generator("default", AccessTokens(exchange))
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(lambda server: Issuer(exchange.issuer)(server))

    def query_client(self, client_id: str) -> ClientModel | None:
        if not isinstance(client_id, str):
            return None
        client = self.exchange.call(self.exchange.store.client(client_id))
        return ClientModel(client) if client else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Store what the response hands out, in the transaction that spends the code or the
        old refresh token; a lost race is `invalid_grant` and the tokens are never shown."""
        exchange = self.exchange
        assert exchange.jkt is not None
        subject: Subject = request.user
        fresh = token.get("refresh_token")
        if request.authorization_code is not None:
            code: CodeModel = request.authorization_code
            spent = exchange.call(
                exchange.store.issue_from_code(code.code, subject.grant.id, fresh, exchange.jkt)
            )
        else:
            old: Credential = request.refresh_token
            assert old.refresh_token is not None
            assert fresh is not None
            spent = exchange.call(
                exchange.store.rotate(old.refresh_token, fresh, subject.grant.id, exchange.jkt)
            )
        if not spent:
            raise InvalidGrantError("The grant was already used.")

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
        return Answer(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""
