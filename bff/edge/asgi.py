"""ASGI type aliases and a helper to answer with JSON from a middleware."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from bff.edge.media_type import negotiate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict Starlette exposes as `request.state`."""
    return scope.setdefault("state", {})  # type: ignore[no-any-return]


async def send_json(
    scope: Scope,
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with `body`, in the media type the request's Accept header asks for."""
    media_type = negotiate(Headers(scope=scope).get("accept"))
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def websocket_denial(send: Send) -> Send:
    """A `send` for an HTTP answer to a WebSocket handshake (the ASGI denial-response extension,
    `"websocket.http.response"` in the scope's extensions): the same messages, renamed."""

    async def deny(message: Message) -> None:
        await send({**message, "type": message["type"].replace("http.", "websocket.http.", 1)})

    return deny


def graphql_error(scope: Scope, message: str, code: str, **extensions: Any) -> dict[str, Any]:
    """A GraphQL-shaped error body for failures outside GraphQL's own execution, carrying the
    request id like every error the error boundary emits."""
    extensions = {"code": code, **extensions, "requestId": state(scope).get("request_id")}
    return {"errors": [{"message": message, "extensions": extensions}]}
