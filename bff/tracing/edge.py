"""The span of a request: continued from the caller's `traceparent` when it sends one, named
by the GraphQL operation once it is known."""

from __future__ import annotations

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from bff import tracing
from bff.edge.asgi import ASGIApp, Message, Receive, Scope, Send, state
from bff.metrics.labels import OPERATION_NAMES


class RequestTracing:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        method = scope.get("method", "WS")
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracing.tracer.start_as_current_span(
            f"{method} {scope['path']}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                request_state = state(scope)
                operation = request_state.get("operation_name")
                if operation:
                    # Span names are grouped on by tracing back ends: bounded like metric labels.
                    label = OPERATION_NAMES.label(operation)
                    span.update_name(f"{method} {scope['path']} {label}")
                    span.set_attribute("graphql.operation.name", label)
                actor = request_state.get("actor")
                if actor is not None:
                    span.set_attribute("enduser.id", str(actor.user_id))
                if status:
                    span.set_attribute("http.response.status_code", status)
                if status >= 500 or (status == 0 and scope["type"] == "http"):
                    span.set_status(Status(StatusCode.ERROR))
