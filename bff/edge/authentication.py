"""Bearer-token authentication for HTTP requests: sets `state.actor`, or answers 401.

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

_CHALLENGE = [(b"www-authenticate", b'Bearer error="invalid_token"')]


class BearerAuthentication:
    """No Authorization header: anonymous. A bad token is refused outright rather than treated as
    anonymous, so a client learns at once that it must log in again."""

    def __init__(self, app: ASGIApp, tokens: TokenIssuer, resolve: ActorResolver) -> None:
        self.app = app
        self.tokens = tokens
        self.resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = dict(scope.get("headers", [])).get(b"authorization")
        if scope["type"] != "http" or header is None:
            await self.app(scope, receive, send)
            return
        scheme, _, token = header.decode("latin-1").partition(" ")
        resolved = None
        if scheme.lower() == "bearer" and token.strip():
            try:
                resolved = await self.resolve(self.tokens.verify(token.strip()))
            except InvalidToken:
                resolved = None
        if resolved is None:
            body = graphql_error(
                scope, "The access token is invalid or expired.", "UNAUTHENTICATED"
            )
            await send_json(send, 401, body, _CHALLENGE)
            return
        request_state = state(scope)
        request_state["actor"], request_state["user"] = resolved
        await self.app(scope, receive, send)
