"""The ASGI layer that counts requests: GraphQL requests over HTTP by operation and outcome,
with their latency, and open WebSocket connections."""

from __future__ import annotations

import time

from bff.edge.asgi import ASGIApp, Message, Receive, Scope, Send, state
from bff.metrics.families import GRAPHQL_DURATION, GRAPHQL_REQUESTS, WEBSOCKETS_OPEN
from bff.metrics.labels import OPERATION_NAMES
from bff.metrics.outcomes import outcome

GRAPHQL_PATH = "/graphql"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            with WEBSOCKETS_OPEN.track_inprogress():
                await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"] != GRAPHQL_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            request_state = state(scope)
            operation = OPERATION_NAMES.label(request_state.get("operation_name"))
            GRAPHQL_REQUESTS.labels(operation, outcome(status, request_state)).inc()
            GRAPHQL_DURATION.labels(operation).observe(time.perf_counter() - started)
