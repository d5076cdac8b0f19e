"""Authentication for HTTP requests: sets `state.actor`, or answers 401.

`Bearer` carries the app's own access tokens. `DPoP` carries a connected app's OAuth access
token, valid only with a fresh proof of its key in the `DPoP` header (RFC 9449).

When the sessions cannot be read, `ServiceUnavailable` goes up to the last-resort layer, which
answers 503: not a 401, since the token may well be valid and the app must not log out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bff.auth.tokens import AccessClaims, InvalidToken, TokenIssuer
from bff.domain.actor import Actor
from bff.domain.models import User
from bff.edge.asgi import ASGIApp, Receive, Scope, Send, graphql_error, send_json, state

ActorResolver = Callable[[AccessClaims], Awaitable[tuple[Actor, User] | None]]
# (access token, DPoP proof, HTTP method) -> the delegated actor, or None; raises `Refusal`.
DelegatedResolver = Callable[[str, str | None, str], Awaitable[Actor | None]]

_CHALLENGE = [(b"www-authenticate", b'Bearer error="invalid_token"')]


class Refusal(Exception):
    """A DPoP-specific refusal: its WWW-Authenticate challenge and extra headers."""

    def __init__(self, error: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.headers = headers or []


class BearerAuthentication:
    """No Authorization header: anonymous. A bad token is refused outright rather than treated as
    anonymous, so a client learns at once that it must log in again."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: TokenIssuer,
        resolve: ActorResolver,
        delegated: DelegatedResolver | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.resolve = resolve
        self.delegated = delegated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        header = headers.get(b"authorization")
        if scope["type"] != "http" or header is None:
            await self.app(scope, receive, send)
            return
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() == "dpop" and self.delegated is not None and token.strip():
            await self._delegated(scope, receive, send, token.strip(), headers.get(b"dpop"))
            return
        resolved = None
        if scheme.lower() == "bearer" and token.strip():
            try:
                resolved = await self.resolve(self.tokens.verify(token.strip()))
            except InvalidToken:
                resolved = None
        if resolved is None:
            await _unauthenticated(scope, send, _CHALLENGE)
            return
        request_state = state(scope)
        request_state["actor"], request_state["user"] = resolved
        await self.app(scope, receive, send)

    async def _delegated(
        self, scope: Scope, receive: Receive, send: Send, token: str, proof: bytes | None
    ) -> None:
        assert self.delegated is not None
        proof_text = proof.decode("latin-1") if proof is not None else None
        try:
            actor = await self.delegated(token, proof_text, scope["method"])
        except Refusal as refusal:
            challenge = f'DPoP error="{refusal.error}", algs="ES256 PS256"'.encode()
            await _unauthenticated(
                scope, send, [(b"www-authenticate", challenge), *refusal.headers]
            )
            return
        if actor is None:
            challenge = b'DPoP error="invalid_token", algs="ES256 PS256"'
            await _unauthenticated(scope, send, [(b"www-authenticate", challenge)])
            return
        # No `user`: responses to connected apps are never served from the response cache.
        state(scope)["actor"] = actor
        await self.app(scope, receive, send)


async def _unauthenticated(scope: Scope, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
    body = graphql_error(scope, "The access token is invalid or expired.", "UNAUTHENTICATED")
    await send_json(scope, send, 401, body, headers)
