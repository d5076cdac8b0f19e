"""The Strawberry ASGI view, configured for the app: context per request, GraphiQL in development
(on the server's own copies of its assets), only the graphql-transport-ws subprotocol, queries
(never mutations) over GET."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from bff.api.context import Context
from bff.api.graphiql import graphiql_page
from bff.api.request_body import (
    BAD_REQUEST,
    OPERATION_NAME_REQUIRED,
    OPERATION_NOT_SUPPORTED,
    RequestRefused,
    check_value,
    decode_body,
    require_object,
)
from bff.api.ws_refusal import Refused, TransportWSHandler
from bff.auth.tokens import InvalidToken
from bff.runtime import Runtime

# Close reasons of a refused connection_init, for the app to show or log (4403 each time).
NO_BEARER_REASON = (
    'Unauthenticated: connection_init must carry {"authorization": "Bearer <access token>"}'
)
BAD_BEARER_REASON = (
    "Unauthenticated: the access token is invalid or expired; refresh it and reconnect"
)
ENDED_SESSION_REASON = "Unauthenticated: the session has ended; log in again"


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, schema: strawberry.Schema, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if not settings.is_production else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_s),
            # The edge checks Origin exactly first (bff/edge/websocket_origin.py); Strawberry's own
            # check, which lets another scheme on the same host pass, stays as a second line.
            allowed_origins=sorted(settings.browser_origins),
        )
        self.max_subscriptions_per_connection = settings.ws_max_subscriptions
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers a refused HTTP request in plain text; here it is a GraphQL error
        with a stable code, in the GraphQL-over-HTTP shape."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as refusal:
            response = _refusal_response(refusal)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        return decode_body(data)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "GET":
            # Query parameters decode to str, so nothing but surrogates can be wrong with them.
            check_value(dict(request.query_params))
        else:
            require_object(self.parse_json(await request.get_body()))
        return await super().parse_http_body(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page()

    async def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_operation(*args, **kwargs)
        except HTTPException as refusal:
            cause = refusal.__cause__
            if isinstance(cause, CannotGetOperationTypeError):
                raise RequestRefused(400, refusal.reason, OPERATION_NAME_REQUIRED) from cause
            if isinstance(cause, InvalidOperationTypeError):
                raise RequestRefused(
                    refusal.status_code, refusal.reason, OPERATION_NOT_SUPPORTED
                ) from cause
            raise

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """Authenticate a WebSocket from its `connection_init` payload
        (`{"authorization": "Bearer <access token>"}`); anything else closes it with 4403 and a
        reason saying what is wrong."""
        params = context.connection_params
        header = params.get("authorization") if isinstance(params, dict) else None
        scheme, _, token = header.partition(" ") if isinstance(header, str) else ("", "", "")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(NO_BEARER_REASON)
        try:
            claims = self.runtime.tokens.verify(token.strip())
        except InvalidToken:
            raise Refused(BAD_BEARER_REASON) from None
        resolved = await self.runtime.actors.resolve(claims)
        if resolved is None:
            raise Refused(ENDED_SESSION_REASON)
        context.claims = claims
        context.authenticate(resolved[0])
        return UNSET  # type: ignore[no-any-return]

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        state: Any = request.state
        context = Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            runtime=self.runtime,
            actor=getattr(state, "actor", None),
            request_id=getattr(state, "request_id", ""),
            user=getattr(state, "user", None),
        )
        user = context.user
        if user is not None:
            # Authentication already read the user row: `viewer` costs no second query.
            context.loaders.users.prime(user.id, user)
        return context


def _refusal_response(refusal: HTTPException) -> Response:
    code = refusal.code if isinstance(refusal, RequestRefused) else BAD_REQUEST
    body = {"errors": [{"message": refusal.reason, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=refusal.status_code)
