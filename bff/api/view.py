"""The Strawberry ASGI view, configured for the app: context per request, GraphiQL in development
(on the server's own copies of its assets), only the graphql-transport-ws subprotocol, queries
(never mutations) over GET."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import orjson
import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import ASTValidationRule, OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from bff.api.compiled.documents import CompiledDocuments
from bff.api.compiled.http import compiled_response
from bff.api.compiled.pipeline import run_compiled
from bff.api.context import Context, client_address
from bff.api.documents.apq import persisted_queries
from bff.api.documents.registry import TrustedDocuments
from bff.api.documents.resolution import DocumentPolicy, DocumentResolver
from bff.api.graphiql import graphiql_page
from bff.api.live_subscriptions import LiveTransportWSHandler
from bff.api.rate_limits import RATE_LIMITED, refused_unread
from bff.api.request_body import (
    BAD_REQUEST,
    OPERATION_NAME_REQUIRED,
    OPERATION_NOT_SUPPORTED,
    RequestRefused,
    check_value,
    decode_body,
    require_object,
)
from bff.api.responses import graphql_response
from bff.api.validation import DocumentGate
from bff.api.ws_refusal import Refused
from bff.auth.tokens import InvalidToken
from bff.db.repositories.documents import live_documents
from bff.metrics.families import RATE_LIMIT_REFUSALS
from bff.oauth.dpop import InvalidProof
from bff.oauth.resource import DelegatedActors
from bff.runtime import Runtime

# Close reasons of a refused connection_init, for the app to show or log (4403 each time).
NO_BEARER_REASON = (
    'Unauthenticated: connection_init must carry {"authorization": "Bearer <access token>"}'
)
BAD_BEARER_REASON = (
    "Unauthenticated: the access token is invalid or expired; refresh it and reconnect"
)
ENDED_SESSION_REASON = "Unauthenticated: the session has ended; log in again"
BAD_PROOF_REASON = 'Unauthenticated: "dpop" must be a fresh DPoP proof for GET /graphql'
# On a request's sub-response: its Accept header, for `create_response` to answer in.
_ACCEPT = "graphql_accept"


@dataclass
class RequestData(GraphQLRequestData):
    """The request, with the GraphQL-over-HTTP draft's `documentId` Strawberry does not read."""

    document_id: object = None


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = LiveTransportWSHandler

    def __init__(
        self,
        schema: strawberry.Schema,
        runtime: Runtime,
        release: str = "",
        document_rules: Sequence[type[ASTValidationRule]] | None = None,
        delegated: DelegatedActors | None = None,
        gate: DocumentGate | None = None,
    ) -> None:
        """`document_rules`: what documents are validated with, to compile queries (None: every
        operation runs on Strawberry and graphql-core); `gate`: where the compiled path takes
        its documents from (the schema's, so that a request's document is parsed once)."""
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
        # Connected apps' tokens (bff.oauth), on WebSockets as on HTTP.
        self.delegated = delegated
        self.release = release
        self.documents = DocumentResolver(
            DocumentPolicy(
                settings.trusted_documents_only,
                settings.documents_exempt,
                settings.min_versions,
            ),
            TrustedDocuments(partial(live_documents, runtime.database.read_engine)),
            persisted_queries(runtime.redis),
        )
        self.compiled = (
            CompiledDocuments(schema, document_rules, gate)
            if document_rules is not None and gate is not None
            else None
        )
        # Subscriptions compiled the same way, for the lean WebSocket path.
        self.live = (
            CompiledDocuments(schema, document_rules, gate, OperationType.SUBSCRIPTION)
            if document_rules is not None and gate is not None
            else None
        )

    def encode_json(self, data: object) -> str:
        # A str, not bytes: WebSocket messages must go out as text frames.
        return orjson.dumps(data).decode()

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A query whose document is compiled runs compiled; anything else on Strawberry."""
        actor = context.actor
        query = request_data.query = await self.documents.document(
            request_data.query,
            request_data.extensions,
            getattr(request_data, "document_id", None),
            request.headers,
            actor.roles if actor is not None else frozenset(),
        )
        found = (
            self.compiled.plan(
                query, request_data.operation_name, request_data.variables, request.state
            )
            if self.compiled is not None
            and query
            and not getattr(request.state, "compile_tried", False)
            else None
        )
        if found is None:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        assert query is not None
        plan, variables = found
        return await run_compiled(  # type: ignore[return-value]
            plan,
            variables,
            context,
            query,
            request_data.operation_name,
            request_data.variables,
            self.release,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers a refused HTTP request in plain text; here it is a GraphQL error
        with a stable code, in the GraphQL-over-HTTP shape."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        accept = request.headers.get("accept")
        actor = getattr(request.state, "actor", None)
        wait = refused_unread(self.runtime.overdrawn, actor, client_address(request))
        if wait is not None:
            RATE_LIMIT_REFUSALS.labels("unread").inc()
            await _rate_limited_response(accept, wait)(scope, receive, send)
            return
        try:
            response = (
                await compiled_response(
                    request, self.compiled, self.documents, self.get_context, self.release
                )
                if self.compiled is not None
                else None
            ) or await self.run(request)
        except HTTPException as refusal:
            response = _refusal_response(accept, refusal)
        await response(scope, receive, send)

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """The result in the media type the request asked for, with what the operation set on
        its response (a 429 and its Retry-After, cookies)."""
        assert isinstance(response_data, dict)  # batching is off
        accept = getattr(sub_response, _ACCEPT, None)
        response = graphql_response(accept, dict(response_data), sub_response.status_code or 200)
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        setattr(sub_response, _ACCEPT, request.headers.get("accept"))
        return sub_response

    def decode_json(self, data: str | bytes) -> object:
        try:
            return decode_body(data)
        except RequestRefused as refused:
            # Strawberry takes a JSONDecodeError for a malformed WebSocket message (closed 4400);
            # HTTP bodies are decoded, with their own codes, in parse_http_body first.
            raise json.JSONDecodeError(refused.reason, "", 0) from refused

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "GET":
            # Query parameters decode to str, so nothing but surrogates can be wrong with them.
            data: Any = dict(request.query_params)
            check_value(data)
        else:
            data = decode_body(await request.get_body())
            require_object(data)
        parsed = await super().parse_http_body(request)
        assert isinstance(parsed, GraphQLRequestData)  # batching is off
        return RequestData(**vars(parsed), document_id=data.get("documentId"))

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a persisted document asks for its result, not for the IDE.
        params = request.query_params
        named = "extensions" in params or "documentId" in params
        return not named and super().should_render_graphql_ide(request)

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
        if scheme.lower() == "dpop" and self.delegated is not None and token.strip():
            await self._connect_delegated(context, token.strip(), params.get("dpop"))
            return UNSET  # type: ignore[no-any-return]
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
        # Named on the connection's log lines, as HTTP requests are by their bearer token.
        context.request.state.actor = resolved[0]
        return UNSET  # type: ignore[no-any-return]

    async def _connect_delegated(self, context: Context, token: str, proof: object) -> None:
        """A connected app: `{"authorization": "DPoP <token>", "dpop": "<proof>"}`, the proof
        made for `GET /graphql` (the upgrade request)."""
        assert self.delegated is not None
        try:
            found = await self.delegated.connect(token, proof if isinstance(proof, str) else None)
        except InvalidProof:
            raise Refused(BAD_PROOF_REASON) from None
        if found is None:
            raise Refused(BAD_BEARER_REASON)
        actor, context.claims = found
        context.authenticate(actor)
        context.request.state.actor = actor

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


def _rate_limited_response(accept: str | None, wait: int) -> Response:
    message = f"Too many refused or costly documents; retry in {wait} seconds."
    body = {
        "errors": [{"message": message, "extensions": {"code": RATE_LIMITED, "retryAfter": wait}}]
    }
    return graphql_response(accept, body, 429, {"retry-after": str(wait)})


def _refusal_response(accept: str | None, refusal: HTTPException) -> Response:
    code = refusal.code if isinstance(refusal, RequestRefused) else BAD_REQUEST
    body = {"errors": [{"message": refusal.reason, "extensions": {"code": code}}]}
    return graphql_response(accept, body, refusal.status_code)
