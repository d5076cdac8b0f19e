"""Refusing a graphql-transport-ws `connection_init` with a close reason the client can show,
a `subscribe` whose document the documents mode does not run (an `error` message with its
code, as over HTTP), and a message that is JSON but not an object (closed 4400 like one that is
not JSON; Strawberry would index it and close with 1011).

Strawberry's ConnectionRejectionError always closes with 4403 and the reason "Forbidden" (its
payload is only read by the legacy graphql-ws protocol). `on_ws_connect` raises Refused instead,
and this handler closes with the same 4403 and the refusal's own reason.
"""

from __future__ import annotations

from typing import Any, cast

from graphql import GraphQLFormattedError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    Message,
    SubscribeMessage,
)

from bff.api.request_body import RequestRefused

FORBIDDEN = 4403
# RFC 6455: a close frame's reason fits in 123 bytes of UTF-8.
MAX_REASON_BYTES = 123


class Refused(Exception):
    """The connection may not be acknowledged; `reason` tells the client why."""

    def __init__(self, reason: str) -> None:
        if len(reason.encode()) > MAX_REASON_BYTES:
            raise ValueError(f"a close reason has at most {MAX_REASON_BYTES} bytes: {reason!r}")
        super().__init__(reason)
        self.reason = reason


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    async def handle_message(self, message: Message) -> None:
        # JSON text decodes to any value: only an object is a graphql-transport-ws message.
        if not isinstance(message, dict):
            await self.handle_invalid_message("WebSocket message must be a JSON object")
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Refused as refusal:
            await self.websocket.close(code=FORBIDDEN, reason=refusal.reason)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        if self.connection_acknowledged and isinstance(payload, dict):
            actor, view = self.context.actor, self.view  # the app's GraphQLView
            try:
                payload["query"] = await cast(Any, view).documents.document(
                    payload.get("query"),
                    payload.get("extensions"),
                    payload.get("documentId"),
                    self.context.request.headers,
                    actor.roles if actor is not None else frozenset(),
                )
            except RequestRefused as refusal:
                error: GraphQLFormattedError = {
                    "message": refusal.reason,
                    "extensions": {"code": refusal.code},
                }
                refused: ErrorMessage = {"id": message["id"], "type": "error", "payload": [error]}
                await self.send_message(refused)
                return
        await super().handle_subscribe(message)
