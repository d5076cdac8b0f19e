"""The Strawberry ASGI view, configured for the app: context per request, GraphiQL in development,
only the graphql-transport-ws subprotocol, queries (never mutations) over GET."""

from __future__ import annotations

from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from bff.api.context import Context
from bff.runtime import Runtime


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: strawberry.Schema, runtime: Runtime) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if not runtime.settings.is_production else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.runtime = runtime

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
        )
        user = getattr(state, "user", None)
        if user is not None:
            # Authentication already read the user row: `viewer` costs no second query.
            context.loaders.users.prime(user.id, user)
        return context
